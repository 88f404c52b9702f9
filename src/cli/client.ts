import { existsSync } from "node:fs";
import { ExecsClient } from "../sdk/client/execs-client.js";
import { SessionsClient } from "../sdk/client/sessions-client.js";
import { type ClientFlags, resolveHome, socketIn } from "./home.js";
import { SocketTransport } from "./socket-transport.js";

/** What a CLI command talks to: the SDK's typed session methods, on the local socket. */
export interface CliClient {
  readonly sessions: SessionsClient;
  /** Execs sent without waiting, their state and stdin. */
  readonly execs: ExecsClient;
  /** The Unix socket the server answers on. */
  readonly socketPath: string;
  /** Resolves once something answers on the socket again (a follower waiting out a restart); starts nothing. */
  waitForServer(pollMs: number): Promise<void>;
}

/**
 * Runs `fn` with a client of the local server on its Unix socket, starting the server in the
 * background first when none answers (see autostart.ts). The fast path costs one `existsSync`:
 * the autostart code, and the config schema it needs, load only when the socket is missing or
 * refuses the connection. A request that could not connect was never sent, so it is retried
 * once the server is up.
 */
export async function withClient<T>(flags: ClientFlags, fn: (client: CliClient) => Promise<T>): Promise<T> {
  const socketPath = socketIn(resolveHome(flags));
  if (!existsSync(socketPath)) await startServer(flags);
  let transport = open(socketPath);
  try {
    return await fn(clientOn(transport));
  } catch (err) {
    if (unanswered(err)) throw await silentOwner(flags, err);
    if (!refused(err)) throw err;
    await transport.close();
    await startServer(flags);
    transport = open(socketPath);
    return await fn(clientOn(transport));
  } finally {
    await transport.close();
  }
}

function open(socketPath: string): SocketTransport {
  const timeout = Number(process.env.SESSIOND_CLIENT_TIMEOUT_MS);
  return new SocketTransport(socketPath, Number.isInteger(timeout) && timeout > 0 ? timeout : undefined);
}

function clientOn(transport: SocketTransport): CliClient {
  return {
    sessions: new SessionsClient(transport),
    execs: new ExecsClient(transport),
    socketPath: transport.socketPath,
    async waitForServer(pollMs) {
      const { socketAnswers } = await import("./autostart.js");
      while (!(await socketAnswers(transport.socketPath))) await new Promise((resolve) => setTimeout(resolve, pollMs));
    },
  };
}

async function startServer(flags: ClientFlags): Promise<void> {
  const { clientConfig, ensureServer } = await import("./autostart.js");
  // Starting takes a few seconds: a person at a terminal is told why; scripts (--json, or stderr
  // not a terminal) see only the command's own output.
  const tell = process.stderr.isTTY && flags.json !== true;
  await ensureServer(clientConfig(flags), tell ? () => process.stderr.write("starting sessiond…\n") : undefined);
}

/** Whether a request timed out: something listens on the socket but does not answer. */
function unanswered(err: unknown): err is Error {
  return err instanceof Error && /^no answer from sessiond at /.test(err.message);
}

/** The timeout, naming the process that owns the data dir and what to look at. */
async function silentOwner(flags: ClientFlags, err: Error): Promise<Error> {
  const [{ describeOwner }, { readOwnerRecord }, { clientConfig }, { dataPaths }] = await Promise.all([
    import("../store/home-owner.js"),
    import("../store/owner-record.js"),
    import("./autostart.js"),
    import("../core/config.js"),
  ]);
  const owner = describeOwner(readOwnerRecord(dataPaths(clientConfig(flags)).pid));
  return new Error(`${err.message}: ${owner} owns the data dir but did not answer (is it stopped? see \`sessiond server status\`)`, { cause: err });
}

/** Whether a client error means nothing listens on the socket (missing, or refused). */
export function refused(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (code === "ECONNREFUSED" || code === "ENOENT") return true;
  }
  return false;
}
