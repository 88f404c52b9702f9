import { describe, expect, it } from "vitest";
import type { ListSort } from "../src/api/sessions.js";
import type { Session } from "../src/api/types.js";
import { compareSessions, placeSession } from "../src/pages/list-placement.js";

const session = (id: string, over: Partial<Session> = {}): Session =>
  ({ id, name: id, kind: "agent", status: "active", agent_id: null, labels: {}, task: null, iterations: 0, created_at: `2026-01-0${id}T00:00:00Z`, last_activity_at: "2026-01-01T00:00:00Z", updated_at: "2026-01-01T00:00:00Z", ...over }) as Session;

const NEWEST: ListSort = { key: "created_at", descending: true };
const ids = (rows: readonly Session[]) => rows.map((s) => s.id);

describe("placing a session that comes into the list live", () => {
  it("puts a session back under a newest-first filter at the place of its created_at, not at the top", () => {
    const rows = [session("5"), session("4"), session("2")];
    expect(ids(placeSession(rows, session("3"), NEWEST, { first: true, hasNext: false }))).toEqual(["5", "4", "3", "2"]);
    // A new session is the newest: at the top of the first page.
    expect(ids(placeSession(rows, session("9"), NEWEST, { first: true, hasNext: false }))).toEqual(["9", "5", "4", "2"]);
    expect(ids(placeSession(rows, session("1"), NEWEST, { first: true, hasNext: false }))).toEqual(["5", "4", "2", "1"]);
  });

  it("leaves the rows alone when the session's place is on another page", () => {
    const rows = [session("5"), session("4")];
    // Older than the last row of a page with a next one: it is on a later page.
    expect(placeSession(rows, session("1"), NEWEST, { first: true, hasNext: true })).toBe(rows);
    // Newer than the first row of a second page: it is on an earlier one.
    expect(placeSession(rows, session("9"), NEWEST, { first: false, hasNext: false })).toBe(rows);
    expect(ids(placeSession(rows, session("4", { name: "renamed" }), NEWEST, { first: false, hasNext: true }))).toEqual(["5", "4"]);
  });

  it("places by the list's sort key, oldest first, by name, by iterations, ties broken by created_at the same way", () => {
    const rows = [session("1"), session("3")];
    expect(ids(placeSession(rows, session("2"), { key: "created_at", descending: false }, { first: true, hasNext: false }))).toEqual(["1", "2", "3"]);
    const named = [session("1", { name: "alpha" }), session("2", { name: "charlie" })];
    expect(ids(placeSession(named, session("3", { name: "bravo" }), { key: "name", descending: false }, { first: true, hasNext: false }))).toEqual(["1", "3", "2"]);
    // By code point, as the server sorts: "Z" before "a".
    expect(compareSessions(session("1", { name: "Zeta" }), session("2", { name: "alpha" }), { key: "name", descending: false })).toBeLessThan(0);
    const busy = [session("1", { iterations: 9 }), session("2", { iterations: 1 })];
    expect(ids(placeSession(busy, session("3", { iterations: 5 }), { key: "iterations", descending: true }, { first: true, hasNext: false }))).toEqual(["1", "3", "2"]);
    // Same status: the newest first when descending.
    const paused = [session("4", { status: "paused" }), session("2", { status: "paused" })];
    expect(ids(placeSession(paused, session("3", { status: "paused" }), { key: "status", descending: true }, { first: true, hasNext: false }))).toEqual(["4", "3", "2"]);
    // No agent sorts as "": first ascending.
    expect(compareSessions(session("1"), session("2", { agent_id: "a" }), { key: "agent_id", descending: false })).toBeLessThan(0);
  });
});
