import { createHash } from "node:crypto";
import type { BigIntStats } from "node:fs";
import { closeSync, fstatSync, lstatSync, openSync, readSync } from "node:fs";
import { type FileHandle, open } from "node:fs/promises";
import { SessiondError } from "../core/index.js";
import { type BlobLease, type BlobStore, DIGEST_PREFIX, type PackWriter, SMALL_FILE_BYTES } from "./blob-store.js";
import { type FileEntry, KEPT_MODE_BITS, mtimeMsOf } from "./manifest.js";
import { type Previous, TreeRecorder, type TreeBase } from "./tree-records.js";
import { FILE_FLAGS, type IgnoreRules, type FileEntry as WalkFileEntry, gone, readLinkAt, walkTree } from "./walk.js";

const SMALL_BYTES = BigInt(SMALL_FILE_BYTES);

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
  /** Paths left out because they are no file, folder or link (FIFOs, sockets, devices), or their names are not UTF-8 (shown with U+FFFD). */
  readonly skipped: readonly string[];
  /** Folders listed (the root included): all of them, or with change tracking those changed and new. */
  readonly foldersListed: number;
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
  /** Its link count then. */
  readonly links: bigint;
  readonly digest: string;
  /** The blob store generation in which the blob was last seen present. */
  readonly generation: number;
}

/** Per workspace folder: its files' cached digests, by relative path. */
export type StatCache = Map<string, Map<string, CachedFile>>;

/** Reads of a file that keeps changing before it is refused. */
const READ_ATTEMPTS = 3;
/**
 * A file changed this close before it was read may change again within the same tick of the
 * file system's clock without its times moving: it is read twice (the reads must agree), and not
 * cached (git's "racy clean").
 */
const RACY_WINDOW_NS = 100_000_000n;

/** A snapshot and the tree it found, for the next snapshot of the same folder to build on. */
export interface TakenSnapshot {
  readonly result: SnapshotResult;
  readonly tree: TreeBase;
}

/**
 * Snapshots a workspace into the blob store: walks it (walk.ts: through descriptors, links kept
 * as links and never followed, ignored paths left out), stores each file as a blob (a file whose
 * stat matches the cache costs no read), and the manifest. Sizes are added up as the walk goes
 * and checked against `maxBytes` before each file is read. Small files and the manifest go into
 * one new pack, which exists only once the snapshot is complete: a refused or failed snapshot
 * leaves nothing. Every blob it uses is pinned on `lease` — release it once something durable
 * refers to the manifest. A file that changes while it is read (its stat before and after
 * differ, or two reads disagree) is read again, and refused after READ_ATTEMPTS; it never yields
 * a blob mixing two versions.
 *
 * With `previous` (change tracking: the last snapshot's tree and the folders changed since), only
 * the folders changed are listed; the others are taken from that tree as they are (tree-records.ts).
 * It is not used when the ignore rules changed or a collection removed blobs since.
 * @param ignored the rules of `options.ignore` and the workspace's `.sessiondignore`, as
 *   readIgnoreRules read them just before (the change tracker was asked with them)
 * @throws snapshot_too_large; file_changed
 */
