import pg from "pg";
import { resolveConfig } from "../../src/core/index.js";
import { SessionManager } from "../../src/engine/index.js";
import { openPostgresStore } from "../../src/store/postgres/index.js";
import { createTestSchema } from "../../test/helpers/postgres.js";
import { SERVICES, isReachable } from "../../test/helpers/services.js";
import { type Figure, type Sizes, fmtRate, fmtRatio, log, msSince, tempDir } from "../lib.js";
import { type AppendRun, appendInLoops, smallEventData } from "./appends.js";

/**
 * The PostgreSQL store's appends: durable appends through the engine (one loop per session, as
 * figure 1 on SQLite), beside the floor of raw `pg` inserting the same rows into the same table
 * 100 per transaction, in alternating rounds of the same run. No issue sets a PostgreSQL
 * target, so the figure is informational. Skipped, saying why, when PostgreSQL is unreachable.
 */
export async function postgresFigures(sizes: Sizes): Promise<Figure[]> {
  const { host, port, url } = SERVICES.postgres;
  if (!(await isReachable(port, host))) {
    log(`postgres: skipped, nothing answers on ${host}:${port} (${url})`);
    return [];
  }
  // Half of figure 1's total: PostgreSQL is slower per row, and the figure is informational.
  const total = Math.ceil(sizes.appendEvents / 2);
  const perRound = Math.ceil(total / sizes.appendRounds);
  const engineRuns: AppendRun[] = [];
  const rawRuns: AppendRun[] = [];
  for (let round = 0; round < sizes.appendRounds; round++) {
    rawRuns.push(await rawPgAppends(sizes.appendSessions, perRound));
    engineRuns.push(await enginePgAppends(sizes.appendSessions, perRound));
  }
  const rate = (runs: AppendRun[]) => (runs.reduce((n, r) => n + r.events, 0) / runs.reduce((n, r) => n + r.ms, 0)) * 1000;
  const engine = rate(engineRuns);
  const raw = rate(rawRuns);
  log(`postgres: engine ${fmtRate(engine, " events/s")}, raw pg 100/tx ${fmtRate(raw, " rows/s")}`);
  return [
    {
      name: `appends on PostgreSQL, ${sizes.appendSessions} concurrent sessions`,
      measured: fmtRate(engine, " ev/s"),
      peer: `raw pg 100/tx ${fmtRate(raw, " rows/s")}`,
      ratio: fmtRatio(engine / raw),
      target: "info",
      pass: null,
    },
  ];
}

/** The engine on a fresh PostgreSQL schema: one awaiting loop per session; every acknowledged event is checked in the table. */
async function enginePgAppends(sessions: number, total: number): Promise<AppendRun> {
  const schema = await createTestSchema();
  try {
    const home = tempDir("append-pg");
    const config = resolveConfig({ env: { HOME: home }, flags: { home, store: "postgres", pgUrl: schema.url } });
    const store = await openPostgresStore({ url: schema.url });
    const manager = new SessionManager({ store, config });
    const ids = (await Promise.all(Array.from({ length: sessions }, (_, i) => manager.create({ agent_id: `agent-${i}` })))).map((s) => s.id);
    const perLoop = Math.ceil(total / sessions);
    const ms = await appendInLoops(manager, ids, perLoop);
    await manager.close();
    await store.close();
    const events = perLoop * sessions;
    const stored = await count(schema.url, "SELECT count(*) AS n FROM events WHERE type = 'note'");
    if (stored !== events) throw new Error(`postgres appends: ${events} acknowledged but ${stored} stored`);
    return { events, ms, perSecond: (events / ms) * 1000 };
  } finally {
    await schema.drop();
  }
}

/** The floor: raw `pg` on a migrated schema, the same rows in the same interleaving, one multi-row INSERT per 100. */
async function rawPgAppends(sessions: number, total: number): Promise<AppendRun> {
  const schema = await createTestSchema();
  try {
    await (await openPostgresStore({ url: schema.url })).close();
    const pool = new pg.Pool({ connectionString: schema.url, max: 1 });
    const perLoop = Math.ceil(total / sessions);
    const start = process.hrtime.bigint();
    let rows: unknown[][] = [];
    const flush = async () => {
      const client = await pool.connect();
      try {
        await client.query("BEGIN");
        await client.query(
          `INSERT INTO events (skey, seq, ts, type, data) VALUES ${rows.map((_, r) => `(${[1, 2, 3, 4, 5].map((c) => `$${r * 5 + c}`).join(", ")})`).join(", ")}`,
          rows.flat(),
        );
        await client.query("COMMIT");
      } finally {
        client.release();
      }
      rows = [];
    };
    for (let i = 0; i < perLoop; i++) {
      const ts = new Date().toISOString();
      for (let s = 0; s < sessions; s++) {
        rows.push([s + 1, i + 2, ts, "note", JSON.stringify(smallEventData(s, i))]);
        if (rows.length === 100) await flush();
      }
    }
    if (rows.length) await flush();
    const ms = msSince(start);
    await pool.end();
    const events = perLoop * sessions;
    return { events, ms, perSecond: (events / ms) * 1000 };
  } finally {
    await schema.drop();
  }
}

async function count(url: string, sql: string): Promise<number> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return Number((await client.query<{ n: string }>(sql)).rows[0]!.n);
  } finally {
    await client.end();
  }
}
