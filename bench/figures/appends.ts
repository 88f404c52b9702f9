import { tmpdir } from "node:os";
import type { JsonObject } from "../../src/core/index.js";
import { dataPaths } from "../../src/core/index.js";
import type { SessionManager } from "../../src/engine/index.js";
import { openSqliteStore } from "../../src/store/index.js";
import {
  type Figure,
  type Sizes,
  benchConfig,
  fmtRate,
  fmtRatio,
  log,
  msSince,
  openEngine,
  openRaw,
  storePragmas,
  tempDir,
} from "../lib.js";

/** The store's `sqliteSynchronous` setting. */
export type Synchronous = "full" | "normal";

const TOOLS = ["read_file", "write_file", "bash", "grep", "web_fetch"] as const;

/** A small tool-call-like event body (~100 bytes serialized), different per call. */
export function smallEventData(loop: number, i: number): JsonObject {
  return { tool: TOOLS[i % TOOLS.length], args: { path: `src/module-${loop}/file-${i % 97}.ts` }, ok: true, ms: i % 50 };
}

/** One timed run of appends. */
export interface AppendRun {
  readonly events: number;
  readonly ms: number;
  readonly perSecond: number;
}

/** One async loop per entry of `loops` (a session id), each awaiting `perLoop` appends in turn; the wall time in ms. */
export async function appendInLoops(manager: SessionManager, loops: readonly string[], perLoop: number): Promise<number> {
  const start = process.hrtime.bigint();
  await Promise.all(
    loops.map(async (id, loop) => {
      for (let i = 0; i < perLoop; i++) await manager.appendEvent(id, "note", smallEventData(loop, i));
    }),
  );
  return msSince(start);
}

/**
 * The engine: `sessions` sessions, one async loop per session, each awaiting
 * `appendEvent(id, "note", data)` until `total` events are appended; durable when awaited.
 */
export async function engineAppends(
  synchronous: Synchronous,
  sessions: number,
  total: number,
  appendersPerSession = 1,
): Promise<AppendRun> {
  const home = tempDir(`append-engine-${synchronous}`);
  const config = benchConfig(home, { sqliteSynchronous: synchronous });
  const { manager } = openEngine(config);
  const ids = (
    await Promise.all(Array.from({ length: sessions }, (_, i) => manager.create({ agent_id: `agent-${i}`, mode: "developer" })))
  ).map((s) => s.id);
  const perLoop = Math.ceil(total / sessions / appendersPerSession);
  const loops = ids.flatMap((id) => Array.from({ length: appendersPerSession }, () => id));
  const ms = await appendInLoops(manager, loops, perLoop);
  await manager.close();
  const events = perLoop * loops.length;
  // Check that every acknowledged event is really in the file.
  const db = openRaw(dataPaths(config).database);
  const stored = (db.prepare("SELECT count(*) AS n FROM events WHERE type = 'note'").get() as { n: number }).n;
  db.close();
  if (stored !== events) throw new Error(`engine appends: ${events} acknowledged but ${stored} stored`);
  return { events, ms, perSecond: (events / ms) * 1000 };
}

/**
 * The floor: raw better-sqlite3 on a fresh file with the same schema (made by opening the store
 * on it) and the same connection pragmas, inserting the same rows 100 per transaction.
 * `plain` inserts them into a table with no index instead (rows in arrival order): the floor of
 * the machine rather than of the schema.
 */
export function rawAppends(synchronous: Synchronous, sessions: number, total: number, plain = false, rowsPerTx = 100): AppendRun {
  const config = benchConfig(tempDir(`append-raw-${synchronous}`), { sqliteSynchronous: synchronous });
  openSqliteStore(config).sync!.close();
  const db = openRaw(dataPaths(config).database, storePragmas(config));
  const table = plain ? "plain_events" : "events";
  if (plain) db.exec("CREATE TABLE plain_events (skey INTEGER NOT NULL, seq INTEGER NOT NULL, ts TEXT NOT NULL, type TEXT NOT NULL, data TEXT NOT NULL)");
  const insert = db.prepare(`INSERT INTO ${table} (skey, seq, ts, type, data) VALUES (?, ?, ?, ?, ?)`);
  // Events refer to their session by its integer key, as the store writes them.
  const ids = Array.from({ length: sessions }, (_, i) => i + 1);
  const perLoop = Math.ceil(total / sessions);
  const events = perLoop * sessions;
  const insertMany = db.transaction((rows: readonly [number, number, string, string, string][]) => {
    for (const row of rows) insert.run(...row);
  });
  const start = process.hrtime.bigint();
  let rows: [number, number, string, string, string][] = [];
  // Same interleaving as the engine: round i appends event i of every session.
  for (let i = 0; i < perLoop; i++) {
    const ts = new Date().toISOString();
    for (let s = 0; s < sessions; s++) {
      rows.push([ids[s]!, i + 2, ts, "note", JSON.stringify(smallEventData(s, i))]);
      if (rows.length === rowsPerTx) {
        insertMany.immediate(rows);
        rows = [];
      }
    }
  }
  if (rows.length) insertMany.immediate(rows);
  const ms = msSince(start);
  db.close();
  return { events, ms, perSecond: (events / ms) * 1000 };
}

