/**
 * Issue 21's figures for a live interpreter's environment (docs/checkpoints.md), measured
 * in-process through LiveSessions on a python session with 50 cells, each beside the start of a
 * fresh python session in the same run, interleaved round by round:
 *
 *   - restore of a checkpoint taken after the 50 cells (the interpreter stopped, a fresh one
 *     replaying the 50 cells, the restore and rebuild events written);
 *   - undo of a 51st cell (a fresh interpreter replaying the 50 before it);
 *   - wake from hibernation: the first exec after the session was hibernated (process start,
 *     replay of the 50 cells, then the exec), as its caller waits for it;
 *   - memory of hibernated sessions against live ones: the server's heap per hibernated session
 *     (1,000 of them: the first hibernated through the API, the rest marked as a restart finds
 *     them, every one able to wake), against the resident memory of a live python session's
 *     processes (measured on `--live` sessions, 20 by default, and multiplied out to 1,000: this
 *     2-core machine cannot hold a thousand interpreters, and maxLiveSessions stops at 256).
 *
 * Run with `npm run bench:environment` (`--quick` for a smoke run, `--json` for machine-readable
 * output). Node is started with --expose-gc so the heap is measured after a collection.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { type Config, type Session, resolveConfig } from "../src/core/index.js";
import { LiveSessions } from "../src/drivers/index.js";
import { listProcesses } from "../src/drivers/process-tree.js";
import { SessionManager } from "../src/engine/index.js";
import { openSqliteStore } from "../src/store/index.js";
import { type Figure, printFigures } from "./lib.js";

const CELLS = 50;

export interface Latency {
  readonly n: number;
  readonly p50: number;
  readonly p90: number;
}

export interface EnvironmentBenchResult {
  readonly figures: Figure[];
  readonly latency: Readonly<Record<"restore" | "undo" | "wake" | "freshStart", Latency>>;
  readonly memory: { readonly hibernated: number; readonly heapPerHibernatedBytes: number; readonly live: number; readonly rssPerLiveBytes: number };
}

/** Runs the benchmark; `quick` for a smoke run. */
export async function benchEnvironment(options: { quick?: boolean; live?: number } = {}): Promise<EnvironmentBenchResult> {
  const rounds = options.quick ? 2 : 5;
  const per = options.quick ? 2 : 4;
  const hibernatedCount = options.quick ? 100 : 1000;
  const liveCount = options.live ?? (options.quick ? 5 : 20);
  const engine = await Engine.open();
  const samples = { restore: [] as number[], undo: [] as number[], wake: [] as number[], freshStart: [] as number[] };
  let memory: EnvironmentBenchResult["memory"];
  try {
    const session = await engine.live.start({ kind: "python" });
    await engine.exec(session.id, "import math, json, os");
    for (let i = 1; i < CELLS; i++) await engine.exec(session.id, `v${i} = ${i} * 2\ndef f${i}(x):\n    return x + v${i}`);
    const checkpoint = await engine.manager.createCheckpoint(session.id, { label: "50 cells" });
    // Warm up each path once.
    await engine.restore(session.id, checkpoint.id);
    await engine.undoOne(session.id);
    await engine.wake(session.id);
    await engine.freshStart();
    for (let round = 0; round < rounds; round++) {
      for (let i = 0; i < per; i++) samples.restore.push(await engine.restore(session.id, checkpoint.id));
      for (let i = 0; i < per; i++) samples.undo.push(await engine.undoOne(session.id));
      for (let i = 0; i < per; i++) samples.wake.push(await engine.wake(session.id));
      for (let i = 0; i < per; i++) samples.freshStart.push(await engine.freshStart());
    }
    const check = await engine.live.exec(session.id, "f49(1) + math.floor(math.pi)");
    if (check.stdout !== "102\n") throw new Error(`the rebuilt session lost its state: ${JSON.stringify(check)}`);
    await engine.live.stop(session.id);
    memory = await engine.memory(hibernatedCount, liveCount);
  } finally {
    await engine.close();
  }
  const latency = {
    restore: percentiles(samples.restore),
    undo: percentiles(samples.undo),
    wake: percentiles(samples.wake),
    freshStart: percentiles(samples.freshStart),
  };
  return { figures: figures(latency, memory), latency, memory };
}

