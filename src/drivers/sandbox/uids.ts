import { lchown, lstat, readdir } from "node:fs/promises";
import { join } from "node:path";
import { SessiondError } from "../../core/index.js";

/**
 * The uids sandboxed sessions run as: `count` of them from `base`, one per live session, so that
 * no two sessions (and never the server) share a uid — the kernel then keeps them apart wherever
 * a namespace does not (signals, /proc, files, `ulimit -u`). A session keeps its uid across
 * restarts when it is free (its workspace is owned by it).
 */
export class UidPool {
  private readonly taken = new Set<number>();
  private next = 0;

  constructor(
    private readonly base: number,
    private readonly count: number,
  ) {}

  /**
   * @param preferred the uid the session had before, kept when free
   * @throws rate_limited when every uid is taken
   */
  take(preferred?: unknown): number {
    if (typeof preferred === "number" && this.inRange(preferred) && !this.taken.has(preferred)) {
      this.taken.add(preferred);
      return preferred;
    }
    for (let i = 0; i < this.count; i++) {
      const uid = this.base + ((this.next + i) % this.count);
      if (this.taken.has(uid)) continue;
      this.next = (uid - this.base + 1) % this.count;
      this.taken.add(uid);
      return uid;
    }
    throw new SessiondError("rate_limited", { reason: `all ${this.count} sandbox uids are in use (sandboxUidCount)` });
  }

  release(uid: number): void {
    this.taken.delete(uid);
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
