import { afterEach, describe, expect, it, vi } from "vitest";
import { filterParams, parseLabels } from "../src/api/sessions.js";
import type { Session } from "../src/api/types.js";
import { TASK_SEARCH_CHARS as SERVER_TASK_SEARCH_CHARS } from "../../src/core/session.js";
import { EVERYTHING, TASK_SEARCH_CHARS, listQueryFromUrl, listQueryToUrl, loadPage, matchesFilter, matchesSearch, newSessionsFirst, nextSort } from "../src/pages/session-filter.js";

const session = (over: Partial<Session>): Session =>
  ({ id: "1", name: "s", kind: "agent", status: "active", agent_id: null, labels: {}, task: null, iterations: 0, created_at: "2026-01-01T00:00:00Z", last_activity_at: "2026-01-01T00:00:00Z", ...over }) as Session;

describe("the list's filters", () => {
  it("reads labels as key=value or key:value pairs, comma-separated, into the API's label parameters", () => {
    expect(parseLabels(" env=prod , team:ml,,")).toEqual(["env:prod", "team:ml"]);
    expect(parseLabels("url=a=b")).toEqual(["url:a=b"]);
    expect(filterParams({ status: "active", agent_id: " a1 ", labels: "env=prod", q: " build " })).toEqual({ status: "active", kind: undefined, agent_id: "a1", label: ["env:prod"], q: "build" });
    expect(filterParams({ q: "  " }).q).toBeUndefined();
  });

  it("decides whether a session changed live still belongs to the filtered list", () => {
    const s = session({ status: "paused", kind: "shell", agent_id: "a1", labels: { env: "prod" } });
    expect(matchesFilter(s, {})).toBe(true);
    expect(matchesFilter(s, { status: "paused", kind: "shell", agent_id: "a1", labels: "env=prod" })).toBe(true);
    expect(matchesFilter(s, { status: "active" })).toBe(false);
    expect(matchesFilter(s, { labels: "env=dev" })).toBe(false);
    expect(matchesFilter(s, { agent_id: "a2" })).toBe(false);
    expect(matchesFilter({ ...s, name: "nightly" }, { q: "NIGHT" })).toBe(true);
    expect(matchesFilter({ ...s, name: "nightly" }, { q: "day" })).toBe(false);
  });

  it("searches the name and the task as the server does, ignoring the case of ASCII letters only", () => {
    const s = session({ name: "Build-42", task: "Fix the <b>tests</b>" });
    expect(matchesSearch(s, "build")).toBe(true);
    expect(matchesSearch(s, "<B>TESTS")).toBe(true);
    expect(matchesSearch(s, "deploy")).toBe(false);
    expect(matchesSearch(s, "  ")).toBe(true);
    expect(matchesSearch(session({ name: "Ärger" }), "ärger")).toBe(false);
    expect(matchesSearch(session({ name: "100% done" }), "100%")).toBe(true);
  });

  it("searches only the start of a long task, as far as the server does, counting characters as it does", () => {
    expect(TASK_SEARCH_CHARS).toBe(SERVER_TASK_SEARCH_CHARS);
    const long = session({ task: `${"😀".repeat(TASK_SEARCH_CHARS - 6)}needle past` });
    expect(matchesSearch(long, "NEEDLE")).toBe(true);
    expect(matchesSearch(long, "past")).toBe(false);
    expect(matchesSearch(long, "needle p")).toBe(false);
  });
});

describe("the list's query in the page URL", () => {
  it("writes the filters, the search and a sort other than newest first, and reads them back", () => {
    const query = { filter: { status: "paused", kind: "shell", agent_id: "a1", labels: "env=prod, team=ml", q: "50% off" }, sort: { key: "name" as const, descending: false } };
    const url = listQueryToUrl(query);
    expect(url).toBe("?status=paused&kind=shell&agent_id=a1&labels=env%3Dprod%2C+team%3Dml&q=50%25+off&sort=name&order=asc");
    expect(listQueryFromUrl(url)).toEqual(query);
    expect(listQueryToUrl(EVERYTHING)).toBe("");
    expect(listQueryFromUrl("")).toEqual(EVERYTHING);
  });

  it("opens the list on a link with an unknown sort or parameter, leaving them out", () => {
    expect(listQueryFromUrl("?sort=colour&colour=blue&q=x")).toEqual({ filter: { q: "x" }, sort: EVERYTHING.sort });
    expect(listQueryFromUrl("?sort=iterations")).toEqual({ filter: {}, sort: { key: "iterations", descending: true } });
  });

  it("turns a column's header from one way to the other, starting times and counts with the largest and text at A", () => {
    expect(nextSort(EVERYTHING.sort, "created_at")).toEqual({ key: "created_at", descending: false });
    expect(nextSort(EVERYTHING.sort, "name")).toEqual({ key: "name", descending: false });
    expect(nextSort({ key: "name", descending: false }, "name")).toEqual({ key: "name", descending: true });
    expect(nextSort(EVERYTHING.sort, "last_activity_at")).toEqual({ key: "last_activity_at", descending: true });
    expect(nextSort(EVERYTHING.sort, "iterations")).toEqual({ key: "iterations", descending: true });
    expect(newSessionsFirst(EVERYTHING.sort)).toBe(true);
    expect(newSessionsFirst({ key: "name", descending: true })).toBe(false);
  });
});

describe("loadPage", () => {
  afterEach(() => vi.unstubAllGlobals());

  /** The URLs the page asks for; each answered with `sessions` and `next` as X-Next-Cursor. */
  function answering(sessions: Session[], next: string | null): string[] {
    const asked: string[] = [];
    vi.stubGlobal("fetch", async (url: string) => {
      asked.push(url);
      return new Response(JSON.stringify(sessions), { status: 200, headers: { "content-type": "application/json", ...(next ? { "x-next-cursor": next } : {}) } });
    });
    return asked;
  }

  it("asks the server for one page with the filters, the search, the sort and the order, and hands back its cursor", async () => {
    const rows = [session({ id: "a" }), session({ id: "b" })];
    const asked = answering(rows, "next-page");
    const page = await loadPage({ filter: { status: "active", labels: "env=prod", q: " Build " }, sort: { key: "last_activity_at", descending: false } }, "c1", 50);
    expect(page).toEqual({ sessions: rows, next: "next-page" });
    expect(asked).toHaveLength(1);
    const url = new URL(asked[0]!, "http://ui");
    expect(url.pathname).toBe("/sessions/");
    expect(Object.fromEntries(url.searchParams)).toEqual({ status: "active", label: "env:prod", q: "Build", sort: "last_activity_at", order: "asc", limit: "50", cursor: "c1" });
  });

  it("hands back a short page, an empty one even, with its cursor: a search reads so many sessions a page", async () => {
    answering([], "searched-on");
    expect(await loadPage({ filter: { q: "rare" }, sort: EVERYTHING.sort }, undefined, 50)).toEqual({ sessions: [], next: "searched-on" });
  });

  it("asks for the newest first by default, with no search or cursor", async () => {
    const asked = answering([], null);
    expect(await loadPage(EVERYTHING, undefined, 25)).toEqual({ sessions: [], next: null });
    expect(new URL(asked[0]!, "http://ui").search).toBe("?sort=created_at&order=desc&limit=25");
  });
});
