/**
 * The dashboard across a graceful restart of its server (the same port and data dir; the streams
 * end with `shutting_down`): the list and a session's page reconnect by themselves and show what
 * changed after the restart without a reload, and a page signed in by a `sessiond ui` link (whose
 * token the server kept in memory only) finds out on reconnecting and asks for a sign-in, saying why.
 */
import type { Page } from "playwright-core";
import { describe, expect, it } from "vitest";
import { type PageRecord, browserSkipReason, signIn } from "../harness.js";
import { browserSuite } from "../suite.js";

const skip = browserSkipReason();

describe.skipIf(skip !== undefined)("the dashboard across a server restart", () => {
  const suite = browserSuite();
  let n = 0;
  const unique = (prefix: string) => `${prefix}-${++n}-${Date.now().toString(36)}`;

  /** The list's live status line. */
  const liveStatus = (page: Page) => page.getByRole("region", { name: "Counts" }).getByRole("status").innerText();
  /** The feed requests the page made so far. */
  const feedRequests = (record: PageRecord) => record.urls.filter((url) => new URL(url).pathname === "/feed").length;

  it("follows the list's feed again after a restart and shows a status change made after it, without a reload", async () => {
    const agent = unique("restart-list");
    const session = await suite.sdk.sessions.createSession({ name: unique("survivor"), agent_id: agent });
    const record = await suite.open();
    const { page } = record;
    await signIn(page, suite.server, suite.server.token);
    await page.getByLabel("Agent", { exact: true }).fill(agent);
    await page.getByRole("button", { name: "Apply" }).click();
    const row = page.getByRole("row").filter({ has: page.getByRole("link", { name: session.name, exact: true }) });
    await expect.poll(() => row.count()).toBe(1);
    await expect.poll(() => liveStatus(page)).toBe("Live");
    const before = feedRequests(record);

    await suite.server.restart();
    // The page asks for the feed again by itself (the shutdown's `end` is no final one)…
    await expect.poll(() => feedRequests(record), { timeout: 20_000 }).toBeGreaterThan(before);
    await expect.poll(() => liveStatus(page), { timeout: 20_000 }).toBe("Live");
    // …and a change made on the new server arrives on it.
    await suite.server.client().sessions.pause(session.id, "after the restart");
    await expect.poll(() => row.textContent()).toContain("paused");
  });

  it("follows a session's stream again after a restart, its timeline taking an event recorded after it", async () => {
    const session = await suite.sdk.sessions.createSession({ name: unique("restart-page") });
    const record = await suite.open();
    const { page } = record;
    await signIn(page, suite.server, suite.server.token);
    await page.getByRole("link", { name: session.name, exact: true }).click();
    const timeline = page.getByRole("region", { name: "Timeline" });
    await timeline.getByText(/; live\./).waitFor();

    await suite.server.restart();
    await expect.poll(() => record.urls.filter((url) => url.includes(`/sessions/${session.id}/stream`)).length, { timeout: 20_000 }).toBeGreaterThan(1);
    await timeline.getByText(/; live\./).waitFor({ timeout: 20_000 });
    await suite.server.client().sessions.recordToolCall(session.id, "after_restart_tool", {}, { ok: true }, { duration_ms: 5 });
    await expect.poll(() => page.getByRole("region", { name: "Tool calls" }).getByRole("cell", { name: "after_restart_tool", exact: true }).count()).toBe(1);
  });

  it("asks a page signed in by a sessiond ui link to sign in again after a restart, by itself, saying why", async () => {
    const res = await fetch(`${suite.server.baseUrl}/ui/login-codes`, { method: "POST", headers: { authorization: `Bearer ${suite.server.token}` } });
    expect(res.status).toBe(201);
    const link = (await res.json()) as { url: string };
    const { page } = await suite.open();
    await page.goto(link.url);
    await page.getByRole("table", { name: "Sessions" }).waitFor();
    await expect.poll(() => liveStatus(page)).toBe("Live");

    // Nothing is clicked: the feed's reconnect meets the 401.
    await suite.server.restart();
    await expect.poll(() => page.getByRole("button", { name: "Sign in" }).count(), { timeout: 20_000 }).toBe(1);
    const alert = await page.getByRole("alert").innerText();
    expect(alert).toContain("sessiond ui");
    expect(alert).toMatch(/restarts/);
  });
});
