import { spawn } from "node:child_process";
import { accessSync, closeSync, constants, mkdirSync, openSync, readFileSync, rmSync, statSync, writeSync } from "node:fs";
import { connect } from "node:net";
import { fileURLToPath } from "node:url";
import { type Config, dataPaths } from "../core/config.js";
import { type ClientFlags, resolveHome } from "./home.js";
import { HomeLock, unusableHome } from "../store/home-lock.js";
import { describeOwner } from "../store/home-owner.js";
import { type OwnerRecord, ownerAlive, readOwnerRecord } from "../store/owner-record.js";
import { loadConfig } from "./load-config.js";

/** What a data dir owner's pid file holds (written by `sessiond serve` or an embedded owner). */
export type PidFile = OwnerRecord;

/** The config a client command starts a server with: its data dir, file and environment. */
export function clientConfig(flags: ClientFlags, env: NodeJS.ProcessEnv = process.env): Config {
  return loadConfig({ home: resolveHome(flags, env), ...(flags.config ? { config: flags.config } : {}) }, env);
}

/** Whether something accepts connections on the Unix socket (the server listens on it last, once ready). */
export function socketAnswers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = connect(path);
    probe.once("connect", () => {
      probe.destroy();
      resolve(true);
    });
    probe.once("error", () => resolve(false));
  });
}

/** The pid file, or undefined when it is missing or unreadable. */
export const readPidFile = readOwnerRecord;

export { ownerAlive };

/**
 * Removes what a server that died left behind: a pid file naming a dead process, and a socket
 * file nobody answers on. Returns what it removed, for `server status` to report.
 */
export async function cleanStale(config: Config): Promise<string[]> {
  const paths = dataPaths(config);
  const removed: string[] = [];
  const pid = readPidFile(paths.pid);
  // A dead cluster node's record stays: it is what keeps a command from starting SQLite here (refuseOtherStore).
  if (pid && !ownerAlive(pid) && !servedOtherStore(config, pid)) {
    rmSync(paths.pid, { force: true });
    removed.push(paths.pid);
  }
  // An owner still starting has not listened yet: its socket file is not stale, whatever it says.
  if (exists(paths.socket) && !HomeLock.isHeld(paths.ownerLock) && !(await socketAnswers(paths.socket))) {
    rmSync(paths.socket, { force: true });
    removed.push(paths.socket);
  }
  return removed;
}

/**
 * Makes sure a server answers on the data dir's socket, starting one in the background when
 * none does. When the data dir has an owner that does not answer yet (a server or a program using
 * the embedded API, still starting), it waits for that owner instead: a second one could not
 * start. Commands started together race for an O_EXCL lock file: the winner starts the server,
 * the others wait for its socket. A lock left by a dead process (its pid is gone) or
 * older than `autostartTimeoutMs` is taken over. The server's output goes to the log file in the
 * data dir. `onStart` is called just before this process spawns a server (so a command can say
 * why it is waiting).
 * @throws Error saying where to look when no server answers within `autostartTimeoutMs`
 */
export async function ensureServer(config: Config, onStart?: () => void): Promise<void> {
  const paths = dataPaths(config);
  if (await socketAnswers(paths.socket)) return;
  try {
    mkdirSync(config.home, { recursive: true, mode: 0o700 });
    accessSync(config.home, constants.W_OK);
  } catch (err) {
    throw unusableHome(config.home, err);
  }
  const deadline = Date.now() + config.autostartTimeoutMs;
  while (Date.now() < deadline) {
    if (await socketAnswers(paths.socket)) return;
    if (HomeLock.isHeld(paths.ownerLock)) {
      await sleep(POLL_MS);
      continue;
    }
    const lock = takeLock(paths.autostartLock, config.autostartTimeoutMs);
    if (!lock) {
      await sleep(POLL_MS);
      continue;
    }
    try {
      // Another command may have started it between our probe and our lock.
      if (await socketAnswers(paths.socket)) return;
      refuseOtherStore(config, readPidFile(paths.pid));
      await cleanStale(config);
      onStart?.();
      await startAndWait(config, deadline);
      return;
    } finally {
      rmSync(paths.autostartLock, { force: true });
    }
  }
  if (HomeLock.isHeld(paths.ownerLock)) {
    throw new Error(`${describeOwner(readOwnerRecord(paths.pid))} owns ${config.home} but did not answer on ${paths.socket} within ${config.autostartTimeoutMs} ms (is it stopped?)`);
  }
  throw new Error(`no sessiond answered on ${paths.socket} within ${config.autostartTimeoutMs} ms; see ${paths.log} or run \`sessiond serve\``);
}

