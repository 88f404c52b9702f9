import type Database from "better-sqlite3";
import type { SessionFilter, SessionStatus } from "../../src/core/index.js";
import {
  type Figure,
  type Sizes,
  benchConfig,
  fmtMs,
  fmtRatio,
  log,
  msSince,
  openEngine,
  openRaw,
  storePragmas,
  pick,
  quantile,
  rng,
  table,
} from "../lib.js";
import { AGENTS, type BigStore, MODES, TEAMS, USERS } from "./big-store.js";

const LIMIT = 50;
const DAY_MS = 86_400_000;
const STATUSES: readonly SessionStatus[] = ["active", "paused", "completed", "failed", "timeout", "crashed"];

/** One list query: the engine's filter, and the same WHERE clause for the raw peer. */
interface Query {
  readonly filter: SessionFilter;
  readonly where: string;
  readonly params: unknown[];
  /** Time the second page (the cursor comes from an untimed first page). */
  readonly secondPage: boolean;
}

/** A filter shape: how to draw one random query of it. */
interface Shape {
  readonly name: string;
  readonly draw: (random: () => number, newest: number) => Query;
}

const q = (filter: SessionFilter, where: string, params: unknown[], secondPage = false): Query => ({ filter, where, params, secondPage });

/** The SQL the store builds for each filter (src/store/sql-filter.ts), written out by hand. */
const SHAPES: readonly Shape[] = [
  { name: "agent_id", draw: (r) => { const a = pick(r, AGENTS); return q({ agent_id: a }, "s.agent_id = ?", [a]); } },
  { name: "status", draw: (r) => { const s = pick(r, STATUSES); return q({ status: s }, "s.status = ?", [s]); } },
  { name: "status in (active,paused)", draw: () => q({ status: ["active", "paused"] }, "s.status IN (?, ?)", ["active", "paused"]) },
  {
    name: "user_id + status",
    draw: (r) => {
      const u = pick(r, USERS);
      const s = pick(r, ["active", "completed"] as const);
      return q({ user_id: u, status: s }, "s.user_id = ? AND s.status = ?", [u, s]);
    },
  },
  { name: "mode", draw: (r) => { const m = pick(r, MODES); return q({ mode: m }, "s.mode = ?", [m]); } },
  { name: "kind", draw: (r) => { const k = r() < 0.7 ? "agent" : "shell"; return q({ kind: k }, "s.kind = ?", [k]); } },
  {
    name: "labels",
    draw: (r) => {
      const [key, value] = r() < 0.5 ? ["team", pick(r, TEAMS)] : ["env", "prod"];
      return q(
        { labels: { [key]: value } },
        "s.id IN (SELECT l.session_id FROM session_labels l WHERE l.key = ? AND l.value = ?)",
        [key, value],
      );
    },
  },
  {
    name: "created range (7 days)",
    draw: (r, newest) => {
      const from = new Date(newest - Math.floor(r() * 83 * DAY_MS)).toISOString();
      const to = new Date(Date.parse(from) + 7 * DAY_MS).toISOString();
      return q({ created_after: from, created_before: to }, "s.created_at >= ? AND s.created_at < ?", [from, to]);
    },
  },
  { name: "no filter", draw: () => q({}, "", []) },
  { name: "page 2: agent_id", draw: (r) => { const a = pick(r, AGENTS); return q({ agent_id: a }, "s.agent_id = ?", [a], true); } },
  { name: "page 2: status in (active,paused)", draw: () => q({ status: ["active", "paused"] }, "s.status IN (?, ?)", ["active", "paused"], true) },
  { name: "page 2: no filter", draw: () => q({}, "", [], true) },
];

function rawSql(where: string, cursor: boolean): string {
  const clauses = [where, cursor ? "(s.created_at, s.id) < (?, ?)" : ""].filter(Boolean);
  return `SELECT s.* FROM sessions s ${clauses.length ? `WHERE ${clauses.join(" AND ")}` : ""} ORDER BY s.created_at DESC, s.id DESC LIMIT ?`;
}

interface ShapeTimes {
  engine: number[];
  raw: number[];
}

/**
 * Figure 4: filtered lists (limit 50) over the big store with a fresh engine (cold pool), each
 * timed alone, beside the same SQL through a raw better-sqlite3 prepared statement.
 */
