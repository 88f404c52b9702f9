import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, writeFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import type { JsonObject } from "../../src/core/index.js";
import { type Figure, type Sizes, benchConfig, fmtRate, fmtRatio, log, msSince, openEngine, tempDir } from "../lib.js";
import { type Synchronous, rawAppends } from "./appends.js";

/** A realistic seed-004 history entry, ~150 bytes serialized. */
function naiveEvent(i: number): JsonObject {
  return {
    timestamp: new Date(Date.UTC(2026, 10, 23, 12, 0, 0, i * 37)).toISOString(),
    type: "tool_call",
    data: { tool: i % 3 ? "read_file" : "bash", args: { path: `src/engine/part-${i % 41}.ts` }, result: "ok", ms: i % 90 },
  };
}

/** The session object seed 004 keeps in `<dir>/session.json`, with `history` holding every event. */
function naiveSession(historyLength: number): JsonObject {
  return {
    id: "session_m3k2j1_a8b9c1",
    name: "developer-2026-11-23-a8b9c1d2",
    userId: "user-17",
    channelId: "channel-3",
    agentId: "agent-42",
    mode: "developer",
    task: "Refactor the session store and keep the tests green",
    workspace: "/home/agent/workspaces/developer-2026-11-23-a8b9c1d2",
    status: "active",
    createdAt: "2026-11-23T12:00:00.000Z",
    updatedAt: "2026-11-23T12:00:00.000Z",
    iterations: 12,
    maxIterations: 50,
    context: { goal: "refactor", files: ["src/store/index.ts", "src/engine/session-manager.ts"], step: 12 },
    history: Array.from({ length: historyLength }, (_, i) => naiveEvent(i)),
    metadata: { model: "sonnet", tokens: 123456, toolsUsed: ["read_file", "bash"] },
  };
}

/**
 * Seed 004's naive design: per appended event, read session.json, parse it, push, stringify and
 * rewrite it. Seed 004 does not fsync; `fsync` adds one to show what durability would cost it.
 */
function naiveAppends(historyLength: number, iterations: number, fsync: boolean): { perSecond: number; fileBytes: number } {
  const dir = join(tempDir(fsync ? "naive-fsync" : "naive"), "sessions", "session_m3k2j1_a8b9c1");
  mkdirSync(dir, { recursive: true });
  const file = join(dir, "session.json");
  writeFileSync(file, JSON.stringify(naiveSession(historyLength), null, 2));
  const start = process.hrtime.bigint();
  for (let i = 0; i < iterations; i++) {
    const session = JSON.parse(readFileSync(file, "utf8")) as { history: JsonObject[]; updatedAt: string };
    const event = naiveEvent(historyLength + i);
    session.history.push(event);
    session.updatedAt = event.timestamp as string;
    const text = JSON.stringify(session, null, 2);
    if (fsync) {
      const fd = openSync(file, "w");
      writeSync(fd, text);
      fsyncSync(fd);
      closeSync(fd);
    } else {
      writeFileSync(file, text);
    }
  }
  const ms = msSince(start);
  return { perSecond: (iterations / ms) * 1000, fileBytes: Buffer.byteLength(readFileSync(file)) };
}

/**
 * The engine on a session that already has `historyLength` events: one caller appending and
 * awaiting each append (durable), the like-for-like of seed 004's single writer.
 */
async function engineSequential(synchronous: Synchronous, historyLength: number, appends: number): Promise<number> {
  const config = benchConfig(tempDir(`naive-engine-${synchronous}`), { sqliteSynchronous: synchronous });
  const { manager } = openEngine(config);
  const session = await manager.create({ agent_id: "agent-42", user_id: "user-17", mode: "developer", task: "Refactor" });
  // History first: concurrent appends share group commits, so this is quick.
  await Promise.all(Array.from({ length: historyLength - 1 }, (_, i) => manager.appendEvent(session.id, "tool_call_like", naiveEvent(i))));
  if ((await manager.get(session.id)).last_seq !== historyLength) throw new Error("naive engine: history not in place");
  const start = process.hrtime.bigint();
  for (let i = 0; i < appends; i++) await manager.appendEvent(session.id, "tool_call_like", naiveEvent(historyLength + i));
  const ms = msSince(start);
  await manager.close();
  return (appends / ms) * 1000;
}