/**
 * A data dir whose last server (now dead) served PostgreSQL — a node of a cluster, started with
 * its store settings on its command line or environment — is not restarted by a client command
 * with settings that say SQLite: that would be a second, empty service on the node's data dir,
 * where the commands' writes would go unseen by the cluster (docs/scale-out.md).
 * @throws Error saying how to go on
 */
function refuseOtherStore(config: Config, last: PidFile | undefined): void {
  if (last === undefined || !servedOtherStore(config, last) || ownerAlive(last)) return;
  throw new Error(
    `the last server on ${config.home} (pid ${last.pid}, no longer running) served PostgreSQL, and this command would start one on SQLite: ` +
      "start that node again with its store settings (`sessiond serve` with SESSIOND_STORE=postgres and SESSIOND_PG_URL), " +
      `or give this command the same settings (in its environment, or a --config file); to start a new SQLite service here instead, remove ${dataPaths(config).pid}`,
  );
}

function servedOtherStore(config: Config, last: PidFile): boolean {
  return last.store === "postgres" && config.store !== "postgres";
}

/** Spawns `sessiond serve` detached, logging to the data dir, and waits for its socket. */
async function startAndWait(config: Config, deadline: number): Promise<void> {
  const paths = dataPaths(config);
  const log = openSync(paths.log, "a", 0o600);
  let exited: number | null | undefined;
  try {
    const child = spawn(process.execPath, [...process.execArgv, mainScript(), "serve", "--home", config.home], {
      detached: true,
      stdio: ["ignore", log, log],
      env: process.env,
    });
    child.once("exit", (code) => {
      exited = code;
    });
    child.unref();
  } finally {
    closeSync(log);
  }
  while (Date.now() < deadline) {
    if (await socketAnswers(paths.socket)) return;
    if (exited !== undefined) throw new Error(`the server exited (code ${exited}) while starting: ${startFailure(paths.log)} (log: ${paths.log})`);
    await sleep(POLL_MS);
  }
  throw new Error(`the server did not answer on ${paths.socket} within ${config.autostartTimeoutMs} ms; see ${paths.log}`);
}

/** This CLI's entry script (main.js built, main.ts under tsx): the server runs the same code. */
function mainScript(): string {
  const here = fileURLToPath(import.meta.url);
  return here.replace(/autostart\.(js|ts)$/, "main.$1");
}

/** Creates the lock file exclusively, holding our pid; takes over a stale one. Undefined when another live command holds it. */
function takeLock(path: string, staleAfterMs: number): true | undefined {
  try {
    const fd = openSync(path, "wx", 0o600);
    writeSync(fd, String(process.pid));
    closeSync(fd);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
  }
  let holder = Number.NaN;
  let age = 0;
  try {
    holder = Number(readFileSync(path, "utf8"));
    age = Date.now() - statSync(path).mtimeMs;
  } catch {
    return undefined; // Released between our open and our read: try again.
  }
  // An empty lock is one being written right now; only a dead holder or an old lock is stale.
  const stale = (Number.isInteger(holder) && holder > 0 && !ownerAlive({ pid: holder })) || age > staleAfterMs;
  if (stale) rmSync(path, { force: true });
  return undefined;
}

function exists(path: string): boolean {
  try {
    statSync(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * Why the server stopped, from the end of its log: the newest error entry's message (a server that
 * cannot start appends one, after which it prints a line for a person), else the last line as it is.
 */
function startFailure(path: string): string {
  let lines: string[];
  try {
    lines = readFileSync(path, "utf8").trim().split("\n");
  } catch {
    return "its log is unreadable";
  }
  for (const line of lines.slice(-LOG_LINES_SEARCHED).reverse()) {
    try {
      const entry = JSON.parse(line) as { level?: number; msg?: string; reason?: string; err?: { message?: string } };
      if ((entry.level ?? 0) < PINO_ERROR_LEVEL) continue;
      const reason = entry.reason ?? entry.err?.message ?? entry.msg;
      if (reason) return reason;
    } catch {
      // Not a log entry (a line for a person, or a crash before the logger existed).
    }
  }
  return lines.at(-1)?.slice(0, 500) || "its log is empty";
}

/** pino's `error` level; `fatal` is above it. */
const PINO_ERROR_LEVEL = 50;
/** How far back from its end the log is searched for the error that stopped the server. */
const LOG_LINES_SEARCHED = 20;

/** How often a waiting command looks at the socket again. A poll, not a timeout: it bounds nothing. */
const POLL_MS = 25;

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
