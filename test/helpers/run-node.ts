import { type ChildProcess, spawn } from "node:child_process";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { afterEach } from "vitest";
import { pathToFileURL } from "node:url";

const ROOT = new URL("../../", import.meta.url).pathname;

/**
 * `node` arguments that run the CLI from its sources: tsx by path, so that it resolves from a
 * temp working directory too (where `--import tsx` would not).
 */
export const CLI_FROM_SOURCES: readonly string[] = ["--import", pathToFileURL(join(ROOT, "node_modules/tsx/dist/loader.mjs")).href, join(ROOT, "src/cli/main.ts")];

/** What a finished child process printed, and how it ended. */
export interface NodeRun {
  status: number | null;
  stdout: string;
  stderr: string;
}

/**
 * A test file's children and temp folders, killed and removed after each test: push to them.
 * @example const { dirs, children } = perTestChildren();
 */
export function perTestChildren(): { dirs: string[]; children: ChildProcess[] } {
  const dirs: string[] = [];
  const children: ChildProcess[] = [];
  afterEach(() => {
    for (const child of children.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });
  return { dirs, children };
}

/** Runs `node <args>` in a child process (env added to this one's) and collects its output. */
export function runNode(args: readonly string[], options: { env?: Record<string, string>; cwd?: string } = {}): Promise<NodeRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, {
      ...(options.cwd ? { cwd: options.cwd } : {}),
      env: { ...process.env, ...options.env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (c: Buffer) => (stdout += c.toString()));
    child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
    child.once("error", reject);
    child.once("exit", (status) => resolve({ status, stdout, stderr }));
  });
}

/** A running `node` child whose stdout and stderr are collected, line by line, as they come. */
export interface LiveNode {
  child: ChildProcess;
  /** Whole lines of stdout and stderr, interleaved in arrival order. */
  lines: string[];
  exited: Promise<number | null>;
}

/** Starts `node <args>` (env added to this one's) and collects its output lines while it runs. */
export function startNode(args: readonly string[], options: { env?: Record<string, string>; cwd?: string } = {}): LiveNode {
  const child = spawn(process.execPath, args, {
    ...(options.cwd ? { cwd: options.cwd } : {}),
    env: { ...process.env, ...options.env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const lines: string[] = [];
  let buffered = "";
  const collect = (chunk: Buffer) => {
    buffered += chunk.toString();
    const whole = buffered.split("\n");
    buffered = whole.pop()!;
    lines.push(...whole);
  };
  child.stdout!.on("data", collect);
  child.stderr!.on("data", collect);
  return { child, lines, exited: new Promise((resolve) => child.once("exit", (code) => resolve(code))) };
}
