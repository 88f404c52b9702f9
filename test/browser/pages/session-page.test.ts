/**
 * A session's page in a real browser against a real server: the header, a tool call made through
 * the SDK with its duration, the live timeline grouped by iteration and filtered by type, a
 * megabyte event kept collapsed, a checkpoint restored and forked from the page, and the context
 * diff between two checkpoints.
 */
import type { Page } from "playwright-core";
import { describe, expect, it } from "vitest";
import { axeCheck, browserSkipReason, signIn, startBrowserServer } from "../harness.js";
import { browserSuite } from "../suite.js";

const skip = browserSkipReason();

describe.skipIf(skip !== undefined)("a session's page", () => {
  const suite = browserSuite();
  let n = 0;
  const unique = (prefix: string) => `${prefix}-${++n}-${Date.now().toString(36)}`;


  /** Signs in and opens the session's page by its link in the list, as a person would. */
  async function openSession(name: string): Promise<Page> {
    const record = await suite.open();
    await signIn(record.page, suite.server, suite.server.token);
    await record.page.getByRole("link", { name, exact: true }).click();
    await record.page.getByRole("heading", { level: 1, name }).waitFor();
    // Live once the timeline says so: events from then on arrive on the stream.
    await record.page.getByRole("region", { name: "Timeline" }).getByText(/; live\./).waitFor();
    return record.page;
  }

  it("shows the header and a tool call made through the SDK, with its duration and time per tool", async () => {
    const session = await suite.sdk.sessions.createSession({ name: unique("tools"), agent_id: "planner", task: "find the bug", max_iterations: 8 });
    await suite.sdk.sessions.incrementIteration(session.id, { phase: "plan" });
    await suite.sdk.sessions.recordToolCall(session.id, "grep", { q: "TODO" }, { hits: 3 }, { duration_ms: 1500 });
    const page = await openSession(session.name);
    const header = page.locator("header.session-header");
    expect(await header.textContent()).toContain("1 of 8");
    expect(await header.textContent()).toContain("planner");
    expect(await header.textContent()).toContain("active");

    const tools = page.getByRole("region", { name: "Tool calls" });
    await expect.poll(() => tools.getByRole("cell", { name: "grep", exact: true }).count()).toBe(1);
    expect(await tools.textContent()).toContain("1.5 s");
    expect(await tools.getByRole("img").getAttribute("aria-label")).toContain("grep 1.5 s (1 call)");

    // A tool call made while the page is open joins the table and the chart.
    await suite.sdk.sessions.recordToolCall(session.id, "read_file", { path: "a.ts" }, undefined, { duration_ms: 20, error: { name: "ENOENT", message: "no such file" } });
    await expect.poll(() => tools.getByRole("cell", { name: "read_file", exact: true }).count()).toBe(1);
    expect(await tools.textContent()).toContain("error: ENOENT no such file");
    await axeCheck(page);
  });

  it("pauses, resumes and completes the session from its page, offering only the moves its status allows", async () => {
    const session = await suite.sdk.sessions.createSession({ name: unique("lifecycle") });
    const page = await openSession(session.name);
    const controls = page.getByRole("group", { name: "Session status" });
    const names = () => controls.getByRole("button").allTextContents();
    expect(await names()).toEqual(["Pause session", "Complete session"]);
    await controls.getByRole("button", { name: "Pause session" }).click();
    await expect.poll(names).toEqual(["Resume session", "Complete session"]);
    expect((await suite.sdk.sessions.getSession(session.id)).status).toBe("paused");
    await controls.getByRole("button", { name: "Resume session" }).click();
    await expect.poll(names).toEqual(["Pause session", "Complete session"]);
    await controls.getByRole("button", { name: "Complete session" }).click();
    await expect.poll(() => controls.count()).toBe(0);
    expect((await suite.sdk.sessions.getSession(session.id)).status).toBe("completed");
    expect(await page.locator("header.session-header").textContent()).toContain("completed");
  });

  it("adds events live, grouped by iteration, and hides the types unticked", async () => {
    const session = await suite.sdk.sessions.createSession({ name: unique("timeline") });
    const page = await openSession(session.name);
    const timeline = page.getByRole("region", { name: "Timeline" });
    await suite.sdk.sessions.appendEvent(session.id, "note", { text: "before any iteration" });
    await suite.sdk.sessions.incrementIteration(session.id, { phase: "one" });
    await suite.sdk.sessions.appendEvent(session.id, "note", { text: "inside the first" });
    await suite.sdk.sessions.incrementIteration(session.id, { phase: "two" });
    await expect.poll(() => timeline.getByRole("region", { name: "Iteration 2" }).count()).toBe(1);
    expect(await timeline.getByRole("region", { name: "Iteration 1" }).textContent()).toContain("inside the first");
    expect(await timeline.getByRole("region", { name: "Before the first iteration" }).textContent()).toContain("before any iteration");

    await timeline.getByRole("checkbox", { name: "note" }).uncheck();
    expect(await timeline.textContent()).not.toContain("inside the first");
    await timeline.getByRole("checkbox", { name: "note" }).check();
    expect(await timeline.textContent()).toContain("inside the first");
  });

  it("keeps an event of a megabyte collapsed, and shows only its beginning when opened", async () => {
    const session = await suite.sdk.sessions.createSession({ name: unique("big-event") });
    const big = "x".repeat(1024 * 1024);
    await suite.sdk.sessions.appendEvent(session.id, "blob", { big });
    const page = await openSession(session.name);
    const timeline = page.getByRole("region", { name: "Timeline" });
    const summary = timeline.getByText(/Event 2 data: 1\.0 MB of JSON \(collapsed\)/);
    await summary.waitFor();
    expect((await timeline.textContent())!.length).toBeLessThan(50_000);
    await summary.click();
    await timeline.getByText(/Showing the first 20 KB of 1\.0 MB/).waitFor();
    const shown = (await timeline.textContent())!.length;
    expect(shown).toBeGreaterThan(20_000);
    expect(shown).toBeLessThan(60_000);
    expect(await timeline.getByRole("button", { name: "Show all" }).count()).toBe(0);
  });

  it("restores a checkpoint from the page, which changes the context shown", async () => {
    const session = await suite.sdk.sessions.createSession({ name: unique("restore"), context: { step: 1, plan: "draft" } });
    await suite.sdk.sessions.createCheckpoint(session.id, { label: "first-draft" });
    await suite.sdk.sessions.updateSession(session.id, { context_patch: { step: 2, plan: "final" } });
    const page = await openSession(session.name);
    const context = page.getByRole("region", { name: "Context" });
    await expect.poll(() => context.getByLabel("Current context", { exact: true }).textContent()).toContain('"step": 2');

    const checkpoints = page.getByRole("region", { name: "Checkpoints" });
    const row = checkpoints.getByRole("row").filter({ hasText: "first-draft" });
    await row.getByRole("button", { name: "Restore" }).click();
    // Nothing changes until the dialog is confirmed.
    const dialog = page.getByRole("dialog", { name: "Restore checkpoint first-draft?" });
    await dialog.waitFor();
    expect((await suite.sdk.sessions.getSession(session.id)).context).toEqual({ step: 2, plan: "final" });
    await dialog.getByRole("button", { name: "Restore" }).click();
    await checkpoints.getByRole("status").filter({ hasText: "Restored first-draft." }).waitFor();
    await expect.poll(() => context.getByLabel("Current context", { exact: true }).textContent()).toContain('"step": 1');
    expect((await suite.sdk.sessions.getSession(session.id)).context).toEqual({ step: 1, plan: "draft" });
    // The restore is on the timeline too.
    await expect.poll(() => page.getByRole("region", { name: "Timeline" }).getByRole("checkbox", { name: "restore" }).count()).toBe(1);
  });

  it("restores from the checkpoint's place on the timeline as well", async () => {
    const session = await suite.sdk.sessions.createSession({ name: unique("restore-timeline"), context: { phase: "plan" } });
    await suite.sdk.sessions.createCheckpoint(session.id, { label: "planned" });
    await suite.sdk.sessions.updateSession(session.id, { context: { phase: "build" } });
    const page = await openSession(session.name);
    const context = page.getByRole("region", { name: "Context" });
    await expect.poll(() => context.getByLabel("Current context", { exact: true }).textContent()).toContain('"build"');
    await page.getByRole("region", { name: "Timeline" }).getByRole("button", { name: "Restore checkpoint planned" }).click();
    await page.getByRole("dialog", { name: "Restore checkpoint planned?" }).getByRole("button", { name: "Restore" }).click();
    await expect.poll(() => context.getByLabel("Current context", { exact: true }).textContent()).toContain('"plan"');
    expect((await suite.sdk.sessions.getSession(session.id)).context).toEqual({ phase: "plan" });
    await axeCheck(page);
  });

  it("lists what changed in the context between two checkpoints", async () => {
    const session = await suite.sdk.sessions.createSession({ name: unique("diff"), context: { files: ["a.ts"], mode: "plan" } });
    await suite.sdk.sessions.createCheckpoint(session.id, { label: "before" });
    await suite.sdk.sessions.updateSession(session.id, { context_patch: { files: ["a.ts", "b.ts"], mode: null, owner: "ana" } });
    await suite.sdk.sessions.createCheckpoint(session.id, { label: "after" });
    const page = await openSession(session.name);
    const context = page.getByRole("region", { name: "Context" });
    await context.getByLabel("From", { exact: true }).selectOption({ label: "before (event #2)" });
    await context.getByLabel("To", { exact: true }).selectOption({ label: "after (event #4)" });
    const changes = context.getByRole("list", { name: "Context changes" });
    await expect.poll(() => changes.getByRole("listitem").allTextContents()).toEqual([
      expect.stringMatching(/^files\.1 added\s+"b\.ts"$/),
      expect.stringMatching(/^mode removed\s+"plan"$/),
      expect.stringMatching(/^owner added\s+"ana"$/),
    ]);
  });

  it("forks a checkpoint into a new session and opens its page", async () => {
    const session = await suite.sdk.sessions.createSession({ name: unique("fork-src"), context: { idea: "a" } });
    await suite.sdk.sessions.createCheckpoint(session.id, { label: "branch-point" });
    const page = await openSession(session.name);
    await page.getByRole("region", { name: "Checkpoints" }).getByRole("button", { name: "Fork" }).click();
    await page.getByRole("dialog", { name: "Fork checkpoint branch-point?" }).getByRole("button", { name: "Fork" }).click();
    await expect.poll(() => page.url()).not.toContain(session.id);
    const forkId = decodeURIComponent(page.url().split("/sessions/")[1]!);
    const child = await suite.sdk.sessions.getSession(forkId);
    expect(child.parent).toBe(session.id);
    await page.getByRole("heading", { level: 1, name: child.name }).waitFor();
    expect(await page.getByText(`Forked from ${session.id}`).count()).toBe(1);
    // The parent is a link back to its page.
    await page.getByRole("link", { name: session.id }).click();
    await page.getByRole("heading", { level: 1, name: session.name }).waitFor();
  });

  it("wraps a session's long values inside the window: its name, agent, task and labels", async () => {
    const task = `rotate ${"k".repeat(300)} then stop`;
    const session = await suite.sdk.sessions.createSession({
      name: `${unique("long-page")}-${"n".repeat(64)}`.slice(0, 64),
      agent_id: `agent-${"x".repeat(84)}`,
      task,
      labels: { [`k${"l".repeat(60)}`]: "v".repeat(200) },
    });
    await suite.sdk.sessions.createCheckpoint(session.id, { label: `cp-${"z".repeat(200)}` });
    await suite.sdk.sessions.recordToolCall(session.id, `tool_${"t".repeat(150)}`, { a: "b".repeat(500) }, { ok: true }, { duration_ms: 5 });
    const page = await openSession(session.name);
    await page.getByRole("region", { name: "Checkpoints" }).getByRole("button", { name: "Restore" }).waitFor();
    const width = page.viewportSize()!.width;
    expect(await page.evaluate<number>("document.documentElement.scrollWidth")).toBeLessThanOrEqual(width);
    const header = (await page.locator("header.session-header").boundingBox())!;
    expect(header.x + header.width).toBeLessThanOrEqual(width);
    expect(await page.locator("header.session-header").textContent()).toContain(task);
  });

  it("says Restore is off for an ended session and why, and charts a tool call without a duration as having none", async () => {
    const session = await suite.sdk.sessions.createSession({ name: unique("ended") });
    await suite.sdk.sessions.createCheckpoint(session.id, { label: "kept" });
    await suite.sdk.sessions.recordToolCall(session.id, "untimed", { q: 1 }, { ok: true });
    await suite.sdk.sessions.complete(session.id);
    const page = await openSession(session.name);
    const checkpoints = page.getByRole("region", { name: "Checkpoints" });
    const restore = checkpoints.getByRole("button", { name: "Restore" });
    await expect.poll(() => restore.isDisabled()).toBe(true);
    expect(await restore.getAttribute("title")).toMatch(/completed, failed or timed-out session cannot be restored/);
    expect(await page.getByRole("region", { name: "Timeline" }).getByRole("button", { name: "Restore checkpoint kept" }).getAttribute("title")).toMatch(/cannot be restored/);
    expect(await checkpoints.textContent()).toContain("cannot be restored");

    const tools = page.getByRole("region", { name: "Tool calls" });
    await expect.poll(() => tools.getByRole("img").getAttribute("aria-label")).toBe("Time per tool: untimed no duration (1 call)");
    expect(await tools.getByRole("row").filter({ hasText: "untimed" }).getByRole("cell").nth(2).textContent()).toBe("—");
  });

  it("says no session has a name that never existed, and opens a session whose name has a dot", async () => {
    const record = await suite.open();
    await signIn(record.page, suite.server, suite.server.token);
    await record.page.goto(`${suite.server.uiUrl}sessions/never-was-${Date.now()}`);
    await record.page.getByRole("heading", { level: 1, name: "Session not found" }).waitFor();
    const alert = await record.page.getByRole("alert").innerText();
    expect(alert).toMatch(/^No session named “never-was-\d+” was found/);
    expect(alert).not.toMatch(/no longer exists|deleted/);

    const dotted = await suite.sdk.sessions.createSession({ name: `release-1.2-${++n}` });
    await record.page.goto(`${suite.server.uiUrl}sessions/${dotted.name}`);
    await record.page.getByRole("heading", { level: 1, name: dotted.name }).waitFor();
  });

  it("shows a reader the checkpoints without Restore or Fork", async () => {
    const reader = "reader-of-the-session-page-0123456789";
    const own = await startBrowserServer({ tokens: [{ token: reader, role: "reader", name: "viewer" }] });
    try {
      const session = await own.client().sessions.createSession({ name: "read-only" });
      await own.client().sessions.createCheckpoint(session.id, { label: "cp" });
      const record = await suite.open();
      await signIn(record.page, own, reader);
      await record.page.getByRole("link", { name: "read-only", exact: true }).click();
      const checkpoints = record.page.getByRole("region", { name: "Checkpoints" });
      await checkpoints.getByRole("cell", { name: "cp", exact: true }).waitFor();
      expect(await checkpoints.getByRole("button").count()).toBe(0);
      expect(await record.page.getByRole("region", { name: "Timeline" }).getByRole("button", { name: /Restore|Fork/ }).count()).toBe(0);
    } finally {
      await own.close();
    }
  });
});
