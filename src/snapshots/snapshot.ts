import type { BigIntStats } from "node:fs";
import { constants } from "node:fs";
import { createHash } from "node:crypto";
import { type FileHandle, open } from "node:fs/promises";
import { SessiondError } from "../core/index.js";
import { type BlobLease, type BlobStore, DIGEST_PREFIX, SMALL_FILE_BYTES } from "./blob-store.js";
import { type FileEntry, KEPT_MODE_BITS, type ManifestEntry, encodeManifest, mtimeMsOf } from "./manifest.js";
import { RESTORE_DIR, type WalkedFile, ignoreRules, walkWorkspace } from "./walk.js";

/** What a snapshot found and stored. */
export interface SnapshotResult {
  /** The manifest's digest: names the whole tree. */
  readonly digest: string;
  /** Regular files kept. */
  readonly files: number;
  /** Their bytes, all together. */
  readonly bytes: number;
  /** Bytes this snapshot added to the blob store (0 when nothing changed since an earlier one). */
  readonly newBytes: number;
  /** Paths left out because they are no file, folder or link (FIFOs, sockets, devices). */
  readonly skipped: readonly string[];
}

/** How to take a snapshot. */
export interface SnapshotOptions {
  /** gitignore patterns left out, besides the workspace's `.sessiondignore`. @default [] */
  readonly ignore?: readonly string[];
  /** The most bytes of files it may hold. @default no limit */
  readonly maxBytes?: number;
}

/**
 * What the stat cache knows of a file: its content's digest, valid while the file's device,
 * inode, size, mtime and ctime (ns) are those it had when it was read. ctime cannot be set by a
 * user, so a file changed since has another one.
 */
interface CachedFile {
  readonly dev: bigint;
  readonly ino: bigint;
  readonly size: bigint;
  readonly mtimeNs: bigint;
  readonly ctimeNs: bigint;
  readonly digest: string;
  /** The blob store generation in which the blob was last seen present. */
  readonly generation: number;
}

/** Per workspace folder: its files' cached digests, by relative path. */
export type StatCache = Map<string, Map<string, CachedFile>>;

/** Reads of a file that keeps changing before it is refused. */
const READ_ATTEMPTS = 3;
/** Files read at once. */
const FILE_CONCURRENCY = 8;
/**
 * A file changed this close before it was read may change again within the same tick of the
 * file system's clock without its times moving: it is read, but not cached (git's "racy clean").
 */
const RACY_WINDOW_NS = 100_000_000n;

/**
 * Snapshots a workspace into the blob store: walks it (links kept as links, never followed;
 * ignored paths left out), refuses it past `maxBytes` before reading anything, stores each file
 * as a blob (a file whose stat matches the cache costs no read), and stores the manifest.
 * Every blob it uses is pinned on `lease` — release it once something durable refers to the
 * manifest. A file that changes while it is read (its stat before and after differ) is read
 * again, and refused after READ_ATTEMPTS; it never yields a blob mixing two versions.
 * @throws snapshot_too_large; file_changed; not_found when `dir` does not exist
 */
export async function takeSnapshot(
  blobs: BlobStore,
  cache: StatCache,
  dir: string,
  options: SnapshotOptions,
  lease: BlobLease,
): Promise<SnapshotResult> {
  const maxBytes = options.maxBytes ?? Number.MAX_SAFE_INTEGER;
  const rules = await ignoreRules(dir, options.ignore ?? []);
  const walked = await walkWorkspace(dir, rules, maxBytes);
  let known = cache.get(dir);
  if (!known) cache.set(dir, (known = new Map()));
  const seen = new Set<string>();
  const entries: ManifestEntry[] = [
    ...walked.dirs.map((d) => ({ type: "dir" as const, ...d })),
    ...walked.symlinks.map((l) => ({ type: "symlink" as const, ...l })),
  ];
  const budget = { bytes: walked.bytes, max: maxBytes };
  let newBytes = 0;
  let bytes = 0;
  const files: FileEntry[] = [];
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < walked.files.length) {
      const file = walked.files[next++]!;
      const stored = await storeFile(blobs, known, file, budget, lease);
      if (!stored) continue;
      seen.add(file.path);
      newBytes += stored.written;
      bytes += stored.entry.size;
      files.push(stored.entry);
    }
  };
  await Promise.all(Array.from({ length: Math.min(FILE_CONCURRENCY, walked.files.length) }, worker));
  // Files gone from the workspace leave the cache with it.
  for (const path of known.keys()) if (!seen.has(path)) known.delete(path);
  entries.push(...files);
  const manifest = await blobs.putBuffer(encodeManifest(entries), lease);
  return { digest: manifest.digest, files: files.length, bytes, newBytes, skipped: walked.skipped };
}

