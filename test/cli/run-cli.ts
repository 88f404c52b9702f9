import { execFile, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { compiledCli } from "../helpers/compiled-tree.js";

/**
 * The CLI as users run it: a real child process per command, plain JavaScript compiled from the
 * tree's sources once per test run (test/helpers/compiled-tree.ts). The server a command starts
 * in the background runs the same compiled code.
 */
function args(): string[] {
  return [compiledCli()];
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** The compiled CLI of this run, for a test that spawns it itself (a pty, say). */
export function useCompiledCli(): { readonly main: string } {
  return {
    get main() {
      return compiledCli();
    },
  };
}

/** A temp data dir and a runner bound to it; `cleanup()` stops its server and removes it. */
export function cliHome(extraEnv: Record<string, string> = {}) {
  const home = mkdtempSync(join(tmpdir(), "sessiond-cli-"));
  // Port 0: the background server must not fight other servers of the machine for 8011.
  const env = { ...process.env, SESSIOND_HOME: home, SESSIOND_PORT: "0", NO_COLOR: "1", ENABLE_SESSIONS: "true", SESSIOND_LOG_LEVEL: "info", ...extraEnv };
  delete (env as Record<string, string | undefined>).FORCE_COLOR;
  const run = (argv: string[], options: { input?: string; env?: Record<string, string> } = {}): Promise<CliResult> =>
    new Promise((resolve) => {
      const child = execFile(process.execPath, [...args(), ...argv], { env: { ...env, ...options.env }, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
        const code = err ? (typeof (err as { code?: unknown }).code === "number" ? ((err as { code: number }).code) : 1) : 0;
        resolve({ code, stdout, stderr });
      });
      if (options.input !== undefined) child.stdin?.end(options.input);
      else child.stdin?.end();
    });
  /** Runs a command that must succeed, and parses its stdout as JSON. */
  const json = async <T = unknown>(args: string[]): Promise<T> => {
    const r = await run([...args, "--json"]);
    if (r.code !== 0) throw new Error(`sessiond ${args.join(" ")} exited ${r.code}: ${r.stderr}`);
    return JSON.parse(r.stdout) as T;
  };
  const cleanup = async () => {
    await run(["server", "stop", "--force"]);
    rmSync(home, { recursive: true, force: true });
  };
  return { home, env, run, json, cleanup };
}

/** Starts a long-running CLI command (e.g. `events --follow`) and collects its output. */
export function startCli(argv: string[], env: NodeJS.ProcessEnv) {
  const child = spawn(process.execPath, [...args(), ...argv], { env, stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  child.stdout.on("data", (d: Buffer) => {
    stdout += d.toString();
  });
  return {
    child,
    output: () => stdout,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once("exit", () => resolve());
        child.kill("SIGTERM");
      }),
  };
}

/** Waits until `check` returns true, polling (the test's own timeout bounds it). */
export async function until(check: () => boolean | Promise<boolean>): Promise<void> {
  while (!(await check())) await new Promise((r) => setTimeout(r, 50));
}
