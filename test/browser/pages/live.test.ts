/**
 * Live sessions on their page in a real browser against a real server: a shell's terminal (a
 * late joiner's scrollback, typing, "Take control" between two pages, a dropped socket resumed by
 * offset with no line twice) and a python session's cells.
 */
import type { Page } from "playwright-core";
import { afterEach, describe, expect, it } from "vitest";
import { axeCheck, browserSkipReason, signIn } from "../harness.js";
import { browserSuite } from "../suite.js";

const skip = browserSkipReason();

describe.skipIf(skip !== undefined)("live sessions on their page", () => {
  const suite = browserSuite({ enableSessions: true });
  /** What the pages logged to their console (a CSP refusal shows there). */
  const consoleLines: string[] = [];
  const sessions: string[] = [];
  let n = 0;
  const unique = (prefix: string) => `${prefix}-${++n}-${Date.now().toString(36)}`;

  afterEach(async () => {
    await Promise.all(sessions.splice(0).map((id) => suite.sdk.sessions.stop(id).catch(() => undefined)));
  });

  async function start(kind: "shell" | "python" | "typescript"): Promise<{ id: string; name: string }> {
    const session = await suite.sdk.sessions.createSession({ kind, name: unique(kind) });
    sessions.push(session.id);
    return session;
  }

  async function openSession(name: string): Promise<Page> {
    const record = await suite.open();
    record.page.on("console", (message) => void consoleLines.push(message.text()));
    await signIn(record.page, suite.server, suite.server.token);
    await record.page.getByRole("link", { name, exact: true }).click();
    await record.page.getByRole("heading", { level: 1, name }).waitFor();
    return record.page;
  }

  /** What the terminal shows (xterm's rows, as text). */
  const screen = (page: Page) => page.getByRole("region", { name: "Terminal" }).locator(".xterm-rows").textContent().then((t) => t ?? "");
  const terminalStatus = (page: Page) => page.getByRole("region", { name: "Terminal" }).getByRole("status").textContent().then((t) => t ?? "");
  const count = (text: string, part: string) => text.split(part).length - 1;

  it("shows a late joiner what the shell printed before, and runs what the driver types", async () => {
    const shell = await start("shell");
    await suite.sdk.sessions.exec(shell.id, "echo early-$((40+2))");
    const page = await openSession(shell.name);
    await expect.poll(() => screen(page)).toContain("early-42");
    await expect.poll(() => terminalStatus(page)).toContain("You are the driver");
    await page.locator(".xterm-helper-textarea").focus();
    await page.keyboard.type("echo typed-$((6*7))\r");
    await expect.poll(() => screen(page)).toContain("typed-42");
    // The terminal's own style elements carry the page's nonce: its policy refused nothing.
    expect(consoleLines.filter((line) => /Content Security Policy/i.test(line))).toEqual([]);
    expect(await page.locator("style:not([nonce])").count()).toBe(0);
    await axeCheck(page);
  });

  it("sizes the shell's terminal to the driver's window, and again when the window changes", async () => {
    const shell = await start("shell");
    const page = await openSession(shell.name);
    await expect.poll(() => terminalStatus(page)).toContain("You are the driver");
    const columns = async (marker: string): Promise<number> => {
      await page.locator(".xterm-helper-textarea").focus();
      await page.keyboard.type(`echo ${marker}=$(tput cols)x\r`);
      let found: RegExpExecArray | null = null;
      await expect.poll(async () => (found = new RegExp(`${marker}=(\\d+)x`).exec(await screen(page))) !== null).toBe(true);
      return Number(found![1]);
    };
    const wide = await columns("wide");
    await page.setViewportSize({ width: 700, height: 800 });
    await expect.poll(() => columns(`narrow${Date.now()}`)).toBeLessThan(wide);
  });

  it("moves the keyboard to the page that takes control, and the other page watches", async () => {
    const shell = await start("shell");
    const first = await openSession(shell.name);
    await expect.poll(() => terminalStatus(first)).toContain("You are the driver");
    // The driver has the keyboard already: nothing to take.
    expect(await first.getByRole("button", { name: "Take control" }).count()).toBe(0);
    const second = await openSession(shell.name);
    await expect.poll(() => terminalStatus(second)).toContain("You are the observer");

    // The observer's keys go nowhere.
    await second.locator(".xterm-helper-textarea").focus();
    await second.keyboard.type("echo from-observer-$((1+1))\r");
    await second.getByRole("button", { name: "Take control" }).click();
    await expect.poll(() => terminalStatus(second)).toContain("You are the driver");
    await expect.poll(() => terminalStatus(first)).toContain("You are the observer");
    await expect.poll(() => first.getByRole("button", { name: "Take control" }).count()).toBe(1);
    await second.locator(".xterm-helper-textarea").focus();
    await second.keyboard.type("echo from-second-$((2+3))\r");
    await expect.poll(() => screen(first)).toContain("from-second-5");
    expect(await screen(first)).not.toContain("from-observer-2");
  });

  it("resumes from the byte it had after its socket drops, showing no line twice", async () => {
    const shell = await start("shell");
    await suite.sdk.sessions.exec(shell.id, "echo once-$((3*3))");
    const page = await openSession(shell.name);
    await expect.poll(() => screen(page)).toContain("once-9");
    await expect.poll(() => terminalStatus(page)).toContain("open");
    const before = count(await screen(page), "once-9");

    // Every WebSocket the server holds is cut, as a network drop would: the page reconnects.
    const sockets = (suite.server.app as unknown as { websocketServer: { clients: Set<{ terminate(): void }> } }).websocketServer.clients;
    expect(sockets.size).toBeGreaterThan(0);
    for (const socket of sockets) socket.terminate();
    await expect.poll(() => terminalStatus(page)).toMatch(/retrying|connecting/);
    await expect.poll(() => terminalStatus(page), { timeout: 20_000 }).toContain("open");

    await suite.sdk.sessions.exec(shell.id, "echo after-$((5*5))");
    await expect.poll(() => screen(page)).toContain("after-25");
    const text = await screen(page);
    expect(count(text, "once-9")).toBe(before);
    expect(count(text, "after-25")).toBe(1);
  });

  it("runs a python cell from the page and shows its output and errors", async () => {
    const python = await start("python");
    const page = await openSession(python.name);
    const cells = page.getByRole("region", { name: "Cells" });
    await cells.getByRole("textbox", { name: "Cell" }).fill("x = 6 * 7\nprint(x)");
    await cells.getByRole("button", { name: "Run" }).click();
    await expect.poll(() => cells.locator("pre.output").allTextContents()).toContain("42\n");
    await cells.getByRole("textbox", { name: "Cell" }).fill("1 / 0");
    await cells.getByRole("button", { name: "Run" }).click();
    await expect.poll(async () => (await cells.locator("pre.stderr").allTextContents()).join("")).toContain("ZeroDivisionError");
    // The input of each cell is kept beside its output.
    expect(await cells.locator("pre.input").allTextContents()).toEqual(["x = 6 * 7\nprint(x)", "1 / 0"]);
    await axeCheck(page);
  });

  it("runs a typescript cell from the page, its state kept for the next one", async () => {
    const ts = await start("typescript");
    const page = await openSession(ts.name);
    const cells = page.getByRole("region", { name: "Cells" });
    await cells.getByRole("textbox", { name: "Cell" }).fill("const xs: number[] = [1, 2, 3];");
    await cells.getByRole("button", { name: "Run" }).click();
    await expect.poll(() => cells.locator("pre.input").count()).toBe(1);
    await cells.getByRole("textbox", { name: "Cell" }).fill("console.log(xs.map((x) => x * 2).join(','))");
    // Ctrl-Enter runs, as in a notebook.
    await cells.getByRole("textbox", { name: "Cell" }).press("Control+Enter");
    await expect.poll(() => cells.locator("pre.output").allTextContents()).toContain("2,4,6\n");
  });
});
