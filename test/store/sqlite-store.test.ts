import { statSync } from "node:fs";
import Database from "better-sqlite3";
import { afterAll, expect, it } from "vitest";
import { type Session, type SessionFilter, dataPaths } from "../../src/core/index.js";
import { newSessionRecord } from "../../src/engine/records.js";
import { type ListOrder, openSqliteStore } from "../../src/store/index.js";
import { SQLITE_DIALECT, searchScanQuery, sessionPageQuery } from "../../src/store/sql-filter.js";
import { SESSION_READ_COLUMNS, sessionRowFromValues } from "../../src/store/rows.js";
import { tempHome } from "../helpers/temp-home.js";
import { runStoreConformance } from "./conformance.js";
import { runListOrderConformance } from "./list-order-conformance.js";

const homes: (() => void)[] = [];
afterAll(() => homes.forEach((remove) => remove()));

const openSqlite = async (flags: { listScanRows?: number } = {}) => {
  const { config, remove } = tempHome(flags);
  homes.push(remove);
  return openSqliteStore(config);
};
runStoreConformance("sqlite", () => openSqlite());
runListOrderConformance("sqlite", openSqlite);

it("keeps the database readable by its owner only", async () => {
  const { config, remove } = tempHome();
  homes.push(remove);
  const store = openSqliteStore(config);
  await store.close();
  expect(statSync(dataPaths(config).database).mode & 0o777).toBe(0o600);
});

it("reads a session row's values in SESSION_READ_COLUMNS' order", () => {
  const values = SESSION_READ_COLUMNS.map((column) => `value of ${column}`);
  const row = sessionRowFromValues(values) as unknown as Record<string, unknown>;
  expect(Object.keys(row)).toEqual([...SESSION_READ_COLUMNS]);
  for (const column of SESSION_READ_COLUMNS) expect(row[column]).toBe(`value of ${column}`);
});

it("plans an agent's listing on the agent's index, whatever label, user or order it asks for", async () => {
  const { config, remove } = tempHome();
  homes.push(remove);
  const store = openSqliteStore(config);
  let clock = Date.parse("2026-05-01T00:00:00.000Z");
  const session = (fields: Partial<Session>): Session => ({
    ...newSessionRecord({}, new Date((clock += 1000)).toISOString(), { maxContextBytes: 1 << 20, maxEventBytes: 1 << 20 }),
    ...fields,
  });
  // Many sessions of the agent, a few of other agents with the label and the user: an index on
  // either would be the planner's pick by its statistics.
  const mine = Array.from({ length: 400 }, (_, i) => session({ name: `mine-${i}`, agent_id: "mine" }));
  const theirs = Array.from({ length: 20 }, (_, i) => session({ name: `theirs-${i}`, agent_id: `other-${i}`, user_id: "u1", labels: { team: "x" } }));
  await store.commit([...mine, ...theirs].map((s) => ({ op: "put_session", session: s, insert: true, scalarsOnly: false })));
  await store.close();
  // The store closed: its file, with the statistics a planner has after ANALYZE.
  const db = new Database(dataPaths(config).database);
  db.exec("ANALYZE");
  const plan = ({ sql, params }: { sql: string; params: unknown[] }) =>
    (db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...params) as { detail: string }[]).map((r) => r.detail).join("\n");
  const newest: ListOrder = { sort: "created_at", order: "desc" };
  try {
    // Without an agent, the label's and the user's indexes drive the listing: the data tempts the planner.
    expect(plan(sessionPageQuery({ labels: { team: "x" } }, newest, {}, 50, SQLITE_DIALECT))).toContain("session_labels_by_value");
    expect(plan(sessionPageQuery({ user_id: "u1" }, newest, {}, 50, SQLITE_DIALECT))).toContain("sessions_by_user");
    const scoped: SessionFilter[] = [
      { agent_id: "mine", labels: { team: "x" } },
      { agent_id: "mine", user_id: "u1" },
      { agent_id: "mine", user_id: "u1", labels: { team: "x" }, status: ["active", "paused"], kind: "agent", q: "build" },
    ];
    for (const filter of scoped) {
      for (const order of [newest, { sort: "name", order: "asc" } as const, { sort: "iterations", order: "desc" } as const]) {
        for (const query of [sessionPageQuery(filter, order, {}, 50, SQLITE_DIALECT), searchScanQuery({ ...filter, q: "x" }, order, undefined, 1000, SQLITE_DIALECT)!]) {
          const text = plan(query);
          expect(text, `${JSON.stringify(filter)} ${order.sort}`).toMatch(/SEARCH s USING (COVERING )?INDEX sessions_by_agent \(agent_id=\?/);
          expect(text).not.toMatch(/session_labels_by_value|sessions_by_user|sessions_by_name_order|sessions_by_created|SCAN s\b/);
        }
      }
    }
  } finally {
    db.close();
  }
});
