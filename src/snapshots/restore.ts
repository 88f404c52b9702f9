import { randomBytes } from "node:crypto";
import { chmodSync, closeSync, constants, fchmodSync, fchownSync, futimesSync, lchownSync, mkdirSync, openSync, readSync, symlinkSync, utimesSync, writeSync } from "node:fs";
import { copyFile, lstat, mkdir, readFile, readdir, rename, rm, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { SessiondError } from "../core/index.js";
import type { BlobLease, BlobStore } from "./blob-store.js";
import { type DirEntry, type FileEntry, type Manifest, decodeManifest } from "./manifest.js";
import { TimeSlice } from "./time-slice.js";
import { IGNORE_FILE, RESTORE_DIR, ignoreRules } from "./walk.js";

/** What a restore (or a copy) put in place. */
export interface RestoreResult {
  readonly digest: string;
  readonly files: number;
  readonly bytes: number;
}

/** How to restore. */
export interface RestoreOptions {
  /**
   * Paths (gitignore syntax) the restore leaves as it finds them, besides those of the
   * workspace's `.sessiondignore`: what a snapshot with the same rules left out. @default []
   */
  readonly ignore?: readonly string[];
  /**
   * Who owns what the restore creates (lchown; the server must be root). @default the owner of
   * the workspace folder when the server runs as root, else the server's user
   */
  readonly owner?: { readonly uid: number; readonly gid: number };
}


/** The markers of a restore's journal, in `<workspace>/.sessiond-restore/`. */
const READY = "ready";
const OLD_MOVED = "old-moved";
const IGNORED_MOVED = "ignored-moved";

/** What the `ready` marker records, for a restore that a crash cut short to be finished. */
interface Journal {
  readonly digest: string;
  readonly ignore: readonly string[];
}

/** Reads and checks a manifest, pinned on `lease`, with every blob it names pinned and present. */
export async function loadManifest(blobs: BlobStore, digest: string, lease: BlobLease): Promise<Manifest> {
  lease.pin(digest);
  const manifest = decodeManifest(digest, await blobs.read(digest));
  const slice = new TimeSlice();
  for (const entry of manifest.entries) {
    if (entry.type !== "file") continue;
    lease.pin(entry.digest);
    if (!blobs.hasPacked(entry.digest) && !(await blobs.has(entry.digest))) {
      throw new SessiondError("snapshot_damaged", { digest, reason: `the blob of ${entry.path} (${entry.digest}) is missing` });
    }
    await slice.check();
  }
  return manifest;
}

/**
 * Builds a manifest's tree in `target`, a folder that must not exist: folders, files (written
 * out of the blob store — never a hard link into it, since the session writes its files in place;
 * a large blob is copied with a reflink where the file system has them), links as links. Modes
 * and times as recorded; set-ID bits are not kept. The manifest must come from loadManifest
 * (checked, blobs pinned). Synchronous calls in time slices, as snapshots.
 */
export async function buildTree(blobs: BlobStore, manifest: Manifest, target: string, owner: RestoreOptions["owner"]): Promise<RestoreResult & { digest: "" }> {
  mkdirSync(target, { mode: 0o700 });
  const dirs: DirEntry[] = [];
  const packs = new Map<string, number>();
  const slice = new TimeSlice();
  let files = 0;
  let bytes = 0;
  try {
    for (const entry of manifest.entries) {
      const path = join(target, entry.path);
      if (entry.type === "dir") {
        // Writable by us until its files are in; its own mode comes last.
        mkdirSync(path, { mode: 0o700 });
        dirs.push(entry);
      } else if (entry.type === "symlink") {
        symlinkSync(entry.target, path);
        if (owner) lchownSync(path, owner.uid, owner.gid);
      } else {
        await writeFileEntry(blobs, entry, path, owner, packs);
        files++;
        bytes += entry.size;
      }
      await slice.check();
    }
  } finally {
    for (const fd of packs.values()) closeSync(fd);
  }
  // Deepest first, so a folder's time is set after everything inside it was made.
  for (const dir of dirs.reverse()) {
    const path = join(target, dir.path);
    if (owner) lchownSync(path, owner.uid, owner.gid);
    chmodSync(path, dir.mode);
    utimesSync(path, dir.mtime_ms / 1000, dir.mtime_ms / 1000);
    await slice.check();
  }
  if (owner) lchownSync(target, owner.uid, owner.gid);
  return { digest: "", files, bytes };
}

/** One file of a tree: out of its pack (read and written here), or copied from its loose blob. */
async function writeFileEntry(blobs: BlobStore, file: FileEntry, path: string, owner: RestoreOptions["owner"], packs: Map<string, number>): Promise<void> {
  const at = blobs.locate(file.digest);
  if (!at) {
    await copyFile(blobs.pathOf(file.digest), path, constants.COPYFILE_FICLONE | constants.COPYFILE_EXCL);
    if (owner) lchownSync(path, owner.uid, owner.gid);
    chmodSync(path, file.mode);
    utimesSync(path, file.mtime_ms / 1000, file.mtime_ms / 1000);
    return;
  }
  let pack = packs.get(at.path);
  if (pack === undefined) packs.set(at.path, (pack = openSync(at.path, "r")));
  const buffer = Buffer.allocUnsafe(at.length);
  for (let done = 0; done < at.length; ) {
    const read = readSync(pack, buffer, done, at.length - done, at.offset + done);
    if (read === 0) throw new SessiondError("snapshot_damaged", { digest: file.digest, reason: `its pack ends before ${file.path} does` });
    done += read;
  }
  const fd = openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
  try {
    for (let done = 0; done < buffer.length; ) done += writeSync(fd, buffer, done, buffer.length - done, done);
    if (owner) fchownSync(fd, owner.uid, owner.gid);
    fchmodSync(fd, file.mode);
    futimesSync(fd, file.mtime_ms / 1000, file.mtime_ms / 1000);
  } finally {
    closeSync(fd);
  }
}

/**
 * Puts a workspace back as a manifest records it, in place: the workspace folder itself stays
 * (a live session's sandbox has it mounted), its contents are swapped. The new tree is built in
 * `<dir>/.sessiond-restore/new`; a `ready` marker then journals the swap (every current entry
 * into `old`, ignored paths from `old` into the new tree, the new tree's entries into the
 * workspace), which finishInterruptedRestore completes after a crash — so the workspace is the
 * old tree or the new one, never a mix, once it has run (the snapshot and restore calls run it
 * first). Files added since the snapshot are removed; ignored paths are left as they are.
 */
export async function restoreTree(
  blobs: BlobStore,
  dir: string,
  manifest: Manifest,
  digest: string,
  options: RestoreOptions,
  /** A folder on the same file system to move the old tree into (deleted later) instead of deleting it here. */
  trash?: string,
): Promise<RestoreResult> {
  await finishInterruptedRestore(dir);
  const top = await lstat(dir);
  if (!top.isDirectory()) throw new SessiondError("conflict", { reason: `the workspace ${dir} is not a folder` });
  const owner = options.owner ?? (process.getuid?.() === 0 ? { uid: top.uid, gid: top.gid } : undefined);
  const staging = join(dir, RESTORE_DIR);
  await rm(staging, { recursive: true, force: true });
  await mkdir(staging, { mode: 0o700 });
  const built = await buildTree(blobs, manifest, join(staging, "new"), owner);
  const journal: Journal = { digest, ignore: [...(options.ignore ?? [])] };
  await writeFile(join(staging, `${READY}.tmp`), JSON.stringify(journal), { mode: 0o600 });
  await rename(join(staging, `${READY}.tmp`), join(staging, READY));
  await completeSwap(dir, journal, trash);
  return { digest, files: built.files, bytes: built.bytes };
}

/**
 * Completes or undoes a restore that a crash cut short in `dir`: one whose new tree was not yet
 * complete is dropped (the workspace was not touched yet); one that was is carried through.
 * @returns whether there was one
 */
export async function finishInterruptedRestore(dir: string): Promise<boolean> {
  const staging = join(dir, RESTORE_DIR);
  let journal: Journal;
  try {
    journal = JSON.parse(await readFile(join(staging, READY), "utf8")) as Journal;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== "ENOENT" && !(err instanceof SyntaxError)) throw err;
    const there = await lstat(staging).then(
      () => true,
      () => false,
    );
    if (there) await rm(staging, { recursive: true, force: true });
    return there;
  }
  await completeSwap(dir, journal);
  return true;
}

