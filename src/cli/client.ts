import { existsSync } from "node:fs";
import { type SessiondClient, createClient } from "../sdk/client/index.js";
import { type ClientFlags, resolveHome, socketIn } from "./home.js";

/**
 * Runs `fn` with a client of the local server on its Unix socket, starting the server in the
 * background first when none answers (see autostart.ts). The fast path costs one `existsSync`:
 * the autostart code, and the config schema it needs, load only when the socket is missing or
 * refuses the connection. A request that could not connect was never sent, so it is retried
 * once the server is up.
 */
export async function withClient<T>(flags: ClientFlags, fn: (client: SessiondClient) => Promise<T>): Promise<T> {
  const socketPath = socketIn(resolveHome(flags));
  if (!existsSync(socketPath)) await startServer(flags);
  let client = createClient({ socketPath });
  try {
    return await fn(client);
  } catch (err) {
    if (!refused(err)) throw err;
    await client.close().catch(() => undefined);
    await startServer(flags);
    client = createClient({ socketPath });
    return await fn(client);
  } finally {
    await client.close().catch(() => undefined);
  }
}

async function startServer(flags: ClientFlags): Promise<void> {
  const { clientConfig, ensureServer } = await import("./autostart.js");
  await ensureServer(clientConfig(flags));
}

/** Whether a client error means nothing listens on the socket (missing, or refused). */
export function refused(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (code === "ECONNREFUSED" || code === "ENOENT") return true;
  }
  return false;
}
