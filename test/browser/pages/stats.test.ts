/**
 * The stats page in a real browser against a real server: totals and success rate, sessions by
 * status and per agent, the days' chart, and the server's health from /metrics — which an agent
 * token may not read, and the page says so.
 */
import type { Browser, Page } from "playwright-core";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { type BrowserServer, type PageRecord, axeCheck, browserSkipReason, launchBrowser, newPage, signIn, startBrowserServer } from "../harness.js";
import { browserSuite } from "../suite.js";

const AGENT_TOKEN = "agent-token-of-the-stats-page-0123456789";
const skip = browserSkipReason();

describe.skipIf(skip !== undefined)("the stats page", () => {
  let browser: Browser;
  let server: BrowserServer;
  const pages: PageRecord[] = [];

  beforeAll(async () => {
    [browser, server] = await Promise.all([launchBrowser(), startBrowserServer({ tokens: [{ token: AGENT_TOKEN, role: "agent", agent_id: "solo", name: "solo" }] })]);
    const sdk = server.client();
    for (let i = 0; i < 3; i++) await sdk.sessions.createSession({ agent_id: "alpha" }).then((s) => sdk.sessions.complete(s.id));
    await sdk.sessions.createSession({ agent_id: "alpha" }).then((s) => sdk.sessions.fail(s.id, "out of budget"));
    await sdk.sessions.createSession({ agent_id: "beta" });
    await server.client(AGENT_TOKEN).sessions.createSession({});
  });
  afterEach(async () => {
    await Promise.all(pages.splice(0).map((p) => p.context.close()));
  });
  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  async function openStats(token: string): Promise<{ page: Page; record: PageRecord }> {
    const record = await newPage(browser);
    pages.push(record);
    await signIn(record.page, server, token);
    await record.page.getByRole("link", { name: "Stats" }).click();
    await record.page.getByRole("heading", { level: 1, name: "Stats" }).waitFor();
    return { page: record.page, record };
  }

  const chart = (page: Page, title: string) => page.getByRole("img", { name: new RegExp(`^${title}:`) }).getAttribute("aria-label");

  it("shows the totals, the success rate, sessions by status and per agent, and the last days", async () => {
    const { page } = await openStats(server.token);
    const totals = page.getByRole("region", { name: "Totals" });
    await expect.poll(() => totals.textContent()).toContain("Total6");
    // 3 completed of 4 ended (failed, completed): the server's success rate.
    expect(await totals.textContent()).toContain("Success rate75 %");
    expect(await chart(page, "Sessions by status")).toBe("Sessions by status: active 2, paused 0, crashed 0, completed 3, failed 1, timeout 0");
    await expect.poll(() => chart(page, "Sessions per agent")).toBe("Sessions per agent: alpha 4, beta 1, solo 1");
    expect(await chart(page, "Sessions created per day")).toMatch(/: .* 6$/);
    await axeCheck(page);
  });

  it("charts the success rate only on days with ended sessions, with no point at 0 % for the others", async () => {
    const { page } = await openStats(server.token);
    const title = "Success rate of the sessions created each day";
    await expect.poll(() => chart(page, title)).toMatch(/75 %$/);
    const label = (await chart(page, title))!;
    // Every day but today had no session: said so, not 0 %.
    expect(label.match(/no ended sessions/g)).toHaveLength(13);
    expect(label).not.toContain("0 %,");
    const figure = page.locator("figure").filter({ hasText: title });
    expect(await figure.locator("circle").count()).toBe(1);
  });

  it("samples the server's health from /metrics for the admin", async () => {
    const { page } = await openStats(server.token);
    const health = page.getByRole("region", { name: "Server health" });
    await expect.poll(() => health.textContent()).toContain("Requests answered");
    const requests = Number((await health.getByText("Requests answered").locator("xpath=following-sibling::dd").textContent()) ?? "0");
    expect(requests).toBeGreaterThan(0);
  });

  it("counts only an agent token's own sessions, and tells it the server's health is not for it", async () => {
    const { page } = await openStats(AGENT_TOKEN);
    const totals = page.getByRole("region", { name: "Totals" });
    await expect.poll(() => totals.textContent()).toContain("Total1");
    await expect.poll(() => chart(page, "Sessions per agent")).toBe("Sessions per agent: solo 1");
    expect(await page.getByRole("region", { name: "Server health" }).textContent()).toContain("for admin and reader tokens");
  });
});

describe.skipIf(skip !== undefined)("the stats page with long agent names", () => {
  const suite = browserSuite();
  const LONG = "agent-with-a-name-far-too-long-for-the-chart-0123456789abcdefghij";

  it("cuts a long agent name on the right, inside its column, and keeps the whole name in its tooltip", async () => {
    await suite.sdk.sessions.createSession({ agent_id: LONG });
    await suite.sdk.sessions.createSession({ agent_id: "short" });
    const { page } = await suite.open();
    await signIn(page, suite.server, suite.server.token);
    await page.getByRole("link", { name: "Stats" }).click();
    const figure = page.locator("figure").filter({ hasText: "Sessions per agent" });
    await expect.poll(() => figure.locator("text.chart-label").count()).toBe(2);
    const label = figure.locator("text.chart-label").filter({ has: page.locator("title", { hasText: LONG }) });
    expect(await label.count()).toBe(1);
    // The start of the name is shown (not clipped on the left), its end cut with an ellipsis.
    const shown = await label.evaluate((el) => (el as unknown as { childNodes: { nodeType: number; textContent: string }[] }).childNodes[1]!.textContent);
    expect(LONG.startsWith(shown.replace(/…$/, ""))).toBe(true);
    expect(shown.endsWith("…")).toBe(true);
    const svg = (await figure.locator("svg").boundingBox())!;
    const box = (await label.boundingBox())!;
    expect(box.x).toBeGreaterThanOrEqual(svg.x);
    // Never over its bar.
    const bar = (await figure.locator("rect.chart-bar").first().boundingBox())!;
    expect(box.x + box.width).toBeLessThanOrEqual(bar.x + 1);
  });
});
