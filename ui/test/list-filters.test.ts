import { describe, expect, it } from "vitest";
import { filterParams, parseLabels } from "../src/api/sessions.js";
import type { Session } from "../src/api/types.js";
import { matchesFilter, matchesSearch, sortSessions } from "../src/pages/session-filter.js";

const session = (over: Partial<Session>): Session =>
  ({ id: "1", name: "s", kind: "agent", status: "active", agent_id: null, labels: {}, task: null, iterations: 0, created_at: "2026-01-01T00:00:00Z", last_activity_at: "2026-01-01T00:00:00Z", ...over }) as Session;

describe("the list's filters", () => {
  it("reads labels as key=value or key:value pairs, comma-separated, into the API's label parameters", () => {
    expect(parseLabels(" env=prod , team:ml,,")).toEqual(["env:prod", "team:ml"]);
    expect(parseLabels("url=a=b")).toEqual(["url:a=b"]);
    expect(filterParams({ status: "active", agent_id: " a1 ", labels: "env=prod" })).toEqual({ status: "active", kind: undefined, agent_id: "a1", label: ["env:prod"] });
  });

  it("decides whether a session changed live still belongs to the filtered list", () => {
    const s = session({ status: "paused", kind: "shell", agent_id: "a1", labels: { env: "prod" } });
    expect(matchesFilter(s, {})).toBe(true);
    expect(matchesFilter(s, { status: "paused", kind: "shell", agent_id: "a1", labels: "env=prod" })).toBe(true);
    expect(matchesFilter(s, { status: "active" })).toBe(false);
    expect(matchesFilter(s, { labels: "env=dev" })).toBe(false);
    expect(matchesFilter(s, { agent_id: "a2" })).toBe(false);
  });

  it("searches the name and the task, ignoring case", () => {
    const s = session({ name: "Build-42", task: "Fix the <b>tests</b>" });
    expect(matchesSearch(s, "build")).toBe(true);
    expect(matchesSearch(s, "<B>TESTS")).toBe(true);
    expect(matchesSearch(s, "deploy")).toBe(false);
    expect(matchesSearch(s, "  ")).toBe(true);
  });

  it("sorts by a column either way, ties kept in the server's order", () => {
    const rows = [session({ id: "1", name: "b", iterations: 2 }), session({ id: "2", name: "a", iterations: 2 }), session({ id: "3", name: "c", iterations: 1 })];
    expect(sortSessions(rows, "name", false).map((s) => s.name)).toEqual(["a", "b", "c"]);
    expect(sortSessions(rows, "iterations", true).map((s) => s.id)).toEqual(["1", "2", "3"]);
    expect(sortSessions(rows, "iterations", false).map((s) => s.id)).toEqual(["3", "1", "2"]);
  });
});
