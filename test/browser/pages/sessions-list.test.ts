/**
 * The sessions list in a real browser against a real server: sessions made through the SDK show
 * up live, a status change moves a session without a reload, the server's filters, search and
 * sorting (kept in the page's URL), cursor paging over 10,000 sessions, counts by status, and the
 * admin's bulk actions behind a confirmation that names them.
 */
import type { Page } from "playwright-core";
import { describe, expect, it } from "vitest";
import { axeCheck, browserSkipReason, signIn } from "../harness.js";
import { browserSuite } from "../suite.js";

const skip = browserSkipReason();

describe.skipIf(skip !== undefined)("the sessions list", () => {
  const suite = browserSuite();
  let n = 0;
  /** A name no other test of this file uses. */
  const unique = (prefix: string) => `${prefix}-${++n}-${Date.now().toString(36)}`;


  async function openList(): Promise<Page> {
    const record = await suite.open();
    await signIn(record.page, suite.server, suite.server.token);
    await record.page.getByRole("table", { name: "Sessions" }).waitFor();
    // The feed is open once the page says so: from then on changes arrive live.
    await record.page.getByRole("status").filter({ hasText: /^Live$/ }).waitFor();
    return record.page;
  }

  const rowLink = (page: Page, name: string) => page.getByRole("table", { name: "Sessions" }).getByRole("link", { name, exact: true });

  async function applyFilters(page: Page, filters: { status?: string; kind?: string; agent?: string; labels?: string; search?: string }): Promise<void> {
    if (filters.status !== undefined) await page.getByLabel("Status", { exact: true }).selectOption(filters.status);
    if (filters.kind !== undefined) await page.getByLabel("Kind", { exact: true }).selectOption(filters.kind);
    if (filters.agent !== undefined) await page.getByLabel("Agent", { exact: true }).fill(filters.agent);
    if (filters.labels !== undefined) await page.getByLabel("Labels", { exact: true }).fill(filters.labels);
    if (filters.search !== undefined) await page.getByLabel("Search", { exact: true }).fill(filters.search);
    await page.getByRole("button", { name: "Apply" }).click();
  }

  it("shows a session created through the SDK without a reload, and counts it", async () => {
    const page = await openList();
    const before = Number(await page.getByRole("region", { name: "Counts" }).locator(".count").first().textContent());
    const name = unique("created-live");
    await suite.sdk.sessions.createSession({ name, task: "appears by itself", agent_id: "live-agent" });
    await expect.poll(() => rowLink(page, name).count()).toBe(1);
    const row = page.getByRole("row").filter({ has: page.getByRole("link", { name, exact: true }) });
    expect(await row.textContent()).toContain("appears by itself");
    await expect.poll(async () => Number(await page.getByRole("region", { name: "Counts" }).locator(".count").first().textContent())).toBe(before + 1);
    await axeCheck(page);
  });

  it("moves a session out of a list filtered by status when it is paused elsewhere, and into the paused list", async () => {
    const agent = unique("mover");
    const staying = await suite.sdk.sessions.createSession({ name: unique("stays"), agent_id: agent });
    const moving = await suite.sdk.sessions.createSession({ name: unique("moves"), agent_id: agent });
    const active = await openList();
    await applyFilters(active, { status: "active", agent });
    await expect.poll(() => rowLink(active, moving.name).count()).toBe(1);
    const paused = await openList();
    await applyFilters(paused, { status: "paused", agent });
    await expect.poll(() => paused.getByRole("table", { name: "Sessions" }).getByRole("row").count()).toBe(1); // the header alone

    await suite.sdk.sessions.pause(moving.id, "from the test");
    await expect.poll(() => rowLink(active, moving.name).count()).toBe(0);
    await expect.poll(() => rowLink(paused, moving.name).count()).toBe(1);
    expect(await rowLink(active, staying.name).count()).toBe(1);
    const row = paused.getByRole("row").filter({ has: paused.getByRole("link", { name: moving.name, exact: true }) });
    expect(await row.textContent()).toContain("paused");
  });

  it("filters by kind, agent and labels, and searches names and tasks, all on the server", async () => {
    const agent = unique("filters");
    const prod = await suite.sdk.sessions.createSession({ name: unique("prod-db"), agent_id: agent, labels: { env: "prod", team: "db" }, task: "rotate the keys" });
    const dev = await suite.sdk.sessions.createSession({ name: unique("dev-db"), agent_id: agent, labels: { env: "dev", team: "db" }, task: "vacuum" });
    const other = await suite.sdk.sessions.createSession({ name: unique("other-agent"), agent_id: `${agent}-x`, labels: { env: "prod", team: "db" } });
    const page = await openList();

    await applyFilters(page, { kind: "agent", agent, labels: "env=prod, team=db" });
    await expect.poll(() => rowLink(page, prod.name).count()).toBe(1);
    expect(await rowLink(page, dev.name).count()).toBe(0);
    expect(await rowLink(page, other.name).count()).toBe(0);

    await applyFilters(page, { labels: "", search: "VACUUM" });
    await expect.poll(() => rowLink(page, dev.name).count()).toBe(1);
    expect(await rowLink(page, prod.name).count()).toBe(0);

    await applyFilters(page, { search: "", kind: "shell" });
    await expect.poll(() => page.getByText("No sessions match.").count()).toBe(1);
  });

  it("sorts by a column when its header is pressed, says which way, and keeps filters and order through a reload", async () => {
    const agent = unique("sorting");
    for (const name of ["charlie", "alpha", "bravo"]) await suite.sdk.sessions.createSession({ name: `${name}-${agent}`, agent_id: agent });
    const page = await openList();
    await applyFilters(page, { agent });
    const names = () => page.getByRole("table", { name: "Sessions" }).locator("tbody a").allTextContents();
    await expect.poll(names).toEqual([`bravo-${agent}`, `alpha-${agent}`, `charlie-${agent}`]); // newest first
    await page.getByRole("button", { name: "Name" }).click();
    await expect.poll(names).toEqual([`alpha-${agent}`, `bravo-${agent}`, `charlie-${agent}`]);
    expect(await page.getByRole("columnheader", { name: "Name" }).getAttribute("aria-sort")).toBe("ascending");
    await page.getByRole("button", { name: "Name" }).click();
    await expect.poll(names).toEqual([`charlie-${agent}`, `bravo-${agent}`, `alpha-${agent}`]);
    expect(new URL(page.url()).search).toBe(`?agent_id=${agent}&sort=name`);

    await page.reload();
    await expect.poll(names).toEqual([`charlie-${agent}`, `bravo-${agent}`, `alpha-${agent}`]);
    expect(await page.getByLabel("Agent", { exact: true }).inputValue()).toBe(agent);
    expect(await page.getByRole("columnheader", { name: "Name" }).getAttribute("aria-sort")).toBe("descending");
    expect(await page.getByText("Sorting applies to the sessions of this page").count()).toBe(0);
  });

  it("pages through 10,000 sessions 50 at a time with the server's cursor", async () => {
    const agent = unique("many");
    const created: string[] = [];
    for (let i = 0; i < 10_000; i += 500) {
      const batch = await Promise.all(Array.from({ length: 500 }, (_, j) => suite.server.manager.create({ name: `bulk-${String(i + j).padStart(5, "0")}`, agent_id: agent })));
      created.push(...batch.map((s) => s.name));
    }
    const page = await openList();
    await applyFilters(page, { agent });
    const body = page.getByRole("table", { name: "Sessions" }).locator("tbody tr");
    await expect.poll(() => body.count()).toBe(50);
    const links = () => page.getByRole("table", { name: "Sessions" }).locator("tbody a").allTextContents();
    const first = await links();
    expect(new Set(first).size).toBe(50);
    await page.getByRole("button", { name: "Next page" }).click();
    await expect.poll(() => page.getByText("Page 2").count()).toBe(1);
    await expect.poll(async () => (await links())[0]).not.toBe(first[0]);
    const second = await links();
    expect(second).toHaveLength(50);
    expect(second.filter((name) => first.includes(name))).toEqual([]);
    await page.getByRole("button", { name: "Previous page" }).click();
    await expect.poll(links).toEqual(first);
    await expect.poll(async () => page.getByRole("region", { name: "Counts" }).textContent()).toContain("10000 total");

    // Sorted by name, every page is the server's: the second follows the first across all 10,000.
    await page.getByRole("button", { name: "Name" }).click();
    await expect.poll(async () => (await links())[0]).toBe("bulk-00000");
    expect(await links()).toEqual(Array.from({ length: 50 }, (_, i) => `bulk-${String(i).padStart(5, "0")}`));
    await page.getByRole("button", { name: "Next page" }).click();
    await expect.poll(async () => (await links())[0]).toBe("bulk-00050");

    // The server searches every session; the counts follow the search.
    await applyFilters(page, { search: "BULK-0007" });
    await expect.poll(() => links()).toEqual(Array.from({ length: 10 }, (_, i) => `bulk-0007${i}`));
    await expect.poll(async () => page.getByRole("region", { name: "Counts" }).textContent()).toContain("10 total");
    expect(created).toHaveLength(10_000);
  });

  it("pauses, completes and deletes the sessions an admin selects, each after a confirmation", async () => {
    const agent = unique("bulk");
    const [a, b, c] = await Promise.all(["a", "b", "c"].map((x) => suite.sdk.sessions.createSession({ name: `${x}-${agent}`, agent_id: agent })));
    const page = await openList();
    await applyFilters(page, { agent });
    await expect.poll(() => rowLink(page, c!.name).count()).toBe(1);

    await page.getByLabel(`Select ${a!.name}`).check();
    await page.getByLabel(`Select ${b!.name}`).check();
    await page.getByRole("button", { name: "Pause" }).click();
    const dialog = page.getByRole("dialog");
    expect(await dialog.textContent()).toContain(a!.name);
    await axeCheck(page);
    await dialog.getByRole("button", { name: "Pause 2 sessions" }).click();
    await expect.poll(async () => (await suite.sdk.sessions.getSession(b!.id)).status).toBe("paused");
    expect((await suite.sdk.sessions.getSession(a!.id)).status).toBe("paused");
    expect((await suite.sdk.sessions.getSession(c!.id)).status).toBe("active");

    await page.getByLabel(`Select ${c!.name}`).check();
    await page.getByRole("button", { name: "Complete" }).click();
    await page.getByRole("dialog").getByRole("button", { name: "Complete 1 session" }).click();
    await expect.poll(async () => (await suite.sdk.sessions.getSession(c!.id)).status).toBe("completed");

    await page.getByLabel(`Select ${a!.name}`).check();
    await page.getByRole("button", { name: "Delete" }).click();
    await page.getByRole("dialog").getByRole("button", { name: "Delete 1 session" }).click();
    await expect.poll(() => rowLink(page, a!.name).count()).toBe(0);
    await expect(suite.sdk.sessions.getSession(a!.id)).rejects.toMatchObject({ code: "not_found" });
  });

  it("changes nothing when the confirmation is cancelled", async () => {
    const session = await suite.sdk.sessions.createSession({ name: unique("kept"), agent_id: unique("cancel") });
    const page = await openList();
    await applyFilters(page, { agent: session.agent_id! });
    await page.getByLabel(`Select ${session.name}`).check();
    await page.getByRole("button", { name: "Delete" }).click();
    await page.getByRole("dialog").getByRole("button", { name: "Cancel" }).click();
    expect(await page.getByRole("dialog").count()).toBe(0);
    expect((await suite.sdk.sessions.getSession(session.id)).status).toBe("active");
    expect(await rowLink(page, session.name).count()).toBe(1);
  });

  /** The row of the session named `name`. */
  const rowOf = (page: Page, name: string) => page.getByRole("table", { name: "Sessions" }).getByRole("row").filter({ has: page.getByRole("link", { name, exact: true }) });
  /** The counts strip's numbers, total first. */
  const counts = (page: Page) => page.getByRole("region", { name: "Counts" }).locator(".count").allTextContents();

  it("keeps a session with long values on one line within the window, each whole value in its cell's title", async () => {
    const longAgent = `${unique("agent")}-${"x".repeat(90)}`.slice(0, 90);
    const task = `rotate ${"k".repeat(300)} then stop`;
    const normal = await suite.sdk.sessions.createSession({ name: unique("normal"), agent_id: "short-agent", task: "a short task" });
    // The longest name there may be (64), a 90-character agent id, a 300-character word in the task.
    const long = await suite.sdk.sessions.createSession({ name: `${unique("long")}-${"n".repeat(64)}`.slice(0, 64), agent_id: longAgent, task });
    const page = await openList();
    await expect.poll(() => rowLink(page, long.name).count()).toBe(1);
    const viewport = page.viewportSize()!;
    const table = (await page.getByRole("table", { name: "Sessions" }).boundingBox())!;
    expect(table.x + table.width).toBeLessThanOrEqual(viewport.width);
    expect(await page.evaluate<number>("document.documentElement.scrollWidth")).toBeLessThanOrEqual(viewport.width);
    const longRow = (await rowOf(page, long.name).boundingBox())!;
    const normalRow = (await rowOf(page, normal.name).boundingBox())!;
    // One line each: the long row is as tall as the others, and no taller than a tenth of the window.
    expect(longRow.height).toBeLessThanOrEqual(normalRow.height + 2);
    expect(longRow.height).toBeLessThan(viewport.height / 10);
    // The Task column keeps a usable width.
    const taskCell = rowOf(page, long.name).locator("td.task");
    expect((await taskCell.boundingBox())!.width).toBeGreaterThan(viewport.width / 10);
    expect(await taskCell.getAttribute("title")).toBe(task);
    expect(await rowOf(page, long.name).getByRole("cell", { name: longAgent }).getAttribute("title")).toBe(longAgent);
  });

  it("drops a session deleted elsewhere from the list and from its counts, without a reload", async () => {
    const agent = unique("deleted");
    const kept = await suite.sdk.sessions.createSession({ name: unique("kept"), agent_id: agent });
    const gone = await suite.sdk.sessions.createSession({ name: unique("gone"), agent_id: agent });
    const page = await openList();
    await applyFilters(page, { agent });
    await expect.poll(() => rowLink(page, gone.name).count()).toBe(1);
    await expect.poll(async () => (await counts(page))[0]).toBe("2");

    await suite.sdk.sessions.deleteSession(gone.id);
    await expect.poll(() => rowLink(page, gone.name).count()).toBe(0);
    await expect.poll(async () => (await counts(page))[0]).toBe("1");
    expect(await rowLink(page, kept.name).count()).toBe(1);
  });

  it("puts a session that comes back into a newest-first list filtered by status where its creation puts it, not at the top", async () => {
    const agent = unique("returns");
    const created: { id: string }[] = [];
    for (const name of ["oldest", "middle", "newest"]) created.push(await suite.sdk.sessions.createSession({ name: `${name}-${agent}`, agent_id: agent }));
    const page = await openList();
    await applyFilters(page, { status: "active", agent });
    const names = () => page.getByRole("table", { name: "Sessions" }).locator("tbody a").allTextContents();
    await expect.poll(names).toEqual([`newest-${agent}`, `middle-${agent}`, `oldest-${agent}`]);
    await suite.sdk.sessions.pause(created[1]!.id, "a moment");
    await expect.poll(names).toEqual([`newest-${agent}`, `oldest-${agent}`]);
    await suite.sdk.sessions.resume(created[1]!.id);
    await expect.poll(names).toEqual([`newest-${agent}`, `middle-${agent}`, `oldest-${agent}`]);
  });

  it("goes back and forward through the filters and sorts applied with the browser's buttons", async () => {
    const agent = unique("history");
    for (const name of ["bravo", "alpha"]) await suite.sdk.sessions.createSession({ name: `${name}-${agent}`, agent_id: agent });
    const page = await openList();
    const names = () => page.getByRole("table", { name: "Sessions" }).locator("tbody a").allTextContents();
    // Typing alone makes no history entry; Apply does.
    await page.getByLabel("Agent", { exact: true }).fill(agent);
    await page.getByRole("button", { name: "Apply" }).click();
    await expect.poll(names).toEqual([`alpha-${agent}`, `bravo-${agent}`]);
    await page.getByRole("button", { name: "Name" }).click();
    await expect.poll(() => new URL(page.url()).search).toBe(`?agent_id=${agent}&sort=name&order=asc`);
    await expect.poll(names).toEqual([`alpha-${agent}`, `bravo-${agent}`]);
    await page.getByRole("button", { name: "Name" }).click();
    await expect.poll(names).toEqual([`bravo-${agent}`, `alpha-${agent}`]);

    await page.goBack();
    await expect.poll(() => new URL(page.url()).search).toBe(`?agent_id=${agent}&sort=name&order=asc`);
    await expect.poll(() => page.getByRole("columnheader", { name: "Name" }).getAttribute("aria-sort")).toBe("ascending");
    await page.goBack();
    await expect.poll(() => new URL(page.url()).search).toBe(`?agent_id=${agent}`);
    await expect.poll(() => page.getByRole("columnheader", { name: "Name" }).getAttribute("aria-sort")).toBe("none");
    await page.goBack();
    await expect.poll(() => new URL(page.url()).pathname + new URL(page.url()).search).toBe("/ui/");
    await expect.poll(() => page.getByLabel("Agent", { exact: true }).inputValue()).toBe("");
    expect(await page.getByRole("table", { name: "Sessions" }).count()).toBe(1);
    await page.goForward();
    await expect.poll(() => page.getByLabel("Agent", { exact: true }).inputValue()).toBe(agent);
    await expect.poll(names).toEqual([`alpha-${agent}`, `bravo-${agent}`]);
  });

  it("refuses a label without = or : as it refuses other malformed labels, and leaves no old counts over the empty table", async () => {
    const page = await openList();
    await expect.poll(async () => (await counts(page))[0]).toMatch(/^\d+$/);
    await applyFilters(page, { labels: "=prod" });
    const alert = page.getByRole("alert");
    await expect.poll(() => alert.count()).toBe(1);
    const malformed = await alert.innerText();
    expect(malformed).toMatch(/label/);
    await applyFilters(page, { labels: "" });
    await expect.poll(() => alert.count()).toBe(0);
    await applyFilters(page, { labels: "justakey" });
    await expect.poll(() => alert.count()).toBe(1);
    expect(await alert.innerText()).toBe(malformed);
    expect(await page.getByText("No sessions match.").count()).toBe(1);
    expect(await page.getByRole("table", { name: "Sessions" }).locator("tbody tr").count()).toBe(0);
    await expect.poll(async () => (await counts(page)).every((c) => c === "—")).toBe(true);
  });

  it("shows a link's unknown sort and order as the default order, says so, and puts what it shows in the address", async () => {
    const record = await suite.open();
    await signIn(record.page, suite.server, suite.server.token);
    await record.page.goto(`${suite.server.uiUrl}?sort=colour&order=up`);
    await record.page.getByRole("table", { name: "Sessions" }).waitFor();
    await expect.poll(() => record.page.getByText("This link asks for sort=colour and order=up").count()).toBe(1);
    expect(await record.page.getByRole("status").filter({ hasText: "newest first" }).count()).toBe(1);
    await expect.poll(() => new URL(record.page.url()).search).toBe("");
    expect(await record.page.getByRole("columnheader", { name: "Created" }).getAttribute("aria-sort")).toBe("descending");
  });

  it("reaches every filter, the table's links and the pager with the keyboard alone", async () => {
    const page = await openList();
    const seen = new Set<string>();
    for (let i = 0; i < 40; i++) {
      await page.keyboard.press("Tab");
      // A string, run in the page: this file is compiled without the DOM's types.
      const label = await page.evaluate<string>(`(() => {
        const el = document.activeElement;
        if (!el) return "";
        const labelled = el.labels && el.labels[0] ? el.labels[0].textContent.trim() : "";
        return labelled || el.getAttribute("aria-label") || (el.textContent || "").trim() || el.tagName;
      })()`);
      seen.add(label);
    }
    for (const name of ["Sessions", "Stats", "Status", "Kind", "Agent", "Labels", "Search", "Apply"]) expect([...seen], name).toContain(name);
  });
});
