/**
 * The LangGraph saver's figures: SessiondSaver (sessiond/langgraph, embedded: the engine in this
 * process on a SQLite data dir) beside @langchain/langgraph-checkpoint-sqlite's SqliteSaver on a
 * temp file, measured in the same run, at the same durability.
 *
 * Durability: sessiond's SQLite store runs WAL with `synchronous` from config `sqliteSynchronous`
 * (default `normal`: an acknowledged write survives kill -9, the newest may be lost to a power
 * failure). SqliteSaver sets WAL and leaves `synchronous` alone, which better-sqlite3's build
 * makes NORMAL in WAL mode (SQLITE_DEFAULT_WAL_SYNCHRONOUS=1; checked below): the same. Each
 * figure is also taken at FULL (every commit fsynced, survives power loss): sessiond with
 * `sqliteSynchronous: "full"`, SqliteSaver's connection given `synchronous = FULL`.
 *
 * 1. put + getTuple per operation: a thread's next checkpoint (a chat-like state: the last 20
 *    messages of ~100 bytes and a step counter, both changed each time) put, then the thread's
 *    latest checkpoint read back, one after the other as LangGraph's loop does. Within a round the
 *    two savers take turns every SLICE pairs, so that both run under the same load of the machine
 *    (a shared one swings within a second); the medians of the rounds are reported. Target:
 *    sessiond at least as fast per operation.
 * 2. A 100-step StateGraph run end to end (one node looping on itself until its counter reaches
 *    100; LangGraph's default durability), with each saver: the median of several runs.
 *
 *   npx tsx bench/langgraph.ts [--ops=2000] [--rounds=3] [--steps=100] [--graph-runs=5] [--quick]
 */
import { join } from "node:path";
import { Annotation, END, START, StateGraph } from "@langchain/langgraph";
import { type BaseCheckpointSaver, type Checkpoint, emptyCheckpoint, uuid6 } from "@langchain/langgraph-checkpoint";
import { SqliteSaver } from "@langchain/langgraph-checkpoint-sqlite";
import Database from "better-sqlite3";
import { SessiondSaver } from "../src/adapters/langgraph/index.js";
import type { SessionManager } from "../src/engine/index.js";
import { type Figure, benchConfig, cleanupTemp, fmtMs, fmtRatio, log, median, msSince, openEngine, printFigures, table, tempDir } from "./lib.js";
import { parseArgs } from "./servers.js";

const args = parseArgs();
const quick = "quick" in args;
const OPS = Number(args.ops ?? (quick ? 300 : 2000));
const ROUNDS = Number(args.rounds ?? (quick ? 1 : 3));
const STEPS = Number(args.steps ?? 100);
const GRAPH_RUNS = Number(args["graph-runs"] ?? (quick ? 2 : 5));
/** Pairs one saver runs before the other takes its turn, within a round. */
const SLICE = 50;

type Durability = "normal" | "full";

interface Peer {
  saver: BaseCheckpointSaver;
  close(): Promise<void>;
}

function sessiondPeer(durability: Durability): Peer & { manager: SessionManager } {
  const { manager } = openEngine(benchConfig(tempDir("langgraph"), { sqliteSynchronous: durability, logLevel: "warn" }));
  return { manager, saver: new SessiondSaver({ manager }), close: () => manager.close() };
}

/**
 * The floor under SessiondSaver's put: one engine append of the same size, awaited, with no
 * saver around it (what a put costs beyond it is the serde's work and the saver's own). Its data
 * is handed over as the saver hands its own (appendBuiltEvent: no defensive copy).
 */
async function appendFloorUs(manager: SessionManager, ops: number): Promise<number> {
  const session = await manager.create({ agent_id: "bench", type: "langgraph" });
  const text = JSON.stringify(nextCheckpoint(20).checkpoint);
  const start = process.hrtime.bigint();
  for (let i = 0; i < ops; i++) await manager.appendBuiltEvent(session.id, "langgraph.checkpoint", { text });
  return (msSince(start) * 1000) / ops;
}