export async function listFigures(sizes: Sizes, big: BigStore): Promise<Figure[]> {
  const config = benchConfig(big.home, { sqliteSynchronous: "full" });
  const { store, manager } = openEngine(config);
  const raw = openRaw(big.database, storePragmas(config));
  const statements = new Map<string, Database.Statement>();
  const stmt = (sql: string) => {
    let s = statements.get(sql);
    if (!s) statements.set(sql, (s = raw.prepare(sql)));
    return s;
  };
  // Diagnostics only: the store's prepared-statement cache (a private field) tells which SQL it
  // ran for each shape, so the plans printed below are the store's own.
  const storeStatements = (store.sync as unknown as { statements?: Map<string, unknown> } | undefined)?.statements;
  const storeSql = new Map<string, string>();
  const storeSqlByFloor = new Map<string, string>();
  const random = rng(7);
  const times = new Map<string, ShapeTimes>(SHAPES.map((s) => [s.name, { engine: [], raw: [] }]));
  const rounds = Math.ceil(sizes.listQueries / SHAPES.length);
  // A shape that is pathologically slow stops being sampled once it has used its share of time,
  // so one bad plan cannot push the run past its budget; its n then shows fewer samples.
  const budgetMs = sizes.quick ? 1_000 : 4_000;
  const spentMs = new Map<string, number>(SHAPES.map((s) => [s.name, 0]));
  // One untimed pass prepares every statement on both sides.
  for (let round = -1; round < rounds; round++) {
    for (const shape of SHAPES) {
      if (spentMs.get(shape.name)! > budgetMs) continue;
      const query = shape.draw(random, big.newest);
      const known = new Set(storeStatements?.keys() ?? []);
      let cursor: string | undefined;
      let cursorParams: unknown[] = [];
      if (query.secondPage) {
        const first = await manager.list(query.filter, { limit: LIMIT });
        const last = first.items.at(-1);
        if (!first.next_cursor || !last) continue;
        cursor = first.next_cursor;
        cursorParams = [last.created_at, last.id];
      }
      const statement = stmt(rawSql(query.where, query.secondPage));
      const runEngine = async () => {
        const e0 = process.hrtime.bigint();
        const page = await manager.list(query.filter, cursor === undefined ? { limit: LIMIT } : { limit: LIMIT, cursor });
        return { page, ms: msSince(e0) };
      };
      const runRaw = () => {
        const r0 = process.hrtime.bigint();
        const rows = statement.all(...query.params, ...cursorParams, LIMIT + 1) as { id: string }[];
        return { rows, ms: msSince(r0) };
      };
      // Whichever runs second finds the pages cached by the first: take turns.
      let engineRun: Awaited<ReturnType<typeof runEngine>>;
      let rawRun: ReturnType<typeof runRaw>;
      if (round % 2 === 0) {
        engineRun = await runEngine();
        rawRun = runRaw();
      } else {
        rawRun = runRaw();
        engineRun = await runEngine();
      }
      const { page, ms: engineMs } = engineRun;
      const { rows, ms: rawMs } = rawRun;
      spentMs.set(shape.name, spentMs.get(shape.name)! + engineMs + rawMs);
      if (rows.slice(0, LIMIT).some((row, i) => row.id !== page.items[i]?.id) || Math.min(rows.length, LIMIT) !== page.items.length) {
        throw new Error(`list ${shape.name}: the engine and the raw query returned different pages`);
      }
      if (round < 0) {
        const added = [...(storeStatements?.keys() ?? [])].filter((sql) => !known.has(sql));
        // A shape whose SQL an earlier shape already prepared adds nothing: look it up by the floor SQL.
        const floorSql = rawSql(query.where, query.secondPage);
        const sql = added.at(-1) ?? storeSqlByFloor.get(floorSql);
        if (sql !== undefined) {
          storeSql.set(shape.name, sql);
          storeSqlByFloor.set(floorSql, sql);
        }
        continue;
      }
      times.get(shape.name)!.engine.push(engineMs);
      times.get(shape.name)!.raw.push(rawMs);
    }
  }

  const all: ShapeTimes = { engine: [], raw: [] };
  const rows: string[][] = [];
  const slow: string[] = [];
  for (const shape of SHAPES) {
    const t = times.get(shape.name)!;
    if (!t.engine.length) {
      rows.push([shape.name, "0", "-", "-", "-", "-", "-", "- (no second page at this size)"]);
      continue;
    }
    const engine = [...t.engine].sort((a, b) => a - b);
    const rawSorted = [...t.raw].sort((a, b) => a - b);
    all.engine.push(...engine);
    all.raw.push(...rawSorted);
    const p99 = quantile(engine, 0.99);
    if (p99 > 5 || p99 > 2 * quantile(rawSorted, 0.99) + 1) slow.push(shape.name);
    rows.push([
      shape.name,
      String(engine.length),
      fmtMs(quantile(engine, 0.5)),
      fmtMs(p99),
      fmtMs(engine.at(-1)!),
      fmtMs(quantile(rawSorted, 0.5)),
      fmtMs(quantile(rawSorted, 0.99)),
      fmtRatio(p99 / quantile(rawSorted, 0.99)),
    ]);
  }
  all.engine.sort((a, b) => a - b);
  all.raw.sort((a, b) => a - b);
  rows.push([
    "ALL",
    String(all.engine.length),
    fmtMs(quantile(all.engine, 0.5)),
    fmtMs(quantile(all.engine, 0.99)),
    fmtMs(all.engine.at(-1)!),
    fmtMs(quantile(all.raw, 0.5)),
    fmtMs(quantile(all.raw, 0.99)),
    fmtRatio(quantile(all.engine, 0.99) / quantile(all.raw, 0.99)),
  ]);
  console.log(`\nFiltered list, limit ${LIMIT}, over ${big.sessions.toLocaleString("en-US")} sessions (engine: await manager.list, cold pool; raw floor: SELECT s.* … ORDER BY created_at DESC, id DESC LIMIT 51, prepared):`);
  console.log(table(["filter", "n", "eng p50", "eng p99", "eng max", "raw p50", "raw p99", "p99 eng/raw"], rows));

  // Query plans of every shape, so a slow one can be read against its plan.
  console.log("\nQuery plans (EXPLAIN QUERY PLAN; store = the SQL the store ran, floor = the raw peer's SQL when it differs):");
  const planRandom = rng(11);
  const explain = (sql: string, params: unknown[]): string => {
    try {
      return (raw.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...params) as { detail: string }[]).map((p) => p.detail).join(" | ");
    } catch (err) {
      return `(no plan: ${(err as Error).message})`;
    }
  };
  for (const shape of SHAPES) {
    const query = shape.draw(planRandom, big.newest);
    const params = [...query.params, ...(query.secondPage ? ["2026-11-01T00:00:00.000Z", "z"] : []), LIMIT + 1];
    const floorSql = rawSql(query.where, query.secondPage);
    const sql = storeSql.get(shape.name);
    const mark = slow.includes(shape.name) ? "  [SLOW]" : "";
    if (sql === undefined) {
      console.log(`  ${shape.name}${mark}: floor: ${explain(floorSql, params)}`);
      continue;
    }
    const storePlan = explain(sql, params);
    const floorPlan = explain(floorSql, params);
    console.log(`  ${shape.name}${mark}: store: ${storePlan}${floorPlan === storePlan ? "" : `\n    floor: ${floorPlan}`}`);
  }
  const listSql = [...new Set(storeSql.values())].find((sql) => !/WHERE/.test(sql));
  if (listSql) console.log(`  (the store's list SQL, unfiltered: ${listSql.replace(/\s+/g, " ")})`);
  raw.close();
  await manager.close();

  const p99 = quantile(all.engine, 0.99);
  const rawP99 = quantile(all.raw, 0.99);
  log(`list: overall p99 ${fmtMs(p99)} (raw ${fmtMs(rawP99)})${slow.length ? `; slow shapes: ${slow.join(", ")}` : ""}`);
  const worst = SHAPES.filter((s) => times.get(s.name)!.engine.length)
    .map((s) => ({ name: s.name, p99: quantile([...times.get(s.name)!.engine].sort((a, b) => a - b), 0.99) }))
    .sort((a, b) => b.p99 - a.p99)[0]!;
  const worstRaw = quantile([...times.get(worst.name)!.raw].sort((a, b) => a - b), 0.99);
  return [
    {
      name: `list limit 50 over ${Math.round(big.sessions / 1000)}k sessions, p99 all shapes`,
      measured: fmtMs(p99),
      peer: `raw SQL p99 ${fmtMs(rawP99)}`,
      ratio: fmtRatio(p99 / rawP99),
      target: "p99 ≤ 5 ms",
      pass: p99 <= 5,
    },
    {
      name: `list p99, worst shape: ${worst.name}`,
      measured: fmtMs(worst.p99),
      peer: `raw SQL p99 ${fmtMs(worstRaw)}`,
      ratio: fmtRatio(worst.p99 / worstRaw),
      target: "p99 ≤ 5 ms",
      pass: worst.p99 <= 5,
    },
  ];
}
