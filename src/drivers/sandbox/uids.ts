import { lchown, lstat, readdir } from "node:fs/promises";
import { join } from "node:path";
import { SessiondError } from "../../core/index.js";
import type { UidClaims } from "./uid-claims.js";

/**
 * The uids sandboxed sessions run as: `count` of them from `base`, one per live session, so that
 * no two sessions (and never the server) share a uid — the kernel then keeps them apart wherever
 * a namespace does not (signals, /proc, files, `ulimit -u`). A session keeps its uid across
 * restarts when it is free (its workspace is owned by it). With `claims`, a uid another server on
 * this host runs a session as is not free either.
 */
export class UidPool {
  private readonly taken = new Set<number>();
  private next = 0;

  constructor(
    private readonly base: number,
    private readonly count: number,
    /** Other servers' uids on this host, skipped (uid-claims.ts); none when claims cannot be kept here. */
    private readonly claims?: UidClaims,
  ) {}

  /**
   * @param preferred the uid the session had before, kept when free
   * @throws rate_limited when every uid is taken
   */
  take(preferred?: unknown): number {
    if (typeof preferred === "number" && this.inRange(preferred) && !this.taken.has(preferred) && this.claimed(preferred)) {
      this.taken.add(preferred);
      return preferred;
    }
    for (let i = 0; i < this.count; i++) {
      const uid = this.base + ((this.next + i) % this.count);
      if (this.taken.has(uid) || !this.claimed(uid)) continue;
      this.next = (uid - this.base + 1) % this.count;
      this.taken.add(uid);
      return uid;
    }
    throw new SessiondError("rate_limited", { reason: `all ${this.count} sandbox uids are in use, by this server or others on this host (sandboxUidCount)` });
  }

  release(uid: number): void {
    if (this.taken.delete(uid)) this.claims?.release(uid);
  }

  /** Gives every uid back (the server closes): other servers may take them. */
  releaseAll(): void {
    for (const uid of [...this.taken]) this.release(uid);
  }

  private claimed(uid: number): boolean {
    return this.claims?.claim(uid) ?? true;
  }

  private inRange(uid: number): boolean {
    return Number.isInteger(uid) && uid >= this.base && uid < this.base + this.count;
  }
}

/**
 * Gives a workspace to a session's uid: the whole tree when its top folder belongs to someone
 * else (a new workspace, or one whose session ran under another uid before), never following a
 * symlink out of it.
 */
export async function ownWorkspace(dir: string, uid: number, gid: number): Promise<void> {
  const top = await lstat(dir);
  if (top.uid === uid && top.gid === gid) return;
  const walk = async (path: string): Promise<void> => {
    const stat = await lstat(path);
    await lchown(path, uid, gid);
    if (!stat.isDirectory()) return;
    for (const entry of await readdir(path)) await walk(join(path, entry));
  };
  await walk(dir);
}
