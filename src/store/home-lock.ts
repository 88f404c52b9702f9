import { accessSync, chmodSync, constants, mkdirSync, statSync } from "node:fs";
import { dirname } from "node:path";
import Database from "better-sqlite3";
import { SessiondError } from "../core/errors.js";

/**
 * The OS lock that makes one process the owner of a data dir (DESIGN.md §6: one owner per store).
 *
 * The owner holds an exclusive SQLite transaction on the lock file (`owner.lock` in the data dir,
 * an empty SQLite database) for its whole life. SQLite takes
 * it as a POSIX record lock (fcntl), which the kernel drops when the process dies however it dies,
 * so a `kill -9` never leaves a stale lock, and which SQLite also honours between two connections
 * of one process. No native addon beyond better-sqlite3, already the store's, is needed: Node has
 * no flock of its own.
 */
export class HomeLock {
  private constructor(
    private db: Database.Database,
    readonly path: string,
    private inode: number,
  ) {}

  /**
   * Takes the lock, waiting up to `waitMs` for a process that only looks at it (`isHeld`); of two
   * processes racing for it, exactly one gets it.
   * @returns the lock, or undefined when another process owns the data dir
   * @throws Error naming the path and the reason when the data dir cannot hold a lock (not
   *   writable, read-only filesystem)
   */
  static acquire(path: string, waitMs: number): HomeLock | undefined {
    const home = dirname(path);
    let db: Database.Database;
    try {
      mkdirSync(home, { recursive: true, mode: 0o700 });
      // Immediate answers: a lock an owner holds is held for its whole life, and waiting for it
      // would stall every non-owner's first call (synchronously) for nothing.
      db = new Database(path, { timeout: 0 });
      // Only this user may open it: anyone who can open it can hold a shared lock and keep the
      // owner out.
      chmodSync(path, 0o600);
    } catch (err) {
      throw unusableHome(home, err);
    }
    if (db.readonly) {
      db.close();
      throw unusableHome(home, Object.assign(new Error("the lock file opened read-only"), { code: "SQLITE_READONLY" }));
    }
    const deadline = Date.now() + waitMs;
    try {
      // No journal: the transaction never writes, and a journal file would outlive a kill -9.
      db.pragma("journal_mode = OFF");
      for (;;) {
        try {
          db.exec("BEGIN EXCLUSIVE");
          return new HomeLock(db, path, statSync(path).ino);
        } catch (err) {
          // Busy with an owner (or a process a step ahead in taking it, which will own it): give up
          // now. Busy only with a process looking (a shared lock, which lets a read through): retry.
          if (!isBusy(err) || HomeLock.isHeld(path) || Date.now() >= deadline) throw err;
          // Jittered: two takers that got in each other's way must not meet again.
          sleepSync(LOOK_AGAIN_MS * (1 + Math.random()));
        }
      }
    } catch (err) {
      db.close();
      if (isBusy(err)) return undefined;
      throw unusableHome(home, err);
    }
  }

  /** Whether some process (this one included) owns the data dir now. Holds nothing. */
  static isHeld(path: string): boolean {
    let db: Database.Database;
    try {
      db = new Database(path, { readonly: true, fileMustExist: true, timeout: 0 });
    } catch {
      return false; // No lock file: nobody has ever owned this data dir, or it was removed.
    }
    try {
      // A read needs a shared lock, which the owner's exclusive one refuses.
      db.prepare("SELECT count(*) FROM sqlite_master").get();
      return false;
    } catch (err) {
      if (isBusy(err)) return true;
      throw err;
    } finally {
      db.close();
    }
  }

  /**
   * Whether the lock file at the path is still the one this lock holds: a file removed (or
   * replaced) by hand leaves the owner holding a lock nobody else can see.
   */
  isIntact(): boolean {
    try {
      return statSync(this.path).ino === this.inode;
    } catch {
      return false;
    }
  }

  /**
   * Takes a lock on a new file at the path when the one held was removed by hand, so that the
   * next process to look finds the data dir owned again.
   * @returns false when another process took the new file first (two owners: the caller must stop)
   */
  renew(waitMs: number): boolean {
    if (this.isIntact()) return true;
    const fresh = HomeLock.acquire(this.path, waitMs);
    if (!fresh) return false;
    this.db.close();
    this.db = fresh.db;
    this.inode = fresh.inode;
    return true;
  }

  /** Lets the next owner in. The kernel does the same when the process dies. */
  release(): void {
    if (this.db.open) this.db.close();
  }
}

function isBusy(err: unknown): boolean {
  const code = (err as { code?: string }).code;
  return code === "SQLITE_BUSY" || code === "SQLITE_LOCKED";
}

/** An error a person can act on: the path, and what the system said about it. */
export function unusableHome(home: string, err: unknown): SessiondError {
  // SQLite says only "unable to open"; access(2) tells a read-only filesystem from a permission.
  const code = (err as NodeJS.ErrnoException).code?.startsWith("SQLITE_") ? accessProblem(home) ?? (err as NodeJS.ErrnoException).code : (err as NodeJS.ErrnoException).code;
  const reason =
    code === "EROFS"
      ? "it is on a read-only filesystem"
      : code === "EACCES" || code === "EPERM"
        ? "permission denied: the data dir must be writable by this user"
        : (err as Error).message;
  return dataDirUnusable(home, reason, err);
}

/** The one error for a data dir sessiond cannot own, in the error shape (code `data_dir_unusable`). */
export function dataDirUnusable(home: string, reason: string, cause?: unknown): SessiondError {
  return new SessiondError("data_dir_unusable", { home, reason }, cause === undefined ? undefined : { cause });
}

function accessProblem(home: string): string | undefined {
  try {
    accessSync(home, constants.W_OK);
    return undefined;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code;
  }
}

/** How soon a process taking the lock tries again after one only looking at it got in the way. A poll, not a timeout. */
const LOOK_AGAIN_MS = 2;

const sleeper = new Int32Array(new SharedArrayBuffer(4));

/** Blocks this thread for `ms` (for the synchronous paths seed 004's API needs). */
export function sleepSync(ms: number): void {
  Atomics.wait(sleeper, 0, 0, ms);
}