/** Figure 1's rows, and the engine rates figure 2 reuses. */
export interface AppendFigures {
  readonly figures: Figure[];
  /** Engine concurrent rate per synchronous mode, for the naive comparison. */
  readonly engineRate: Record<Synchronous, number>;
}

/** Sums runs made in alternating rounds into one rate. */
function combine(runs: readonly AppendRun[]): AppendRun {
  const events = runs.reduce((n, r) => n + r.events, 0);
  const ms = runs.reduce((n, r) => n + r.ms, 0);
  return { events, ms, perSecond: (events / ms) * 1000 };
}

/**
 * Figure 1: durable appends through the engine vs raw better-sqlite3, FULL and NORMAL. The total
 * is split in rounds that alternate raw and engine, so a burst of load from elsewhere on the
 * machine falls on both sides.
 */
export async function appendFigures(sizes: Sizes): Promise<AppendFigures> {
  const figures: Figure[] = [];
  log(`raw peers use the store's pragmas: ${storePragmas(benchConfig(tmpdir())).join(", ")}`);
  const engineRate = { full: 0, normal: 0 } as Record<Synchronous, number>;
  const perRound = Math.ceil(sizes.appendEvents / sizes.appendRounds);
  for (const sync of ["full", "normal"] as const) {
    const rawRuns: AppendRun[] = [];
    const engineRuns: AppendRun[] = [];
    for (let round = 0; round < sizes.appendRounds; round++) {
      rawRuns.push(rawAppends(sync, sizes.appendSessions, perRound));
      engineRuns.push(await engineAppends(sync, sizes.appendSessions, perRound));
    }
    const raw = combine(rawRuns);
    const engine = combine(engineRuns);
    const rounds = (runs: AppendRun[]) => runs.map((r) => fmtRate(r.perSecond, "")).join(", ");
    log(`raw ${sync}: ${fmtRate(raw.perSecond, " rows/s")} (${raw.events} rows in ${raw.ms.toFixed(0)} ms; rounds ${rounds(rawRuns)})`);
    log(`engine ${sync}: ${fmtRate(engine.perSecond, " events/s")} (${engine.events} events in ${engine.ms.toFixed(0)} ms; rounds ${rounds(engineRuns)})`);
    engineRate[sync] = engine.perSecond;
    const ratio = engine.perSecond / raw.perSecond;
    const absOk = engine.perSecond >= 50_000;
    const ratioOk = ratio >= 0.3;
    // The targets apply to the default configuration; sync=full is the power-loss-durable option.
    const isDefault = sync === "normal";
    figures.push({
      name: `appends, ${sizes.appendSessions} concurrent sessions, sync=${sync}${isDefault ? " (default)" : ""}`,
      measured: fmtRate(engine.perSecond, " ev/s"),
      peer: `raw 100/tx ${fmtRate(raw.perSecond, " rows/s")}`,
      ratio: fmtRatio(ratio),
      target: "≥0.30× raw; ≥50,000/s",
      pass: isDefault ? absOk && ratioOk : null,
      ...(absOk && ratioOk ? {} : { note: [ratioOk ? "" : "below 0.30× raw", absOk ? "" : "below 50,000/s"].filter(Boolean).join(", ") }),
    });
  }
  // Several appenders per session (an agent recording tool calls without awaiting each): more
  // events per session in each group commit, so each dirtied page carries more of them.
  const multiRaw: AppendRun[] = [];
  const multi: AppendRun[] = [];
  for (let round = 0; round < sizes.appendRounds; round++) {
    multiRaw.push(rawAppends("normal", sizes.appendSessions, perRound));
    multi.push(await engineAppends("normal", sizes.appendSessions, perRound, 4));
  }
  const multiRate = combine(multi).perSecond;
  const multiRawRate = combine(multiRaw).perSecond;
  log(`engine normal, 4 appenders per session: ${fmtRate(multiRate, " events/s")} (raw ${fmtRate(multiRawRate, " rows/s")})`);
  figures.push({
    name: `appends, ${sizes.appendSessions} sessions × 4 appenders each, sync=normal (default)`,
    measured: fmtRate(multiRate, " ev/s"),
    peer: `raw 100/tx ${fmtRate(multiRawRate, " rows/s")}`,
    ratio: fmtRatio(multiRate / multiRawRate),
    target: "≥0.30× raw; ≥50,000/s",
    pass: multiRate >= 50_000 && multiRate / multiRawRate >= 0.3,
  });
  const plain = rawAppends("full", sizes.appendSessions, perRound, true);
  log(`raw full into an index-less table: ${fmtRate(plain.perSecond, " rows/s")}`);
  const full = figures[0]!;
  figures.push({
    name: "  (floor of the machine: same rows, sync=full, table w/o index)",
    measured: full.measured,
    peer: `raw 100/tx ${fmtRate(plain.perSecond, " rows/s")}`,
    ratio: fmtRatio(engineRate.full / plain.perSecond),
    target: "info",
    pass: null,
  });
  return { figures, engineRate };
}
