import { type Config, dataPaths } from "../core/config.js";
import { type Stats, lstatSync, readFileSync } from "node:fs";
import { HomeLock, dataDirUnusable, unusableHome } from "./home-lock.js";
import { listenedElsewhere } from "./socket-listeners.js";
import { type OwnerRecord, ownerAlive, readOwnerRecord, removeOwnerRecord, selfIdentity, writeOwnerRecord } from "./owner-record.js";

/** What claiming a data dir gave: ownership, or the process that has it. */
export type HomeClaim = { owned: HomeOwnership } | { owned: undefined; owner: OwnerRecord | undefined; lockRemoved: boolean };

/**
 * Makes this process the owner of the data dir, or says who is. Synchronous, so the embedded
 * API's first call (seed 004's reads are synchronous) can settle it.
 *
 * Besides the lock, the owner's record and sockets are consulted: a lock file removed by hand
 * lets anyone take a new lock, but a live process that is not this one listening on the data
 * dir's sockets says the data dir is owned all the same, and the store must not get a second
 * writer. A record naming a live process nobody listens for is believed only where that cannot
 * be seen (not Linux): pid files naming some unrelated process must not lock a data dir for good.
 * @throws Error naming the data dir when it cannot hold a lock (permissions, read-only
 *   filesystem, a data dir another user owns or may write)
 */
export function claimHome(config: Pick<Config, "home" | "store" | "ownerLockWaitMs" | "ownerLockCheckMs">, owner: "server" | "embedded"): HomeClaim {
  const paths = dataPaths(config);
  assertPrivateHome(config.home);
  const lock = HomeLock.acquire(paths.ownerLock, config.ownerLockWaitMs);
  const recorded = readOwnerRecord(paths.pid);
  const alive = recorded && ownerAlive(recorded) ? recorded : undefined;
  if (!lock) return { owned: undefined, owner: alive, lockRemoved: false };
  const other = alive?.pid !== process.pid ? alive : undefined;
  const listened = [paths.ownerSocket, paths.socket].map(listenedElsewhere);
  if (listened.includes(true) || (listened.includes(undefined) && other)) {
    lock.release();
    return { owned: undefined, owner: other, lockRemoved: true };
  }
  let ownership: HomeOwnership;
  try {
    ownership = new HomeOwnership(lock, paths.pid, { ...selfIdentity(), owner, store: config.store, started_at: new Date().toISOString() }, config.ownerLockCheckMs, config.ownerLockWaitMs);
  } catch (err) {
    lock.release();
    throw unusableHome(config.home, err);
  }
  return { owned: ownership };
}

/**
 * Refuses a data dir another user owns, or that group or others may write: whoever can plant
 * files there can plant a fake owner socket and read what is sent to it.
 */
function assertPrivateHome(home: string): void {
  let stat: Stats;
  try {
    stat = lstatSync(home);
  } catch {
    return; // Created by the lock, 0700.
  }
  if (!stat.isDirectory()) throw dataDirUnusable(home, "it is not a directory");
  const uid = process.getuid?.();
  if (uid !== undefined && stat.uid !== uid) throw dataDirUnusable(home, `it belongs to uid ${stat.uid}, not this user (${uid})`);
  if (stat.mode & 0o022) throw dataDirUnusable(home, `group or others may write it (run chmod 700 ${home})`);
}

/** Held by the owner of a data dir until it closes or dies. */
export class HomeOwnership {
  private readonly check: NodeJS.Timeout;

  constructor(
    private readonly lock: HomeLock,
    private readonly recordPath: string,
    private record: OwnerRecord,
    checkMs: number,
    waitMs: number,
  ) {
    writeOwnerRecord(recordPath, record);
    // The lock file or the record may be removed by hand while we run; put both back, so the
    // next process to look finds the data dir owned. Unref'd: a program using the embedded API
    // ends when its own work does. Never throws: a full disk or no free descriptor (a connection
    // flood) must not take the owner down with it; the next round tries again.
    this.check = setInterval(() => {
      try {
        if (!lock.renew(waitMs)) process.emitWarning(`sessiond: another process took the lock file ${lock.path} that was removed by hand; stop it (it refuses to write while this one answers)`);
        if (recordIsOurs(recordPath) === false) writeOwnerRecord(recordPath, this.record);
      } catch {
        // Tried again next round.
      }
    }, checkMs);
    this.check.unref();
  }

  /** Adds where this owner answers (socket, TCP address) to its record. */
  announce(fields: Pick<OwnerRecord, "host" | "port" | "socket" | "node">): void {
    this.record = { ...this.record, ...fields };
    writeOwnerRecord(this.recordPath, this.record);
  }

  /** Gives the data dir up: the record goes, then the lock. */
  release(): void {
    clearInterval(this.check);
    removeOwnerRecord(this.recordPath);
    this.lock.release();
  }
}

/** How a refusal names the owner: "pid 123 (sessiond serve)" or "pid 456 (node agent.js, embedded)". */
export function describeOwner(owner: OwnerRecord | undefined): string {
  if (!owner) return "another process";
  const what = [owner.command, owner.owner === "embedded" ? "embedded" : undefined].filter(Boolean).join(", ");
  return `pid ${owner.pid}${what ? ` (${what})` : ""}`;
}

/** Whether the record names this process; undefined when it cannot be read for another reason than being missing. */
function recordIsOurs(path: string): boolean | undefined {
  try {
    return (JSON.parse(readFileSync(path, "utf8")) as { pid?: unknown }).pid === process.pid;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "ENOENT" || err instanceof SyntaxError ? false : undefined;
  }
}