/** The journaled swap; each step is idempotent, and a marker records each one done. */
async function completeSwap(dir: string, journal: Journal, trash?: string): Promise<void> {
  const staging = join(dir, RESTORE_DIR);
  const fresh = join(staging, "new");
  const old = join(staging, "old");
  if (!(await exists(join(staging, OLD_MOVED)))) {
    await mkdir(old, { recursive: true, mode: 0o700 });
    for (const name of await readdir(dir)) {
      if (name !== RESTORE_DIR) await rename(join(dir, name), join(old, name));
    }
    await writeFile(join(staging, OLD_MOVED), "");
  }
  if (!(await exists(join(staging, IGNORED_MOVED)))) {
    if ((journal.ignore.length > 0 || (await exists(join(old, IGNORE_FILE)))) && (await exists(old))) {
      // What the rules leave out stays: from the old tree into the new one, at the same path.
      const rules = await ignoreRules(old, journal.ignore);
      const ignored = rules ? await ignoredPaths(old, rules) : [];
      for (const path of ignored) {
        const to = join(fresh, path);
        if (await exists(to)) continue;
        try {
          await mkdir(dirname(to), { recursive: true, mode: 0o700 });
          await rename(join(old, path), to);
        } catch (err) {
          // Gone already (a redo), or the new tree has a file where its folder was: it goes with the old tree.
          const code = (err as NodeJS.ErrnoException).code;
          if (code !== "ENOENT" && code !== "ENOTDIR" && code !== "EEXIST") throw err;
        }
      }
    }
    await writeFile(join(staging, IGNORED_MOVED), "");
  }
  if (await exists(fresh)) {
    for (const name of await readdir(fresh)) {
      const to = join(dir, name);
      // Something the session wrote meanwhile at that name goes with the old tree.
      if (await exists(to)) await rename(to, join(old, `${name}.${randomBytes(4).toString("hex")}`));
      await rename(join(fresh, name), to);
    }
  }
  if (trash !== undefined) {
    try {
      await mkdir(trash, { recursive: true, mode: 0o700 });
      // Swapped: what is left (the old tree) is deleted later, off the restore's time.
      await rename(staging, join(trash, randomBytes(8).toString("hex")));
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EXDEV") throw err;
    }
  }
  await rm(staging, { recursive: true, force: true });
}

/** The topmost ignored paths of a tree (an ignored folder stands for all below it). */
async function ignoredPaths(dir: string, rules: NonNullable<Awaited<ReturnType<typeof ignoreRules>>>): Promise<string[]> {
  const found: string[] = [];
  const pending = [""];
  while (pending.length) {
    const rel = pending.pop()!;
    for (const entry of await readdir(rel === "" ? dir : join(dir, rel), { withFileTypes: true })) {
      const path = rel === "" ? entry.name : `${rel}/${entry.name}`;
      const isDir = entry.isDirectory();
      if (rules.ignores(isDir ? `${path}/` : path)) found.push(path);
      else if (isDir) pending.push(path);
    }
  }
  return found;
}

async function exists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return false;
    throw err;
  }
}