export async function takeSnapshot(
  blobs: BlobStore,
  cache: StatCache,
  dir: string,
  options: SnapshotOptions,
  lease: BlobLease,
  ignored: IgnoreRules,
  previous?: Previous,
): Promise<TakenSnapshot> {
  const maxBytes = options.maxBytes ?? Number.MAX_SAFE_INTEGER;
  const { rules, source } = ignored;
  const generation = blobs.currentGeneration;
  const startedAt = Date.now();
  if (previous) {
    // Pinned before the generation is compared: a collection from now on keeps them all.
    lease.pinAll(previous.base.digests);
    if (previous.base.rules !== source || previous.base.generation !== generation) previous = undefined;
  }
  const known = cache.get(dir) ?? new Map<string, CachedFile>();
  cache.set(dir, known);
  let looseBytes = 0;
  const pack = await blobs.openPack(lease);
  /**
   * One walk, built on `from` when given. @returns its recorder, the paths of the files it saw
   * (a whole walk), and whether it met a file that gained a link since the cache knew it.
   */
  const walk = async (from: Previous | undefined) => {
    const recorder = new TreeRecorder(from);
    const seen = from ? undefined : new Set<string>();
    const budget = { bytes: 0, max: maxBytes };
    let linkedAnew = false;
    await walkTree(
      dir,
      rules,
      async (entry) => {
        const { path } = entry;
        switch (entry.kind) {
          case "dir":
            recorder.folder({ path, type: "dir", mode: Number(entry.stat.mode) & KEPT_MODE_BITS, mtime_ms: mtimeMsOf(entry.stat) });
            break;
          case "symlink": {
            const target = readLinkAt(entry.at);
            if (target !== undefined) recorder.link({ path, type: "symlink", target });
            break;
          }
          case "file": {
            const stored = await storeFile(blobs, pack, known, entry, budget, lease);
            // The pack writes on the thread pool while the walk goes on, as far as its buffers allow.
            await pack.room();
            if (!stored) return;
            seen?.add(path);
            looseBytes += stored.looseBytes;
            linkedAnew ||= stored.linkedAnew;
            recorder.file(stored.entry, stored.links);
            break;
          }
          case "other":
            recorder.other(path);
        }
      },
      {
        unnamed: (path) => recorder.other(path),
        known: from && {
          plan: (path) => recorder.plan(path),
          visit: (entry) => charge(budget, BigInt(entry.kind === "reused" ? recorder.reused(entry.path) : recorder.entered(entry.path))),
        },
      },
    );
    return { recorder, seen, linkedAnew };
  };
  try {
    let { recorder, seen, linkedAnew } = await walk(previous);
    // A file that gained a link has another name somewhere, maybe in a folder the tracker calls
    // unchanged (a link raises no event in the folders of the file's other names): walk it all.
    // The second walk reads nothing the first one stored.
    if (previous && linkedAnew) ({ recorder, seen } = await walk(undefined));
    // Files gone from the workspace leave the cache with it.
    if (seen) {
      for (const path of known.keys()) if (!seen.has(path)) known.delete(path);
    } else {
      for (const path of recorder.goneFiles()) known.delete(path);
    }
    const taken = recorder.finish(source, generation, startedAt);
    const written = pack.written;
    const manifest = pack.addPieces(taken.manifest);
    // The files' new bytes: the manifest is bookkeeping.
    const newBytes = written + looseBytes;
    await pack.finish();
    return { result: { digest: manifest.digest, files: taken.files, bytes: taken.bytes, newBytes, skipped: taken.skipped, foldersListed: taken.foldersListed }, tree: taken.base };
  } catch (err) {
    await pack.abort();
    throw err;
  }
}

/**
 * One file into the blob store (or found there). undefined when it is gone or no longer a file.
 * Its size is counted against the cap before it is read.
 */
async function storeFile(
  blobs: BlobStore,
  pack: PackWriter,
  known: Map<string, CachedFile>,
  file: WalkFileEntry,
  budget: Budget,
  lease: BlobLease,
): Promise<{ entry: FileEntry; looseBytes: number; links: bigint; linkedAnew: boolean } | undefined> {
  const cached = known.get(file.path);
  // More than one link now, and not so (or not known) before: see takeSnapshot.
  const anew = (links: bigint): boolean => links > 1n && !(cached && cached.links > 1n);
  // A file known from before is stat'ed by name (see WalkFileEntry): a match is the inode read
  // before, unchanged since, whatever path led to it; anything else is read through `at`.
  let listed = file.stat ?? (cached ? gone(() => lstatSync(file.named, { bigint: true })) : undefined);
  if (cached && listed && sameFile(cached, listed)) {
    // Pinned before it is looked for, so a collection running now keeps it.
    lease.pin(cached.digest);
    if (blobs.hasPacked(cached.digest) || (listed.size > SMALL_BYTES && (cached.generation === blobs.currentGeneration || (await blobs.has(cached.digest))))) {
      charge(budget, listed.size);
      return { entry: fileEntry(file.path, listed, cached.digest), looseBytes: 0, links: listed.nlink, linkedAnew: anew(listed.nlink) };
    }
  }
  let charged = 0n;
  for (let attempt = 1; attempt <= READ_ATTEMPTS; attempt++) {
    const readAt = BigInt(Date.now()) * 1_000_000n;
    // Not looked at yet (a file new to the cache): opened at once, its fstat tells what it is.
    const opened = listed?.isFile() ? undefined : openListed(file.at);
    if (opened === "gone") return undefined;
    if (opened) listed = opened.stat;
    charge(budget, listed!.size - charged);
    charged = listed!.size;
    let read: Read;
    if (listed!.size <= SMALL_BYTES) {
      read = readSmall(file.at, listed!, pack, readAt, opened);
    } else {
      if (opened) closeSync(opened.fd);
      read = await readLarge(file.at, listed!, blobs, readAt, lease);
    }
    if (read === "gone") return undefined;
    if (read === "changed") {
      // Looked at again (through the folder's descriptor) before the next read.
      listed = undefined;
      continue;
    }
    const { before, digest, racy } = read;
    if (!racy) {
      known.set(file.path, {
        dev: before.dev,
        ino: before.ino,
        size: before.size,
        mtimeNs: before.mtimeNs,
        ctimeNs: before.ctimeNs,
        links: before.nlink,
        digest,
        generation: blobs.currentGeneration,
      });
    } else {
      known.delete(file.path);
    }
    return { entry: fileEntry(file.path, before, digest), looseBytes: read.looseBytes, links: before.nlink, linkedAnew: anew(before.nlink) };
  }
  throw new SessiondError("file_changed", { path: file.path, attempts: READ_ATTEMPTS }, { field: "with_files" });
}

