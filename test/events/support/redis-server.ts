import { type ChildProcess, spawn } from "node:child_process";
import { isReachable } from "../../helpers/services.js";
import { waitFor } from "./wait.js";

/** A private redis-server child on a port of its own, keeping nothing on disk. */
export interface RedisServerChild {
  readonly port: number;
  readonly url: string;
  /** Kills it (SIGKILL: the server "goes away" without a goodbye) and waits for it to exit. */
  kill(): Promise<void>;
}

/** Starts `redis-server` on `port` and waits until it accepts connections. */
export async function startRedisServer(port: number): Promise<RedisServerChild> {
  const child = spawn("redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"], {
    stdio: "ignore",
  });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  try {
    await waitFor(`redis-server on port ${port}`, () => {
      if (child.exitCode !== null) throw new Error(`redis-server exited with ${child.exitCode}`);
      return isReachable(port, "127.0.0.1", 200);
    });
  } catch (err) {
    await stop(child, exited);
    throw err;
  }
  return { port, url: `redis://127.0.0.1:${port}`, kill: () => stop(child, exited) };
}

async function stop(child: ChildProcess, exited: Promise<void>): Promise<void> {
  if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  await exited;
}
