/**
 * Issue 7's speed figures, measured in-process through LiveSessions (each exec's `exec` event
 * persisted, as the routes see it), beside the cost of a fresh interpreter per cell measured in
 * the same run, interleaved round by round:
 *
 *   - python `x += 1` round trip: p50 ≤ 1 ms, beside spawning `python3 -c 'x = 0; x += 1'`;
 *   - a python session ready ≤ 150 ms after start (LiveSessions.start → active with its helper
 *     ready), beside the same spawn;
 *   - typescript cell round trip (`x += 1`, transpiled by esbuild, run in the vm context): p50 ≤ 2 ms,
 *     beside spawning `node -e 'let x = 0; x += 1'`;
 *   - the same cell in a type-checked session (start option `typecheck`: the helper's warm
 *     LanguageService checks it against the cells before it first), beside the unchecked one.
 *
 * The peers run the real interpreter binary (pyenv's shim alone costs more than a second here; the
 * driver resolves it once per server too). Run with `npm run bench:interpreters` (`--quick` for a
 * smoke run, `--json` for machine-readable output).
 */
import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { type Config, resolveConfig } from "../src/core/index.js";
import { LiveSessions } from "../src/drivers/index.js";
import { SessionManager } from "../src/engine/index.js";
import { openSqliteStore } from "../src/store/index.js";
import { type Figure, printFigures } from "./lib.js";

/** Latency percentiles in milliseconds. */
export interface Latency {
  readonly n: number;
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
}

export interface InterpretersBenchResult {
  readonly figures: Figure[];
  readonly latency: Readonly<Record<"pythonExec" | "pythonReady" | "pythonSpawn" | "tsExec" | "tsCheckedExec" | "nodeSpawn", Latency>>;
}

/** Runs the benchmark; `quick` for a smoke run. */
export async function benchInterpreters(options: { quick?: boolean } = {}): Promise<InterpretersBenchResult> {
  const rounds = options.quick ? 2 : 5;
  const per = options.quick ? { exec: 200, checked: 20, starts: 4, spawn: 10 } : { exec: 1000, checked: 100, starts: 10, spawn: 40 };
  const python = execFileSync("python3", ["-c", "import sys; sys.stdout.write(sys.executable)"], { encoding: "utf8" });
  const engine = await Engine.open();
  const samples = {
    pythonExec: [] as number[],
    pythonReady: [] as number[],
    pythonSpawn: [] as number[],
    tsExec: [] as number[],
    tsCheckedExec: [] as number[],
    nodeSpawn: [] as number[],
  };
  try {
    const py = await engine.start("python", "x = 0");
    const ts = await engine.start("typescript", "let x = 0");
    const checked = await engine.start("typescript", "let x = 0", { typecheck: true });
    // Warm up every path (JIT, page cache, esbuild's service, the interpreters' first cells, the checker).
    await engine.execLoop(py, "x += 1", 200);
    await engine.execLoop(ts, "x += 1", 200);
    await engine.execLoop(checked, "x += 1", 20);
    await engine.readyLoop(1);
    await spawnLoop(python, ["-c", "x = 0; x += 1"], 3);
    await spawnLoop(process.execPath, ["-e", "let x = 0; x += 1"], 3);
    for (let round = 0; round < rounds; round++) {
      samples.pythonExec.push(...(await engine.execLoop(py, "x += 1", per.exec)));
      samples.pythonSpawn.push(...(await spawnLoop(python, ["-c", "x = 0; x += 1"], per.spawn)));
      samples.tsExec.push(...(await engine.execLoop(ts, "x += 1", per.exec)));
      samples.tsCheckedExec.push(...(await engine.execLoop(checked, "x += 1", per.checked)));
      samples.nodeSpawn.push(...(await spawnLoop(process.execPath, ["-e", "let x = 0; x += 1"], per.spawn)));
      samples.pythonReady.push(...(await engine.readyLoop(per.starts)));
    }
  } finally {
    await engine.close();
  }
  const latency = {
    pythonExec: percentiles(samples.pythonExec),
    pythonReady: percentiles(samples.pythonReady),
    pythonSpawn: percentiles(samples.pythonSpawn),
    tsExec: percentiles(samples.tsExec),
    tsCheckedExec: percentiles(samples.tsCheckedExec),
    nodeSpawn: percentiles(samples.nodeSpawn),
  };
  return { figures: figures(latency), latency };
}