/** A file opened as the walk listed it, without following a link: its descriptor and what it is. */
interface Opened {
  readonly fd: number;
  readonly stat: BigIntStats;
}

/** Opens a listed file through its folder's descriptor; "gone" when it is no longer there or no longer a file. */
function openListed(at: string): Opened | "gone" {
  const fd = gone(() => openSync(at, FILE_FLAGS));
  if (fd === undefined) return "gone";
  const stat = fstatSync(fd, { bigint: true });
  if (stat.isFile()) return { fd, stat };
  closeSync(fd);
  return "gone";
}

type Budget = { bytes: number; readonly max: number };
type Read = "gone" | "changed" | { readonly before: BigIntStats; readonly digest: string; readonly racy: boolean; readonly looseBytes: number };

/**
 * A small file read whole (synchronously) into the snapshot's pack: the file the walk listed —
 * opened without following a link (or `opened` so just now), and the same inode, or it counts as
 * changed.
 */
function readSmall(at: string, listed: BigIntStats, pack: PackWriter, readAt: bigint, opened?: Opened): Read {
  const fd = opened?.fd ?? gone(() => openSync(at, FILE_FLAGS));
  if (fd === undefined) return "gone";
  try {
    const before = opened?.stat ?? fstatSync(fd, { bigint: true });
    if (!before.isFile()) return "gone";
    if (before.dev !== listed.dev || before.ino !== listed.ino || before.size !== listed.size) return "changed";
    const racy = isRacy(before, readAt);
    // Read where the pack would put it: kept there without a copy when it is new.
    const bytes = readAllSync(fd, Number(before.size), pack.space(Number(before.size)));
    // A write while it was read (growing it, too) moved its size or times.
    if (!sameFile(before, fstatSync(fd, { bigint: true })) || bytes.length !== Number(before.size)) return "changed";
    if (racy && !bytes.equals(readAllSync(fd, bytes.length, SECOND_READ))) return "changed";
    const put = pack.add(bytes);
    return { before, digest: put.digest, racy, looseBytes: 0 };
  } finally {
    closeSync(fd);
  }
}

/** A large file streamed into a blob of its own (the same checks as readSmall). */
async function readLarge(at: string, listed: BigIntStats, blobs: BlobStore, readAt: bigint, lease: BlobLease): Promise<Read> {
  let handle: FileHandle;
  try {
    handle = await open(at, FILE_FLAGS);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ELOOP" || code === "ENOTDIR") return "gone";
    throw err;
  }
  try {
    const before = await handle.stat({ bigint: true });
    if (!before.isFile()) return "gone";
    if (before.dev !== listed.dev || before.ino !== listed.ino || before.size !== listed.size) return "changed";
    const racy = isRacy(before, readAt);
    const streamed = await blobs.putStream(handle, lease);
    if (!sameFile(before, await handle.stat({ bigint: true })) || streamed.size !== Number(before.size)) return "changed";
    if (racy && (await hashOf(handle)) !== streamed.digest) return "changed";
    return { before, digest: streamed.digest, racy, looseBytes: streamed.written ? streamed.size : 0 };
  } finally {
    await handle.close();
  }
}

/** Counts bytes against the cap. @throws snapshot_too_large past it */
function charge(budget: Budget, size: bigint): void {
  budget.bytes += Number(size);
  if (budget.bytes > budget.max) throw new SessiondError("snapshot_too_large", { size: `more than ${budget.bytes}`, limit: budget.max }, { field: "with_files" });
}

function isRacy(stat: BigIntStats, readAt: bigint): boolean {
  return stat.ctimeNs >= readAt - RACY_WINDOW_NS || stat.mtimeNs >= readAt - RACY_WINDOW_NS;
}

/**
 * The buffer a racy file's second read goes into, reused from file to file (an allocation per
 * file costs more than its read): compared at once. Reads are synchronous, and two snapshots
 * never interleave their synchronous parts.
 */
const SECOND_READ = Buffer.allocUnsafe(SMALL_FILE_BYTES);

/** A file's first `size` bytes (fewer when it is shorter now), in `into` (at least `size` long). */
function readAllSync(fd: number, size: number, into: Buffer): Buffer {
  const buffer = into.subarray(0, size);
  let length = 0;
  while (length < buffer.length) {
    const bytesRead = readSync(fd, buffer, length, buffer.length - length, length);
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
