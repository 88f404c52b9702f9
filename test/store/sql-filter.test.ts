import { describe, expect, it } from "vitest";
import { SESSION_KINDS, SESSION_STATUSES, TASK_SEARCH_CHARS } from "../../src/core/index.js";
import {
  MAX_LIST_BRANCHES,
  POSTGRES_DIALECT,
  SQLITE_DIALECT,
  asciiLowerCase,
  searchScanQuery,
  searchedTaskHead,
  sessionPageQuery,
} from "../../src/store/sql-filter.js";

const NEWEST_FIRST = { sort: "created_at", order: "desc" } as const;
const BY_NAME = { sort: "name", order: "asc" } as const;
const DIALECTS = [
  ["sqlite", SQLITE_DIALECT],
  ["postgres", POSTGRES_DIALECT],
] as const;

/** How many SELECTs a query's SQL holds (a UNION ALL of n branches holds n + its merge). */
const selects = (sql: string) => sql.match(/\bSELECT\b/g)?.length ?? 0;

describe("the SQL a listing is built as", () => {
  it.each(DIALECTS)("lists every status of every kind with one query, IN (…) and no UNION (%s)", (_, dialect) => {
    const filter = { status: [...SESSION_STATUSES], kind: [...SESSION_KINDS] };
    expect(SESSION_STATUSES.length * SESSION_KINDS.length).toBeGreaterThan(MAX_LIST_BRANCHES);
    for (const scoped of [{}, { agent_id: "a1" }]) {
      const { sql, params } = sessionPageQuery({ ...filter, ...scoped }, NEWEST_FIRST, {}, 50, dialect);
      expect(sql).not.toContain("UNION");
      expect(selects(sql)).toBe(1);
      expect(sql).toMatch(/status\b.*\bIN \(/);
      expect(sql).toMatch(/kind\b.*\bIN \(/);
      // Every status, every kind, the agent when there is one, the limit.
      expect(params).toHaveLength(SESSION_STATUSES.length + SESSION_KINDS.length + ("agent_id" in scoped ? 1 : 0) + 1);
    }
  });

  it.each(DIALECTS)("splits a few statuses and kinds into one index range each, but never an agent's listing (%s)", (_, dialect) => {
    const filter = { status: ["active", "paused"] as ("active" | "paused")[], kind: ["agent", "shell"] };
    const split = sessionPageQuery(filter, BY_NAME, {}, 10, dialect);
    expect(split.sql.match(/UNION ALL/g)).toHaveLength(MAX_LIST_BRANCHES - 1);
    const scoped = sessionPageQuery({ ...filter, agent_id: "a1" }, BY_NAME, {}, 10, dialect);
    expect(scoped.sql).not.toContain("UNION");
  });

  it("numbers the parameters in the order the SQL names them, branches and limits included", () => {
    const filter = { status: ["active", "paused"] as ("active" | "paused")[], q: "Build", labels: { env: "prod" } };
    const { sql, params } = sessionPageQuery(filter, BY_NAME, {}, 10, POSTGRES_DIALECT);
    const numbers = [...sql.matchAll(/\$(\d+)/g)].map((m) => Number(m[1]));
    expect(numbers).toEqual(params.map((_, i) => i + 1));
    // SQLite binds `?` by position: as many as there are parameters.
    const sqlite = sessionPageQuery(filter, BY_NAME, {}, 10, SQLITE_DIALECT);
    expect(sqlite.sql.match(/\?/g)).toHaveLength(sqlite.params.length);
  });

  it.each(DIALECTS)("searches with a substring match, not LIKE, the text's ASCII letters lowercased (%s)", (_, dialect) => {
    const { sql, params } = sessionPageQuery({ q: "Ünïcode-BUILD 100%_" }, NEWEST_FIRST, {}, 10, dialect);
    expect(sql).not.toMatch(/LIKE/);
    expect(sql).toMatch(dialect === SQLITE_DIALECT ? /instr\(t\.name, \?\)/ : /strpos\(lower\(s\.name COLLATE "C"\)/);
    expect(params.filter((p) => p === "Ünïcode-build 100%_")).toHaveLength(2);
  });

  it.each(DIALECTS)("drives an agent's listing from the agent's index, not a label's or another column's (%s)", (_, dialect) => {
    const filter = { agent_id: "a1", labels: { team: "core" }, user_id: "u1", status: "active" as const };
    const { sql } = sessionPageQuery(filter, NEWEST_FIRST, {}, 10, dialect);
    expect(sql).not.toContain("FROM session_labels l");
    expect(sql).toContain("EXISTS (SELECT 1 FROM session_labels m");
    if (dialect === SQLITE_DIALECT) expect(sql).toContain("FROM sessions s INDEXED BY sessions_by_agent");
    else {
      expect(sql).toContain("(s.user_id || '') = ");
      expect(sql).toContain("(s.status || '') = ");
      expect(sql).toMatch(/m\.value = \$\d+ OFFSET 0\)/);
    }
    // Without an agent, newest first, the label's index drives the listing.
    expect(sessionPageQuery({ labels: { team: "core" } }, NEWEST_FIRST, {}, 10, dialect).sql).toContain("FROM session_labels l");
  });

  it("finds where a search's scan stops with the filter's own range, without q, and nothing for a listing without q", () => {
    expect(searchScanQuery({ status: "active" }, NEWEST_FIRST, undefined, 100, SQLITE_DIALECT)).toBeUndefined();
    const scan = searchScanQuery({ q: "x", agent_id: "a1" }, NEWEST_FIRST, undefined, 100, SQLITE_DIALECT)!;
    expect(scan.sql).not.toContain("instr");
    expect(scan.sql).toContain("LIMIT ? OFFSET ?");
    expect(scan.params.slice(-2)).toEqual([2, 99]);
  });
});

describe("searchedTaskHead", () => {
  it("keeps the first TASK_SEARCH_CHARS characters, counting a character outside the BMP once", () => {
    expect(searchedTaskHead(null)).toBe("");
    expect(searchedTaskHead("short")).toBe("short");
    expect(searchedTaskHead("x".repeat(TASK_SEARCH_CHARS + 10))).toBe("x".repeat(TASK_SEARCH_CHARS));
    const astral = "😀".repeat(TASK_SEARCH_CHARS + 1);
    expect(searchedTaskHead(astral)).toBe("😀".repeat(TASK_SEARCH_CHARS));
    expect([...searchedTaskHead(`a${astral}`)]).toHaveLength(TASK_SEARCH_CHARS);
  });

  it("lowercases ASCII letters only", () => {
    expect(asciiLowerCase("ÉCOLE Build ÀB")).toBe("École build Àb");
  });
});