async function sqlitePeer(durability: Durability): Promise<Peer> {
  const db = new Database(join(tempDir("langgraph-sqlite"), "checkpoints.db"));
  const saver = new SqliteSaver(db);
  // Its first call runs its setup: journal_mode = WAL and its tables, as it ships.
  await saver.getTuple({ configurable: { thread_id: "setup" } });
  if (durability === "full") db.pragma("synchronous = FULL");
  const actual = db.pragma("synchronous", { simple: true });
  if (actual !== (durability === "normal" ? 1 : 2)) throw new Error(`SqliteSaver's connection is at synchronous=${actual}`);
  return {
    saver,
    close: async () => {
      db.close();
    },
  };
}

const MESSAGE = "m".repeat(100);

/** The i-th checkpoint of a chat-like thread: what changed is in newVersions, as LangGraph puts it. */
function nextCheckpoint(i: number): { checkpoint: Checkpoint; newVersions: Record<string, number> } {
  const messages = Array.from({ length: Math.min(20, i + 1) }, (_, k) => `${MESSAGE}${i - k}`);
  return {
    checkpoint: { ...emptyCheckpoint(), id: uuid6(-1), channel_values: { messages, step: i }, channel_versions: { messages: i + 1, step: i + 1 }, versions_seen: { agent: { messages: i } } },
    newVersions: { messages: i + 1, step: i + 1 },
  };
}

interface PairTimes {
  putUs: number;
  getUs: number;
  pairUs: number;
}

/** put + getTuple pairs on one new thread, run a slice at a time; the times are summed as it goes. */
class PairRun {
  private readonly thread = `bench-${uuid6(-1)}`;
  private config = { configurable: { thread_id: this.thread, checkpoint_ns: "" } } as Parameters<BaseCheckpointSaver["put"]>[0];
  private done = 0;
  private putNs = 0n;
  private getNs = 0n;

  constructor(private readonly peer: Peer) {}

  async run(pairs: number): Promise<void> {
    for (const end = this.done + pairs; this.done < end; this.done++) {
      const i = this.done;
      const { checkpoint, newVersions } = nextCheckpoint(i);
      const t0 = process.hrtime.bigint();
      this.config = await this.peer.saver.put(this.config, checkpoint, { source: "loop", step: i, parents: {} }, newVersions);
      const t1 = process.hrtime.bigint();
      const tuple = await this.peer.saver.getTuple({ configurable: { thread_id: this.thread } });
      this.getNs += process.hrtime.bigint() - t1;
      this.putNs += t1 - t0;
      if (tuple?.checkpoint.id !== checkpoint.id || (tuple.checkpoint.channel_values as { step: number }).step !== i) throw new Error("read back another checkpoint");
    }
  }

  /** Microseconds per put, per getTuple and per pair. */
  get times(): PairTimes {
    const us = (ns: bigint) => Number(ns) / 1000 / this.done;
    return { putUs: us(this.putNs), getUs: us(this.getNs), pairUs: us(this.putNs + this.getNs) };
  }
}

/** `ops` pairs with each saver on a new thread each, the savers taking turns every SLICE pairs. */
async function putAndGetTurns(peers: readonly Peer[], ops: number): Promise<PairTimes[]> {
  const runs = peers.map((peer) => new PairRun(peer));
  for (let done = 0; done < ops; done += SLICE) {
    for (const run of runs) await run.run(Math.min(SLICE, ops - done));
  }
  return runs.map((run) => run.times);
}

const State = Annotation.Root({ count: Annotation<number>({ reducer: (_, b) => b, default: () => 0 }) });

/** A graph of one node that loops on itself `steps` times, each step checkpointed. */
function loopGraph(saver: BaseCheckpointSaver, steps: number) {
  return new StateGraph(State)
    .addNode("step", (s: typeof State.State) => ({ count: s.count + 1 }))
    .addEdge(START, "step")
    .addConditionalEdges("step", (s: typeof State.State) => (s.count >= steps ? END : "step"))
    .compile({ checkpointer: saver });
}