function figures(l: EnvironmentBenchResult["latency"], m: EnvironmentBenchResult["memory"]): Figure[] {
  const ms = (x: number) => `${x.toFixed(1)} ms`;
  const full = (lat: Latency) => `p50 ${ms(lat.p50)} (p90 ${ms(lat.p90)}, n=${lat.n})`;
  const fresh = `a fresh python session's start p50 ${ms(l.freshStart.p50)}`;
  const kb = (bytes: number) => `${(bytes / 1024).toFixed(1)} KiB`;
  const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
  return [
    {
      name: `restore of a checkpoint after ${CELLS} python cells (fresh interpreter + replay)`,
      measured: full(l.restore),
      peer: fresh,
      ratio: `${(l.restore.p50 / l.freshStart.p50).toFixed(2)}× a fresh start`,
      target: "beside a fresh python session's start",
      pass: null,
    },
    {
      name: `undo of the 51st cell (fresh interpreter + replay of ${CELLS})`,
      measured: full(l.undo),
      peer: fresh,
      ratio: `${(l.undo.p50 / l.freshStart.p50).toFixed(2)}× a fresh start`,
      target: "beside a fresh python session's start",
      pass: null,
    },
    {
      name: `wake from hibernation: the first exec after it (replay of ${CELLS} cells included)`,
      measured: full(l.wake),
      peer: fresh,
      ratio: `${(l.wake.p50 / l.freshStart.p50).toFixed(2)}× a fresh start`,
      target: "beside a fresh python session's start",
      pass: null,
    },
    {
      name: `memory: ${m.hibernated} hibernated sessions vs as many live python sessions`,
      measured: `hibernated: ${kb(m.heapPerHibernatedBytes)} of server heap each, ${mib(m.heapPerHibernatedBytes * 1000)} per 1,000; no process`,
      peer: `live: ${mib(m.rssPerLiveBytes)} resident each (measured on ${m.live}), ${((m.rssPerLiveBytes * 1000) / 1024 / 1024 / 1024).toFixed(2)} GiB per 1,000`,
      ratio: `${(m.rssPerLiveBytes / Math.max(1, m.heapPerHibernatedBytes)).toFixed(0)}× less per session`,
      target: "hibernated sessions hold no process",
      pass: null,
    },
  ];
}

/** A SessionManager on a temp SQLite store, with LiveSessions over it. */
class Engine {
  private constructor(
    readonly home: string,
    readonly config: Config,
    readonly manager: SessionManager,
    public live: LiveSessions,
  ) {}

  static async open(): Promise<Engine> {
    const home = mkdtempSync(join(tmpdir(), "sessiond-bench-env-"));
    const config: Config = resolveConfig({ env: { HOME: home }, flags: { home, enableSessions: true, logLevel: "silent", maxLiveSessions: 1024 } });
    const manager = new SessionManager({ store: openSqliteStore(config), config });
    return new Engine(home, config, manager, new LiveSessions({ manager, config }));
  }

  async exec(id: string, input: string): Promise<void> {
    const result = await this.live.exec(id, input);
    if (result.status !== "ok") throw new Error(`exec failed: ${JSON.stringify(result)}`);
  }

  async restore(id: string, checkpointId: string): Promise<number> {
    const started = performance.now();
    const { rebuild } = await this.live.rebuildAround(id, "restore", () => this.manager.restore(id, checkpointId));
    const took = performance.now() - started;
    if (rebuild?.replayed !== CELLS || rebuild.failed.length) throw new Error(`restore did not replay ${CELLS} cells: ${JSON.stringify(rebuild)}`);
    return took;
  }

  async undoOne(id: string): Promise<number> {
    await this.exec(id, "extra = 1");
    const started = performance.now();
    const undone = await this.live.undo(id);
    const took = performance.now() - started;
    if (undone.rebuild?.replayed !== CELLS) throw new Error(`undo did not replay ${CELLS} cells: ${JSON.stringify(undone)}`);
    return took;
  }

