import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { freePort } from "../helpers/ports.js";
import { isReachable } from "../helpers/services.js";

/**
 * A `redis-server` of the test's own on a free loopback port, which the test may stop and start
 * again: the machine's Redis is shared with other suites and is never stopped.
 */
export interface PrivateRedis {
  readonly port: number;
  /** `redis://127.0.0.1:<port>` */
  readonly url: string;
  /** Kills the server and waits until its port refuses connections. */
  stop(): Promise<void>;
  /** Starts it again on the same port (empty: it keeps nothing) and waits until it accepts connections. */
  start(): Promise<void>;
  close(): Promise<void>;
}

/** How long redis-server may take to accept connections. */
const START_TIMEOUT_MS = 10_000;

/** Why redis-server cannot be started here, or undefined; under CI (`CI=true`) a missing one throws. */
export function redisServerMissing(): string | undefined {
  try {
    execFileSync("redis-server", ["--version"], { stdio: "ignore" });
    return undefined;
  } catch {
    const reason = "redis-server not found (apt-get install -y redis-server)";
    if (process.env.CI === "true") throw new Error(`CI=true but ${reason}: Redis going away cannot be tested`);
    return reason;
  }
}

/** Starts a private redis-server with no persistence. */
export async function startPrivateRedis(): Promise<PrivateRedis> {
  const port = await freePort();
  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();
  const lines: string[] = [];

  const start = async () => {
    const started = spawn("redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"], { stdio: ["ignore", "pipe", "pipe"] });
    child = started;
    const collect = (chunk: Buffer) => lines.push(...chunk.toString().split("\n").filter(Boolean));
    started.stdout!.on("data", collect);
    started.stderr!.on("data", collect);
    exited = new Promise((resolve) => started.once("exit", () => resolve()));
    const deadline = Date.now() + START_TIMEOUT_MS;
    while (!(await isReachable(port))) {
      if (started.exitCode !== null || Date.now() > deadline) throw new Error(`redis-server did not start on ${port}:\n${lines.join("\n")}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  const stop = async () => {
    if (child && child.exitCode === null && child.signalCode === null) {
      child.kill("SIGKILL");
      await exited;
    }
  };

  await start();
  return { port, url: `redis://127.0.0.1:${port}`, stop, start, close: stop };
}