async function graphRunMs(peer: Peer, steps: number): Promise<number> {
  const graph = loopGraph(peer.saver, steps);
  const start = process.hrtime.bigint();
  const out = await graph.invoke({ count: 0 }, { configurable: { thread_id: `graph-${uuid6(-1)}` }, recursionLimit: steps + 10 });
  const ms = msSince(start);
  if (out.count !== steps) throw new Error(`the graph stopped at ${out.count}`);
  return ms;
}

const us = (value: number) => `${value.toFixed(0)} µs`;

async function main(): Promise<void> {
  const figures: Figure[] = [];
  const rows: string[][] = [];
  for (const durability of ["normal", "full"] as const) {
    const ours = sessiondPeer(durability);
    const theirs = await sqlitePeer(durability);
    // Warm-up: JIT, statement caches, the first thread's session.
    await putAndGetTurns([ours, theirs], 100);
    const mine: PairTimes[] = [];
    const peer: PairTimes[] = [];
    const floor: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      log(`put + getTuple, synchronous=${durability}, round ${round + 1}/${ROUNDS}: ${OPS} pairs each, in turns of ${SLICE}`);
      const [m, p] = await putAndGetTurns([ours, theirs], OPS);
      mine.push(m!);
      peer.push(p!);
      floor.push(await appendFloorUs(ours.manager, OPS));
    }
    const m = (xs: typeof mine, k: keyof (typeof mine)[number]) => median(xs.map((x) => x[k]));
    rows.push([`synchronous=${durability}${durability === "normal" ? " (both as shipped)" : ""}`, "SessiondSaver", us(m(mine, "putUs")), us(m(mine, "getUs")), us(m(mine, "pairUs"))]);
    rows.push(["", "SqliteSaver", us(m(peer, "putUs")), us(m(peer, "getUs")), us(m(peer, "pairUs"))]);
    rows.push(["", "(sessiond appendEvent alone)", us(median(floor)), "", ""]);
    figures.push({
      name: `LangGraph put + getTuple per operation, embedded, both at synchronous=${durability.toUpperCase()}`,
      measured: `${us(m(mine, "pairUs"))} (put ${us(m(mine, "putUs"))}, getTuple ${us(m(mine, "getUs"))})`,
      peer: `SqliteSaver ${us(m(peer, "pairUs"))} (put ${us(m(peer, "putUs"))}, getTuple ${us(m(peer, "getUs"))})`,
      ratio: fmtRatio(m(mine, "pairUs") / m(peer, "pairUs")),
      target: "at least as fast per operation (ratio ≤ 1×)",
      pass: m(mine, "pairUs") <= m(peer, "pairUs"),
      note: `the engine's own awaited append of a checkpoint-sized event: ${us(median(floor))}`,
    });

    log(`${STEPS}-step graph, synchronous=${durability}: ${GRAPH_RUNS} runs each`);
    await graphRunMs(ours, 5);
    await graphRunMs(theirs, 5);
    const oursMs: number[] = [];
    const theirsMs: number[] = [];
    for (let run = 0; run < GRAPH_RUNS; run++) {
      oursMs.push(await graphRunMs(ours, STEPS));
      theirsMs.push(await graphRunMs(theirs, STEPS));
    }
    figures.push({
      name: `A ${STEPS}-step StateGraph run end to end, embedded, both at synchronous=${durability.toUpperCase()}`,
      measured: fmtMs(median(oursMs)),
      peer: `SqliteSaver ${fmtMs(median(theirsMs))}`,
      ratio: fmtRatio(median(oursMs) / median(theirsMs)),
      target: "informational (the issue asks for the figure with each saver)",
      pass: null,
    });
    await ours.close();
    await theirs.close();
  }
  console.log(table(["durability", "saver", "put", "getTuple", "put + getTuple"], rows));
  console.log();
  printFigures(figures);
}

main()
  .catch((err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  })
  .finally(cleanupTemp);
