import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { waitFor } from "../../events/support/wait.js";
import { compiledCli } from "../../helpers/compiled-tree.js";

/** A real `sessiond serve` child on 127.0.0.1 and a free port, with its own SESSIOND_HOME. */
export interface ServedServer {
  readonly home: string;
  readonly baseUrl: string;
  readonly port: number;
  /** The admin token the server generated. */
  readonly token: string;
  /** Everything the server wrote to stderr/stdout so far (for failure messages). */
  output(): string;
  /** SIGTERM, then waits for the exit (the server flushes and closes its sinks first). */
  stop(): Promise<void>;
  /** Stops the server and removes its data dir. */
  remove(): Promise<void>;
}

/**
 * Starts `sessiond serve --port 0` (the CLI as it ships, compiled once per run:
 * test/helpers/compiled-tree.ts) with `env` added, and waits for its pid file to name the port it
 * took. `home` reuses a data dir (a restart).
 */
export async function serve(env: Record<string, string> = {}, home = mkdtempSync(join(tmpdir(), "sessiond-sdk-"))): Promise<ServedServer> {
  const pidFile = join(home, "server.pid");
  rmSync(pidFile, { force: true });
  let output = "";
  const child: ChildProcess = spawn(process.execPath, [compiledCli(), "serve", "--host", "127.0.0.1", "--port", "0"], {
    env: { ...process.env, SESSIOND_HOME: home, SESSIOND_LOG_LEVEL: "warn", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  child.stdout!.on("data", (c: Buffer) => (output += c.toString()));
  child.stderr!.on("data", (c: Buffer) => (output += c.toString()));
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
    await exited;
  };
  let port: number;
  try {
    port = await waitFor(
      "the server's pid file",
      () => {
        if (child.exitCode !== null) throw new Error(`sessiond serve exited with ${child.exitCode}:\n${output}`);
        try {
          return (JSON.parse(readFileSync(pidFile, "utf8")) as { port: number }).port;
        } catch {
          return undefined;
        }
      },
      20_000,
      25,
    );
  } catch (err) {
    await stop();
    throw err;
  }
  const token = readFileSync(join(home, "token"), "utf8").trim();
  return {
    home,
    port,
    baseUrl: `http://127.0.0.1:${port}`,
    token,
    output: () => output,
    stop,
    remove: async () => {
      await stop();
      rmSync(home, { recursive: true, force: true });
    },
  };
}