/** One file into the blob store (or found there). undefined when it is gone or no longer a file. */
async function storeFile(
  blobs: BlobStore,
  known: Map<string, CachedFile>,
  file: WalkedFile,
  budget: { bytes: number; readonly max: number },
  lease: BlobLease,
): Promise<{ entry: FileEntry; written: number } | undefined> {
  const cached = known.get(file.path);
  if (cached && sameFile(cached, file.stat)) {
    // Pinned before it is looked for, so a collection running now keeps it.
    lease.pin(cached.digest);
    if (cached.generation === blobs.currentGeneration || (await blobs.has(cached.digest))) {
      return { entry: fileEntry(file.path, file.stat, cached.digest), written: 0 };
    }
  }
  for (let attempt = 1; attempt <= READ_ATTEMPTS; attempt++) {
    const readAt = BigInt(Date.now()) * 1_000_000n;
    let handle;
    try {
      // O_NONBLOCK: a FIFO swapped in for the file since the walk must not hang the read.
      handle = await open(file.abs, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === "ENOENT" || code === "ELOOP") return undefined;
      throw err;
    }
    try {
      const before = await handle.stat({ bigint: true });
      if (!before.isFile()) return undefined;
      budget.bytes += Number(before.size) - Number(file.stat.size);
      if (budget.bytes > budget.max) throw new SessiondError("snapshot_too_large", { size: `more than ${budget.bytes}`, limit: budget.max }, { field: "with_files" });
      // Changed so recently that a write in the same clock tick would not move its times: the
      // stat check alone cannot vouch for the read, so a second read must agree with the first.
      const racy = before.ctimeNs >= readAt - RACY_WINDOW_NS || before.mtimeNs >= readAt - RACY_WINDOW_NS;
      let put: { digest: string; written: boolean };
      let size: number;
      if (before.size <= BigInt(SMALL_FILE_BYTES)) {
        const bytes = await readAll(handle, Number(before.size));
        if (!sameFile(before, await handle.stat({ bigint: true })) || bytes.length !== Number(before.size)) continue;
        if (racy && !bytes.equals(await readAll(handle, bytes.length))) continue;
        put = await blobs.putBuffer(bytes, lease);
        size = bytes.length;
      } else {
        const streamed = await blobs.putStream(handle, lease);
        if (!sameFile(before, await handle.stat({ bigint: true })) || streamed.size !== Number(before.size)) continue;
        if (racy && (await hashOf(handle)) !== streamed.digest) continue;
        put = streamed;
        size = streamed.size;
      }
      if (!racy) {
        known.set(file.path, { dev: before.dev, ino: before.ino, size: before.size, mtimeNs: before.mtimeNs, ctimeNs: before.ctimeNs, digest: put.digest, generation: blobs.currentGeneration });
      } else {
        known.delete(file.path);
      }
      return { entry: fileEntry(file.path, before, put.digest), written: put.written ? size : 0 };
    } finally {
      await handle.close();
    }
  }
  throw new SessiondError("file_changed", { path: file.path, attempts: READ_ATTEMPTS }, { field: "with_files" });
}

/** A file's bytes from its start, up to `size` + 1 (one more shows that it grew). */
async function readAll(handle: FileHandle, size: number): Promise<Buffer> {
  const buffer = Buffer.allocUnsafe(size + 1);
  let length = 0;
  while (length < buffer.length) {
    const { bytesRead } = await handle.read(buffer, length, buffer.length - length, length);
    if (bytesRead === 0) break;
    length += bytesRead;
  }
  return buffer.subarray(0, length);
}

/** `sha256:<hex>` of what an open file holds from its start. */
async function hashOf(handle: FileHandle): Promise<string> {
  const hash = createHash("sha256");
  const buffer = Buffer.allocUnsafe(1024 * 1024);
  for (let position = 0; ; ) {
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, position);
    if (bytesRead === 0) break;
    hash.update(buffer.subarray(0, bytesRead));
    position += bytesRead;
  }
  return DIGEST_PREFIX + hash.digest("hex");
}

function sameFile(a: Pick<CachedFile, "dev" | "ino" | "size" | "mtimeNs" | "ctimeNs">, b: BigIntStats): boolean {
  return a.dev === b.dev && a.ino === b.ino && a.size === b.size && a.mtimeNs === b.mtimeNs && a.ctimeNs === b.ctimeNs;
}

function fileEntry(path: string, stat: BigIntStats, digest: string): FileEntry {
  return { path, type: "file", mode: Number(stat.mode) & KEPT_MODE_BITS, size: Number(stat.size), digest, mtime_ms: mtimeMsOf(stat) };
}

export { RESTORE_DIR };