  async wake(id: string): Promise<number> {
    await this.live.hibernate(id);
    const started = performance.now();
    const result = await this.live.exec(id, "v1");
    const took = performance.now() - started;
    if (result.woke?.replayed !== CELLS || result.stdout !== "2\n") throw new Error(`wake did not replay ${CELLS} cells: ${JSON.stringify(result)}`);
    // Back to the 50 cells (untimed): the next wake replays as many.
    await this.live.undo(id);
    return took;
  }

  async freshStart(): Promise<number> {
    const started = performance.now();
    const session = await this.live.start({ kind: "python" });
    const took = performance.now() - started;
    await this.live.stop(session.id);
    return took;
  }

  /**
   * Heap per hibernated session (the first hibernated for real, the others marked the same way,
   * found by a restarted LiveSessions as a server restart finds them), and resident memory per
   * live python session.
   */
  async memory(hibernated: number, liveCount: number): Promise<EnvironmentBenchResult["memory"]> {
    const first = await this.live.start({ kind: "python" });
    await this.exec(first.id, "x = 1");
    const asleep = await this.live.hibernate(first.id);
    const mark = asleep.runtime_metadata.hibernated;
    const before = heap();
    const made: Session[] = [];
    for (let i = 1; i < hibernated; i++) {
      made.push(await this.manager.create({ kind: "python", mode: "python", runtime_backend: "local", runtime_metadata: { hibernated: mark } }));
    }
    // A restarted LiveSessions finds them all: hibernated, not orphans.
    await this.live.close();
    this.live = new LiveSessions({ manager: this.manager, config: this.config });
    const crashed = await this.live.markOrphansCrashed();
    if (crashed.length) throw new Error(`${crashed.length} hibernated sessions were taken for orphans`);
    const listed = this.live.list().length;
    if (listed !== hibernated) throw new Error(`the live list shows ${listed} hibernated sessions, not ${hibernated}`);
    const after = heap();
    const heapPer = Math.max(0, (after - before) / hibernated);
    // One of the marked ones wakes (into an empty interpreter: its history has no cell).
    const woke = await this.live.exec(made[made.length - 1]!.id, "1 + 1");
    if (!woke.woke || woke.stdout !== "2\n") throw new Error(`a hibernated session did not wake: ${JSON.stringify(woke)}`);
    await this.live.stop(made[made.length - 1]!.id);

    const live: Session[] = [];
    for (let i = 0; i < liveCount; i++) {
      const s = await this.live.start({ kind: "python" });
      await this.exec(s.id, "x = 1");
      live.push(s);
    }
    let rss = 0;
    const all = listProcesses();
    for (const s of live) {
      const pid = this.live.describe(s.id)!.pid!;
      const session = all.find((p) => p.pid === pid)?.session;
      for (const p of all) if (p.pid === pid || (session !== undefined && p.session === session)) rss += residentBytes(p.pid);
    }
    for (const s of live) await this.live.stop(s.id);
    return { hibernated, heapPerHibernatedBytes: heapPer, live: liveCount, rssPerLiveBytes: rss / liveCount };
  }

  async close(): Promise<void> {
    await this.live.close();
    await this.manager.close();
    rmSync(this.home, { recursive: true, force: true });
  }
}

function heap(): number {
  (globalThis as { gc?: () => void }).gc?.();
  return process.memoryUsage().heapUsed;
}

function residentBytes(pid: number): number {
  try {
    const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return match ? Number(match[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

function percentiles(samples: number[]): Latency {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;
  return { n: sorted.length, p50: at(0.5), p90: at(0.9) };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const liveArg = process.argv.find((a) => a.startsWith("--live="));
  const result = await benchEnvironment({ quick: process.argv.includes("--quick"), ...(liveArg ? { live: Number(liveArg.slice(7)) } : {}) });
  if (process.argv.includes("--json")) console.log(JSON.stringify(result, null, 2));
  else printFigures(result.figures);
}