function figures(l: InterpretersBenchResult["latency"]): Figure[] {
  const ms = (x: number) => `${x.toFixed(3)} ms`;
  const full = (lat: Latency) => `p50 ${ms(lat.p50)} (p90 ${ms(lat.p90)}, p99 ${ms(lat.p99)})`;
  return [
    {
      name: "python `x += 1` round trip through the engine, event persisted",
      measured: full(l.pythonExec),
      peer: `spawning python3 -c per cell p50 ${ms(l.pythonSpawn.p50)}`,
      ratio: `${(l.pythonSpawn.p50 / l.pythonExec.p50).toFixed(0)}× faster`,
      target: "p50 ≤ 1 ms",
      pass: l.pythonExec.p50 <= 1,
    },
    {
      name: "python session ready after start (helper up, session active)",
      measured: full(l.pythonReady),
      peer: `spawning python3 -c per cell p50 ${ms(l.pythonSpawn.p50)}`,
      ratio: `${(l.pythonReady.p50 / l.pythonSpawn.p50).toFixed(2)}× a bare spawn`,
      target: "p50 ≤ 150 ms",
      pass: l.pythonReady.p50 <= 150,
    },
    {
      name: "typescript `x += 1` cell round trip through the engine, event persisted",
      measured: full(l.tsExec),
      peer: `spawning node -e per cell p50 ${ms(l.nodeSpawn.p50)}`,
      ratio: `${(l.nodeSpawn.p50 / l.tsExec.p50).toFixed(0)}× faster`,
      target: "p50 ≤ 2 ms",
      pass: l.tsExec.p50 <= 2,
    },
    {
      name: "type-checked typescript `x += 1` cell round trip (start option typecheck)",
      measured: full(l.tsCheckedExec),
      peer: `the unchecked cell p50 ${ms(l.tsExec.p50)}`,
      ratio: `${(l.tsCheckedExec.p50 / l.tsExec.p50).toFixed(0)}× the unchecked cell`,
      target: "p50 ≤ 20 ms (a fresh compiler per cell takes a second)",
      pass: l.tsCheckedExec.p50 <= 20,
    },
  ];
}

/** A SessionManager on a temp SQLite store, with LiveSessions over it. */
class Engine {
  private constructor(
    private readonly home: string,
    private readonly manager: SessionManager,
    private readonly live: LiveSessions,
  ) {}

  static async open(): Promise<Engine> {
    const home = mkdtempSync(join(tmpdir(), "sessiond-bench-interp-"));
    const config: Config = resolveConfig({ env: { HOME: home }, flags: { home, enableSessions: true, logLevel: "silent" } });
    const manager = new SessionManager({ store: openSqliteStore(config), config });
    return new Engine(home, manager, new LiveSessions({ manager, config }));
  }

  async start(kind: "python" | "typescript", setup: string, options: { typecheck?: boolean } = {}): Promise<string> {
    const session = await this.live.start({ kind, ...options });
    const result = await this.live.exec(session.id, setup);
    if (result.status !== "ok") throw new Error(`setup failed: ${JSON.stringify(result)}`);
    return session.id;
  }

  async execLoop(id: string, input: string, n: number): Promise<number[]> {
    const times: number[] = [];
    for (let i = 0; i < n; i++) {
      const started = performance.now();
      const result = await this.live.exec(id, input);
      times.push(performance.now() - started);
      if (result.status !== "ok") throw new Error(`exec failed: ${JSON.stringify(result)}`);
    }
    return times;
  }

  /** Time from start() to an active session whose helper is ready; each session is stopped after. */
  async readyLoop(n: number): Promise<number[]> {
    const times: number[] = [];
    for (let i = 0; i < n; i++) {
      const started = performance.now();
      const session = await this.live.start({ kind: "python" });
      times.push(performance.now() - started);
      await this.live.stop(session.id);
    }
    return times;
  }

  async close(): Promise<void> {
    await this.live.close();
    await this.manager.close();
    rmSync(this.home, { recursive: true, force: true });
  }
}

async function spawnLoop(command: string, args: string[], n: number): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < n; i++) {
    const started = performance.now();
    await new Promise<void>((resolve, reject) => {
      const child = spawn(command, args, { stdio: "ignore" });
      child.on("error", reject);
      child.on("close", () => resolve());
    });
    times.push(performance.now() - started);
  }
  return times;
}

function percentiles(samples: number[]): Latency {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;
  return { n: sorted.length, p50: at(0.5), p90: at(0.9), p99: at(0.99) };
}

function printTable(result: InterpretersBenchResult): void {
  const { latency: l } = result;
  const line = (name: string, lat: Latency) =>
    `  ${name.padEnd(44)} n=${String(lat.n).padStart(5)}  p50 ${lat.p50.toFixed(3)}  p90 ${lat.p90.toFixed(3)}  p99 ${lat.p99.toFixed(3)} ms`;
  console.log("latency, same run, interleaved round by round:");
  console.log(line("python `x += 1` via LiveSessions", l.pythonExec));
  console.log(line("python session start → ready", l.pythonReady));
  console.log(line("spawn `python3 -c` per cell", l.pythonSpawn));
  console.log(line("typescript `x += 1` via LiveSessions", l.tsExec));
  console.log(line("type-checked typescript `x += 1`", l.tsCheckedExec));
  console.log(line("spawn `node -e` per cell", l.nodeSpawn));
  console.log("");
  printFigures(result.figures);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const result = await benchInterpreters({ quick: process.argv.includes("--quick") });
  if (process.argv.includes("--json")) console.log(JSON.stringify(result, null, 2));
  else printTable(result);
}
