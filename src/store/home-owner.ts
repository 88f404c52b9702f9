import { type Config, dataPaths } from "../core/config.js";
import { HomeLock } from "./home-lock.js";
import { type OwnerRecord, ownerAlive, readOwnerRecord, removeOwnerRecord, selfIdentity, writeOwnerRecord } from "./owner-record.js";

/** What claiming a data dir gave: ownership, or the process that has it. */
export type HomeClaim = { owned: HomeOwnership } | { owned: undefined; owner: OwnerRecord | undefined; lockRemoved: boolean };

/**
 * Makes this process the owner of the data dir, or says who is. Synchronous, so the embedded
 * API's first call (seed 004's reads are synchronous) can settle it.
 *
 * Besides the lock, the owner's record is consulted: a lock file removed by hand lets anyone take
 * a new lock, but a record naming a live process that is not this one says the data dir is owned
 * all the same, and the store must not get a second writer.
 * @throws Error naming the data dir when it cannot hold a lock (permissions, read-only filesystem)
 */
export function claimHome(config: Pick<Config, "home" | "store" | "ownerLockWaitMs" | "ownerLockCheckMs">, owner: "server" | "embedded"): HomeClaim {
  const paths = dataPaths(config);
  const lock = HomeLock.acquire(paths.ownerLock, config.ownerLockWaitMs);
  const recorded = readOwnerRecord(paths.pid);
  if (!lock) return { owned: undefined, owner: recorded && ownerAlive(recorded) ? recorded : undefined, lockRemoved: false };
  if (recorded && recorded.pid !== process.pid && ownerAlive(recorded)) {
    lock.release();
    return { owned: undefined, owner: recorded, lockRemoved: true };
  }
  const ownership = new HomeOwnership(lock, paths.pid, { ...selfIdentity(), owner, store: config.store, started_at: new Date().toISOString() }, config.ownerLockCheckMs, config.ownerLockWaitMs);
  return { owned: ownership };
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
    // ends when its own work does.
    this.check = setInterval(() => {
      lock.renew(waitMs);
      if (readOwnerRecord(recordPath)?.pid !== process.pid) writeOwnerRecord(recordPath, this.record);
    }, checkMs);
    this.check.unref();
  }

  /** Adds where this owner answers (socket, TCP address) to its record. */
  announce(fields: Pick<OwnerRecord, "host" | "port" | "socket">): void {
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
