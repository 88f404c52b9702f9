import { createHash, randomBytes } from "node:crypto";
import { open, readFile, readdir, rename, rm } from "node:fs/promises";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { errors } from "../core/index.js";
import { isDigest } from "./blob-store.js";

/** A reference's key: letters, digits, `.`, `_`, `-`, not starting with a dot. */
const KEY = /^[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}$/;

/**
 * What keeps snapshots from collection: `<root>/refs/<session>/<key>`, each file holding one
 * manifest digest. A session's checkpoints hold theirs under `checkpoint-<id>`; other holders
 * (undo, hibernation) pick their own keys. Deleting a session drops all of its references.
 */
export class SnapshotRefs {
  constructor(
    /** `$SESSIOND_HOME/snapshots`. */
    readonly root: string,
    private readonly fsync: boolean,
  ) {}

  /** Records that `sessionId` holds `digest` under `key` (replacing what that key held). Durable when it resolves. */
  async hold(sessionId: string, key: string, digest: string): Promise<void> {
    if (!KEY.test(key)) throw errors.validation("key", "expected 1 to 128 letters, digits, '.', '_' or '-', not starting with '.'");
    if (!isDigest(digest)) throw errors.validation("digest", "expected sha256:<64 hex>");
    const dir = this.dirOf(sessionId);
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const temp = join(dir, `.${key}.${randomBytes(6).toString("hex")}`);
    const handle = await open(temp, "wx", 0o600);
    try {
      await handle.writeFile(digest);
      if (this.fsync) await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, join(dir, key));
  }

  /** Drops one reference of a session, or all of them when `key` is left out. */
  async release(sessionId: string, key?: string): Promise<void> {
    if (key !== undefined && !KEY.test(key)) return;
    await rm(key === undefined ? this.dirOf(sessionId) : join(this.dirOf(sessionId), key), { recursive: true, force: true });
  }

  /** The references a session holds, by key. */
  async heldBy(sessionId: string): Promise<Map<string, string>> {
    const held = new Map<string, string>();
    const dir = this.dirOf(sessionId);
    for (const key of await namesIn(dir)) {
      if (!KEY.test(key)) continue;
      const digest = await readFile(join(dir, key), "utf8").catch(() => "");
      if (isDigest(digest)) held.set(key, digest);
    }
    return held;
  }

  /** Every manifest digest any session holds. */
  async all(): Promise<Set<string>> {
    const digests = new Set<string>();
    const top = join(this.root, "refs");
    for (const session of await namesIn(top)) {
      const dir = join(top, session);
      for (const key of await namesIn(dir)) {
        if (!KEY.test(key)) continue;
        const digest = await readFile(join(dir, key), "utf8").catch(() => "");
        if (isDigest(digest)) digests.add(digest);
      }
    }
    return digests;
  }

  private dirOf(sessionId: string): string {
    // Encoded, and prefixed so that no id makes '.' or '..'; a long one by its hash (a name has 255 bytes at most).
    const encoded = encodeURIComponent(sessionId);
    const name = encoded.length <= 200 ? `s-${encoded}` : `h-${createHash("sha256").update(sessionId).digest("hex")}`;
    return join(this.root, "refs", name);
  }
}

async function namesIn(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ENOTDIR") return [];
    throw err;
  }
}
