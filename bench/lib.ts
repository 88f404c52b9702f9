import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { type Config, resolveConfig } from "../src/core/index.js";
import { SessionManager } from "../src/engine/index.js";
import { type Store, openSqliteStore } from "../src/store/index.js";

/** One line of the final table: a figure measured beside its peer, with the issue's target. */
export interface Figure {
  readonly name: string;
  /** The measured value, formatted with its unit. */
  readonly measured: string;
  /** The peer or floor measured in the same run, formatted, with what it is. */
  readonly peer: string;
  /** measured / peer, formatted (e.g. "0.41×"). */
  readonly ratio: string;
  /** The issue's target, verbatim-ish. */
  readonly target: string;
  /** null: informational only, no verdict. */
  readonly pass: boolean | null;
  /** Why it missed, or what to read beside it. */
  readonly note?: string;
}

/** Sizes of a run: the full issue sizes, or `--quick` for a smoke run. */
export interface Sizes {
  readonly quick: boolean;
  readonly appendEvents: number;
  readonly appendSessions: number;
  /** Rounds the append total is split in, alternating raw and engine. */
  readonly appendRounds: number;
  readonly naiveHistory: number;
  readonly naiveIterations: number;
  readonly engineSequentialAppends: number;
  readonly hotGets: number;
  readonly listSessions: number;
  readonly listEventsPerSession: number;
  readonly listQueries: number;
  readonly rssSessions: number;
  readonly openRepeats: number;
}

/** The issue's sizes, or small ones for `--quick` (a smoke run whose figures are not the issue's). */
export function sizes(quick: boolean): Sizes {
  return quick
    ? {
        quick,
        appendEvents: 20_000,
        appendSessions: 100,
        appendRounds: 1,
        naiveHistory: 1_000,
        naiveIterations: 50,
        engineSequentialAppends: 300,
        hotGets: 300_000,
        listSessions: 10_000,
        listEventsPerSession: 10,
        listQueries: 300,
        rssSessions: 10_000,
        openRepeats: 2,
      }
    : {
        quick,
        appendEvents: 200_000,
        appendSessions: 100,
        appendRounds: 2,
        naiveHistory: 1_000,
        naiveIterations: 300,
        engineSequentialAppends: 3_000,
        hotGets: 3_000_000,
        listSessions: 100_000,
        listEventsPerSession: 10,
        listQueries: 2_000,
        rssSessions: 10_000,
        openRepeats: 4,
      };
}

const tempDirs: string[] = [];

/** A fresh temp dir, removed by `cleanupTemp` at the end of the run. */
export function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), `sessiond-bench-${prefix}-`));
  tempDirs.push(dir);
  return dir;
}