/**
 * Figure 2: the engine against seed 004's read-parse-rewrite-per-event design on a session with
 * 1,000 events. `concurrentRate` is figure 1's engine rate, shown against the same floor.
 */
export async function naiveFigures(sizes: Sizes, concurrentRate: Record<Synchronous, number>): Promise<Figure[]> {
  const naive = naiveAppends(sizes.naiveHistory, sizes.naiveIterations, false);
  log(`naive seed-004 (no fsync): ${fmtRate(naive.perSecond, " appends/s")}, session.json ${(naive.fileBytes / 1024).toFixed(0)} KiB`);
  const naiveFsync = naiveAppends(sizes.naiveHistory, Math.ceil(sizes.naiveIterations / 2), true);
  log(`naive seed-004 (fsync): ${fmtRate(naiveFsync.perSecond, " appends/s")}`);
  const seqFull = await engineSequential("full", sizes.naiveHistory, sizes.engineSequentialAppends);
  log(`engine sequential single caller, sync=full: ${fmtRate(seqFull, " appends/s")}`);
  const seqNormal = await engineSequential("normal", sizes.naiveHistory, sizes.engineSequentialAppends);
  log(`engine sequential single caller, sync=normal: ${fmtRate(seqNormal, " appends/s")}`);
  // The floor of a single durable writer: one row per transaction, one fsync each under FULL.
  const rawFull = rawAppends("full", 1, Math.min(sizes.engineSequentialAppends, 2_000), false, 1);
  const rawNormal = rawAppends("normal", 1, sizes.engineSequentialAppends, false, 1);
  log(`raw 1 row/tx, one session: sync=full ${fmtRate(rawFull.perSecond, " rows/s")}, sync=normal ${fmtRate(rawNormal.perSecond, " rows/s")}`);
  const row = (name: string, measured: number, floor: number, floorName: string, verdict: boolean): Figure => {
    const ratio = measured / floor;
    return {
      name,
      measured: fmtRate(measured, " ev/s"),
      peer: `${floorName} ${fmtRate(floor, "/s")}`,
      ratio: fmtRatio(ratio),
      target: "≥100× naive",
      pass: verdict ? ratio >= 100 : null,
    };
  };
  return [
    // The default (synchronous=normal) is durable against kill -9, as seed 004's writes are not
    // even that; sync=full adds power-loss durability and is shown beside a naive design that
    // fsyncs too.
    row("vs seed-004 naive: 1 caller, sync=normal (default)", seqNormal, naive.perSecond, "naive", true),
    row("vs seed-004 naive: 100 callers, sync=normal (default)", concurrentRate.normal, naive.perSecond, "naive", true),
    row("vs seed-004 naive+fsync: 1 caller, sync=full", seqFull, naiveFsync.perSecond, "naive+fsync", false),
    row("vs seed-004 naive: 1 caller, sync=full", seqFull, naive.perSecond, "naive", false),
    {
      name: "  (1 caller, sync=full vs raw 1 row/tx: the fsync floor)",
      measured: fmtRate(seqFull, " ev/s"),
      peer: `raw 1/tx ${fmtRate(rawFull.perSecond, " rows/s")}`,
      ratio: fmtRatio(seqFull / rawFull.perSecond),
      target: "info",
      pass: null,
      note: `floor/naive = ${fmtRatio(rawFull.perSecond / naive.perSecond)}`,
    },
    {
      name: "  (1 caller, sync=normal vs raw 1 row/tx)",
      measured: fmtRate(seqNormal, " ev/s"),
      peer: `raw 1/tx ${fmtRate(rawNormal.perSecond, " rows/s")}`,
      ratio: fmtRatio(seqNormal / rawNormal.perSecond),
      target: "info",
      pass: null,
    },
  ];
}
