/**
 * The dashboard's security in a real browser against a real server: sign-in (typed token and
 * one-time code), secrets kept out of URLs and logs, roles (reader, observer), the WebSocket
 * bearer subprotocol, escaping of what sessions hold (HTML in names and tasks, OSC 52 in terminal
 * output), and a session deleted under an open page.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import type { Browser, Page } from "playwright-core";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { writeRedirectPage } from "../../src/cli/open-browser.js";
import { type BrowserServer, type PageGlobals, type PageRecord, axeCheck, browserSkipReason, launchBrowser, newPage, signIn, startBrowserServer } from "./harness.js";

const READER_TOKEN = "reader-token-for-the-dashboard-0123456789";
const AGENT_TOKEN = "agent-token-a1-for-the-dashboard-0123456789";

const skip = browserSkipReason();

describe.skipIf(skip !== undefined)("the dashboard's security", () => {
  let browser: Browser;
  let server: BrowserServer;
  const pages: PageRecord[] = [];
  /** The server's clock for login codes and dashboard tokens: a test moves it to expire them. */
  let now = Date.now();

  beforeAll(async () => {
    [browser, server] = await Promise.all([
      launchBrowser(),
      startBrowserServer(
        {
          enableSessions: true,
          tokens: [
            { token: READER_TOKEN, role: "reader", name: "watcher" },
            { token: AGENT_TOKEN, role: "agent", agent_id: "a1", name: "agent-a1" },
          ],
        },
        { clock: () => now },
      ),
    ]);
  });
  afterEach(async () => {
    await Promise.all(pages.splice(0).map((p) => p.context.close()));
  });
  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  async function open(): Promise<PageRecord> {
    const record = await newPage(browser);
    pages.push(record);
    return record;
  }

  /** A code made by `token` over HTTP, as `sessiond ui --url … --token …` asks for it. */
  async function loginLink(token: string): Promise<{ code: string; url: string }> {
    const res = await fetch(`${server.baseUrl}/ui/login-codes`, { method: "POST", headers: { authorization: `Bearer ${token}` } });
    expect(res.status).toBe(201);
    return (await res.json()) as { code: string; url: string };
  }

  /** A fetch from inside the page with the tab's stored token, as the app's own calls are made. */
  function fetchAsPage(page: Page, method: string, path: string, body?: unknown): Promise<number> {
    return page.evaluate(
      async ({ method, path, body }) => {
        const token = (globalThis as unknown as PageGlobals).sessionStorage.getItem("sessiond.token");
        const res = await fetch(path, {
          method,
          headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
          ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        });
        return res.status;
      },
      { method, path, body },
    );
  }

  /** The text the terminal shows (xterm's rows). */
  const terminalText = (page: Page) => page.getByRole("region", { name: "Terminal" }).locator(".xterm-rows").innerText();

  /** Types into the terminal as a person would: focus it, then keys. */
  async function typeInTerminal(page: Page, text: string): Promise<void> {
    await page.getByRole("region", { name: "Terminal" }).locator(".xterm-screen").click();
    await page.keyboard.type(text);
  }

  it("signs in with a typed token, and a wrong token shows an error and stays on the form", async () => {
    const { page } = await open();
    await page.goto(server.uiUrl);
    await axeCheck(page);
    await page.getByLabel("Token").fill("not-the-token-0123456789-abcdefghijk");
    await page.getByRole("button", { name: "Sign in" }).click();
    await expect.poll(() => page.getByRole("alert").innerText()).toMatch(/not valid|token/i);
    expect(await page.getByRole("button", { name: "Sign in" }).count()).toBe(1);
    expect(await page.evaluate(() => (globalThis as unknown as PageGlobals).sessionStorage.getItem("sessiond.token"))).toBeNull();

    await signIn(page, server, server.token);
    expect(await page.evaluate(() => (globalThis as unknown as PageGlobals).sessionStorage.getItem("sessiond.token"))).toBe(server.token);
  });

  it("signs in with a one-time link, takes the code off the address bar, and refuses the link the second time", async () => {
    const link = await loginLink(server.token);
    expect(link.url).toBe(`${server.uiUrl}#code=${link.code}`);
    const first = await open();
    await first.page.goto(link.url);
    await expect.poll(() => first.page.getByRole("link", { name: "Sessions" }).count()).toBeGreaterThan(0);
    expect(first.page.url()).not.toContain(link.code);
    const token = await first.page.evaluate(() => (globalThis as unknown as PageGlobals).sessionStorage.getItem("sessiond.token"));
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    // A token of its own: the admin token never reaches the browser.
    expect(token).not.toBe(server.token);

    const second = await open();
    await second.page.goto(link.url);
    await expect.poll(() => second.page.getByRole("alert").innerText()).toMatch(/code|sign in|not valid/i);
    expect(await second.page.getByRole("button", { name: "Sign in" }).count()).toBe(1);
  });

  it("signs in through the local page `sessiond ui --open` hands the browser, which redirects to the link", async () => {
    const link = await loginLink(server.token);
    const dir = mkdtempSync(join(tmpdir(), "sessiond-open-page-"));
    try {
      const file = writeRedirectPage(link.url, dir);
      const { page } = await open();
      await page.goto(pathToFileURL(file).href);
      await expect.poll(() => page.getByRole("link", { name: "Sessions" }).count()).toBeGreaterThan(0);
      expect(page.url().startsWith(server.uiUrl)).toBe(true);
      expect(page.url()).not.toContain(link.code);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("refuses an expired login link, and signs a page out with the reason when its dashboard token expires", async () => {
    const late = await loginLink(server.token);
    now += server.config.uiLoginCodeTtlMs + 1;
    const refused = await open();
    await refused.page.goto(late.url);
    await expect.poll(() => refused.page.getByRole("alert").innerText(), { message: "the expired link's refusal" }).toMatch(/code|not valid/i);
    expect(await refused.page.getByRole("button", { name: "Sign in" }).count()).toBe(1);

    await server.client().sessions.createSession({ name: "seen-before-expiry" });
    const link = await loginLink(server.token);
    const { page } = await open();
    await page.goto(link.url);
    await expect.poll(() => page.getByRole("table", { name: "Sessions" }).getByRole("link", { name: "seen-before-expiry" }).count(), { message: "the list, signed in by the link" }).toBe(1);
    now += server.config.uiSessionTtlMs + 1;
    // The next thing the page asks for is refused: the page says why and asks for a token again.
    // That may be a request of its own (the list's counts, its feed) before the click lands, which
    // takes the link away: the same outcome, so a click that finds no link is no failure.
    await page
      .getByRole("link", { name: "Stats" })
      .click({ timeout: 5_000 })
      .catch(() => undefined);
    await expect.poll(() => page.getByRole("button", { name: "Sign in" }).count(), { message: "the sign-in form once the token expired" }).toBe(1);
    expect(await page.getByRole("alert").innerText()).toMatch(/sign in again|no longer|expired|not valid/i);
    expect(await page.evaluate(() => (globalThis as unknown as PageGlobals).sessionStorage.getItem("sessiond.token"))).toBeNull();
  });

  it("puts no token and no login code in any URL the page asks for, nor in the server's log", async () => {
    const shell = await server.client().sessions.createSession({ kind: "shell", name: "secrets-shell" });
    const typed = await open();
    await signIn(typed.page, server, server.token);
    await typed.page.goto(`${server.uiUrl}sessions/${shell.id}`);
    await expect.poll(() => typed.page.getByRole("region", { name: "Terminal" }).getByRole("status").innerText()).toMatch(/driver|observer/);

    const link = await loginLink(server.token);
    const linked = await open();
    await linked.page.goto(link.url);
    await expect.poll(() => linked.page.getByRole("link", { name: "Sessions" }).count()).toBeGreaterThan(0);
    const uiToken = (await linked.page.evaluate(() => (globalThis as unknown as PageGlobals).sessionStorage.getItem("sessiond.token")))!;
    await linked.page.goto(`${server.uiUrl}sessions/${shell.id}`);
    await expect.poll(() => linked.page.getByRole("region", { name: "Terminal" }).getByRole("status").innerText()).toMatch(/driver|observer/);

    const requested = [...typed.urls, ...linked.urls].filter((u) => !u.includes("#code="));
    expect(requested.length).toBeGreaterThan(5);
    for (const secret of [server.token, uiToken, link.code]) {
      for (const url of requested) expect(url).not.toContain(secret);
      expect(server.log()).not.toContain(secret);
    }
    // Only the navigation the test made itself carried the code, in the fragment the browser never sends.
    expect(linked.urls.filter((u) => u.includes(link.code)).every((u) => u.includes(`#code=${link.code}`))).toBe(true);
    expect(server.log()).toContain("/ui/login");
  });

  it("opens a shell's terminal with the token as a WebSocket subprotocol, runs what is typed, and a wrong token's socket is refused", async () => {
    const shell = await server.client().sessions.createSession({ kind: "shell", name: "typing-shell" });
    const { page } = await open();
    await signIn(page, server, server.token);
    await page.goto(`${server.uiUrl}sessions/${shell.id}`);
    await expect.poll(() => page.getByRole("region", { name: "Terminal" }).getByRole("status").innerText()).toMatch(/You are the driver/);
    await typeInTerminal(page, "echo hi-from-$((40+2))\n");
    await expect.poll(() => terminalText(page)).toContain("hi-from-42");

    const refused = await page.evaluate(
      (url) =>
        new Promise<{ opened: boolean; code: number }>((resolve) => {
          const bytes = new TextEncoder().encode("a-wrong-token-0123456789-abcdefghijklmn");
          const encoded = btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
          const socket = new WebSocket(url, ["sessiond", `sessiond.bearer.${encoded}`]);
          let opened = false;
          socket.onopen = () => (opened = true);
          socket.onclose = (event) => resolve({ opened, code: event.code });
        }),
      `${server.baseUrl.replace(/^http/, "ws")}/sessions/${shell.id}/attach`,
    );
    expect(refused).toEqual({ opened: false, code: 1006 });
    expect(server.log()).toMatch(/"status":401/);
  });

  it("shows a reader no admin buttons, and answers 403 when a reader's page POSTs", async () => {
    await server.client().sessions.createSession({ name: "read-only-row", task: "look, do not touch" });
    const { page } = await open();
    await signIn(page, server, READER_TOKEN);
    await expect.poll(() => page.getByRole("table", { name: "Sessions" }).getByRole("link", { name: "read-only-row" }).count()).toBe(1);
    await axeCheck(page);
    for (const name of ["Pause", "Complete", "Delete"]) expect(await page.getByRole("button", { name, exact: true }).count()).toBe(0);
    expect(await fetchAsPage(page, "POST", "/sessions/", { name: "written-by-a-reader" })).toBe(403);
    expect(await fetchAsPage(page, "POST", "/sessions/read-only-row/pause")).toBe(403);
    expect(await fetchAsPage(page, "DELETE", "/sessions/read-only-row")).toBe(403);
    expect((await server.client().sessions.getSession("read-only-row")).status).toBe("active");
  });

  it("gives the page of an agent token's link only that agent's sessions", async () => {
    const admin = server.client().sessions;
    await admin.createSession({ name: "a1-own", agent_id: "a1" });
    await admin.createSession({ name: "a2-other", agent_id: "a2" });
    const link = await loginLink(AGENT_TOKEN);
    const { page } = await open();
    await page.goto(link.url);
    const table = page.getByRole("table", { name: "Sessions" });
    await expect.poll(() => table.getByRole("link", { name: "a1-own" }).count()).toBe(1);
    expect(await table.getByRole("link", { name: "a2-other" }).count()).toBe(0);
  });

  it("lets an observer watch a terminal but not type in it", async () => {
    const shell = await server.client().sessions.createSession({ kind: "shell", name: "observed-shell" });
    const driver = await open();
    await signIn(driver.page, server, server.token);
    await driver.page.goto(`${server.uiUrl}sessions/${shell.id}`);
    await expect.poll(() => driver.page.getByRole("region", { name: "Terminal" }).getByRole("status").innerText()).toMatch(/You are the driver/);

    // A second page of the admin joins as an observer: someone drives already.
    const watcher = await open();
    await signIn(watcher.page, server, server.token);
    await watcher.page.goto(`${server.uiUrl}sessions/${shell.id}`);
    await expect.poll(() => watcher.page.getByRole("region", { name: "Terminal" }).getByRole("status").innerText()).toMatch(/You are the observer/);
    await typeInTerminal(watcher.page, "echo typed-by-$((6*7))-observer\n");
    // And what the page would not send, the server refuses: an observer's bytes on its own socket.
    const refusal = await watcher.page.evaluate(
      ({ url, protocol }) =>
        new Promise<string>((resolve) => {
          const socket = new WebSocket(url, ["sessiond", protocol]);
          socket.onmessage = (message) => {
            const frame = typeof message.data === "string" ? (JSON.parse(message.data) as { type: string; message?: string }) : undefined;
            if (frame?.type === "hello") socket.send(new TextEncoder().encode("echo sent-by-$((6*7))-observer\n"));
            if (frame?.type === "error") {
              resolve(frame.message ?? "");
              socket.close();
            }
          };
        }),
      { url: `${server.baseUrl.replace(/^http/, "ws")}/sessions/${shell.id}/attach?role=observer`, protocol: `sessiond.bearer.${Buffer.from(server.token).toString("base64url")}` },
    );
    expect(refusal).toMatch(/observer|driver/i);
    // The driver's line runs after anything the observer's keys could have sent: once its output
    // is there, the observer's would be too, had it reached the shell.
    await typeInTerminal(driver.page, "echo driver-$((6*7))-done\n");
    await expect.poll(() => watcher.page.getByRole("region", { name: "Terminal" }).locator(".xterm-rows").innerText()).toContain("driver-42-done");
    for (const page of [driver.page, watcher.page]) {
      expect(await terminalText(page)).not.toContain("typed-by-42-observer");
      expect(await terminalText(page)).not.toContain("sent-by-42-observer");
    }
  });

  it("shows HTML in a session's name and task as text, and never runs it", async () => {
    const payload = `<img src=x onerror="window.__pwned=1;alert('pwned')">`;
    await server.client().sessions.createSession({ name: "html-in-task", task: payload, labels: { note: payload } });
    const { page, dialogs, pageErrors } = await open();
    await signIn(page, server, server.token);
    const row = page.getByRole("table", { name: "Sessions" }).getByRole("row").filter({ hasText: "html-in-task" });
    await expect.poll(() => row.count()).toBe(1);
    await row.getByRole("link", { name: "html-in-task" }).click();
    await expect.poll(() => page.getByRole("heading", { level: 1 }).innerText()).toBe("html-in-task");
    await expect.poll(() => page.getByText(payload, { exact: false }).count()).toBeGreaterThan(0);
    expect(await page.locator('img[src="x"]').count()).toBe(0);
    expect(await page.evaluate(() => (globalThis as unknown as PageGlobals).__pwned)).toBeUndefined();
    expect(dialogs).toEqual([]);
    expect(pageErrors).toEqual([]);
  });

  it("keeps an OSC 52 sequence printed in a shell away from the clipboard", async () => {
    const shell = await server.client().sessions.createSession({ kind: "shell", name: "osc52-shell" });
    const record = await newPage(browser, { clipboard: true });
    pages.push(record);
    const { page } = record;
    await signIn(page, server, server.token);
    await page.goto(`${server.uiUrl}sessions/${shell.id}`);
    await expect.poll(() => page.getByRole("region", { name: "Terminal" }).getByRole("status").innerText()).toMatch(/You are the driver/);
    await page.evaluate(() => (globalThis as unknown as PageGlobals).navigator.clipboard.writeText("clipboard-before"));
    // OSC 52 "set clipboard" with "stolen" in base64, then a marker once the shell printed it.
    await typeInTerminal(page, "printf '\\033]52;c;c3RvbGVu\\007'; echo osc-$((50+2))-printed\n");
    await expect.poll(() => terminalText(page)).toContain("osc-52-printed");
    expect(await page.evaluate(() => (globalThis as unknown as PageGlobals).navigator.clipboard.readText())).toBe("clipboard-before");
  });

  it("says so clearly when the session of the open page is deleted", async () => {
    const session = await server.client().sessions.createSession({ name: "deleted-under-the-page" });
    const { page } = await open();
    await signIn(page, server, server.token);
    await page.goto(`${server.uiUrl}sessions/${session.id}`);
    await expect.poll(() => page.getByRole("heading", { level: 1 }).innerText()).toBe("deleted-under-the-page");
    await server.client().sessions.deleteSession(session.id);
    await expect.poll(() => page.getByText(/no longer exists|deleted/i).count()).toBeGreaterThan(0);
  });
});