/** Removes every dir `tempDir` made. */
export function cleanupTemp(): void {
  for (const dir of tempDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
}

/** A resolved config whose data dir is `home`. */
export function benchConfig(home: string, overrides: Record<string, unknown> = {}): Config {
  return resolveConfig({ env: { HOME: home }, flags: { home, ...overrides } });
}

/** A store and an engine on the data dir of `config`. */
export function openEngine(config: Config): { store: Store; manager: SessionManager } {
  const store = openSqliteStore(config);
  return { store, manager: new SessionManager({ store, config }) };
}

/**
 * The connection pragmas the SQLite store sets from a config (src/store/sqlite/sqlite-store.ts),
 * so a raw peer runs on the same settings. Keys absent from the config are left at SQLite's
 * defaults, so this keeps working as the store gains or loses options.
 */
export function storePragmas(config: Config): string[] {
  const c = config as unknown as Record<string, unknown>;
  const pragmas = ["journal_mode = WAL", `synchronous = ${config.sqliteSynchronous === "normal" ? "NORMAL" : "FULL"}`];
  pragmas.push(`busy_timeout = ${config.sqliteBusyTimeoutMs}`);
  if (typeof c.sqliteCacheBytes === "number") pragmas.push(`cache_size = ${-Math.ceil(c.sqliteCacheBytes / 1024)}`);
  if (typeof c.sqliteCheckpointPages === "number") pragmas.push(`wal_autocheckpoint = ${c.sqliteCheckpointPages}`);
  return pragmas;
}

/** A raw better-sqlite3 connection on `file` with the given pragmas (default: WAL, NORMAL). */
export function openRaw(file: string, pragmas: readonly string[] = ["journal_mode = WAL", "synchronous = NORMAL"]): Database.Database {
  const db = new Database(file);
  for (const pragma of pragmas) db.pragma(pragma);
  return db;
}

/** Milliseconds since an hrtime mark. */
export function msSince(start: bigint): number {
  return Number(process.hrtime.bigint() - start) / 1e6;
}

/** The q-quantile (0..1) of already sorted values, nearest-rank. */
export function quantile(sorted: readonly number[], q: number): number {
  if (!sorted.length) return Number.NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[rank]!;
}

/** The median (nearest rank) of unsorted values. */
export function median(values: readonly number[]): number {
  return quantile([...values].sort((a, b) => a - b), 0.5);
}

/** A seeded PRNG (mulberry32), so every run builds the same data. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A random item of a non-empty list. */
export function pick<T>(random: () => number, items: readonly T[]): T {
  return items[Math.floor(random() * items.length)]!;
}

// ---- formatting ---------------------------------------------------------------------------------

/** `12,345/s`, with the unit given. */
export function fmtRate(perSecond: number, unit = "/s"): string {
  return `${Math.round(perSecond).toLocaleString("en-US")}${unit}`;
}

/** A duration in µs or ms with 2-3 significant digits. */
export function fmtMs(ms: number): string {
  if (ms < 1) return `${(ms * 1000).toFixed(0)} µs`;
  if (ms < 10) return `${ms.toFixed(2)} ms`;
  return `${ms.toFixed(1)} ms`;
}

/** Bytes as MiB, labelled MB as `ps` and the issue do. */
export function fmtMB(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

/** A ratio as `0.41×`, `12.3×` or `150×`. */
export function fmtRatio(ratio: number): string {
  if (!Number.isFinite(ratio)) return "n/a";
  return ratio >= 100 ? `${ratio.toFixed(0)}×` : ratio >= 10 ? `${ratio.toFixed(1)}×` : `${ratio.toFixed(2)}×`;
}

/** Logs a progress line to stderr, so stdout holds only the report. */
export function log(message: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}\n`);
}

/** Prints each figure with its verdict (PASS, MISS, or info for a figure with no target). */
export function printFigures(figures: readonly Figure[]): void {
  for (const f of figures) {
    const verdict = f.pass === null ? "info" : f.pass ? "PASS" : "MISS";
    console.log(`[${verdict}] ${f.name}\n        ${f.measured}${f.peer === "target" ? "" : `  |  ${f.peer}  |  ${f.ratio}`}  (target ${f.target})`);
  }
}

/** Renders rows as a fixed-width text table. */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: readonly string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join("  ").trimEnd();
  return [line(header), widths.map((w) => "-".repeat(w)).join("  "), ...rows.map(line)].join("\n");
}

// ---- child processes ----------------------------------------------------------------------------

/** What a bench child prints as its last stdout line: one JSON object. */
export interface ChildResult<T> {
  readonly value: T;
  /** Wall time from spawn to exit, as the parent saw it. */
  readonly wallMs: number;
}

/**
 * Runs a bench child in a fresh plain Node process and parses the JSON object it prints last.
 * `root` is the compiled tree of `compileForNode` (bench/compile.ts), `script` its path there,
 * e.g. `bench/children/rss-child.js`. Rejects when the child exits non-zero, with its stderr.
 */
export function runChild<T>(root: string, script: string, args: readonly string[], nodeFlags: readonly string[] = []): Promise<ChildResult<T>> {
  return new Promise((resolve, reject) => {
    const start = process.hrtime.bigint();
    const child = spawn(process.execPath, [...nodeFlags, join(root, script), ...args], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
    child.on("error", reject);
    child.on("close", (code) => {
      const wallMs = msSince(start);
      if (code !== 0) {
        reject(new Error(`bench child ${script} exited ${code}: ${stderr.trim()}`));
        return;
      }
      const last = stdout.trim().split("\n").at(-1) ?? "";
      try {
        resolve({ value: JSON.parse(last) as T, wallMs });
      } catch (err) {
        reject(new Error(`bench child ${script} printed no JSON result: ${stdout}${stderr}`, { cause: err }));
      }
    });
  });
}
