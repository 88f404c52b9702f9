import { randomBytes } from "node:crypto";
import { chmodSync, closeSync, constants, fchmodSync, fchownSync, futimesSync, lchownSync, mkdirSync, openSync, readSync, symlinkSync, utimesSync, writeSync } from "node:fs";
import { copyFile, lstat, mkdir, readFile, readdir, rename, writeFile } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { SessiondError } from "../core/index.js";
import { type BlobLease, type BlobStore, SMALL_FILE_BYTES } from "./blob-store.js";
import { type DirEntry, type FileEntry, type Manifest, decodeManifest } from "./manifest.js";
import { TimeSlice } from "./time-slice.js";
import { TreePaths, removeTree } from "./tree-paths.js";
import { DIR_FLAGS, IGNORE_FILE, ignoreRules, walkTree } from "./walk.js";

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


/** The files of a restore's staging folder: its journal, and a marker for each step done. */
const JOURNAL = "journal.json";
const READY = "ready";
const DONE = "done";
const OLD_MOVED = "old-moved";
const IGNORED_MOVED = "ignored-moved";

/** What a restore's journal records, for a restore that a crash cut short to be finished. */
interface Journal {
  /** The workspace folder. */
  readonly dir: string;
  readonly digest: string;
  readonly ignore: readonly string[];
  /** Who owns what the restore creates (absent in journals of older versions: see ownerOf). */
  readonly owner?: { readonly uid: number; readonly gid: number };
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
  const paths = new TreePaths(target);
  const slice = new TimeSlice();
  let files = 0;
  let bytes = 0;
  try {
    for (const entry of manifest.entries) {
      const path = paths.of(entry.path);
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
    // Deepest first, so a folder's time is set after everything inside it was made.
    for (const dir of dirs.reverse()) {
      const path = paths.of(dir.path);
      if (owner) lchownSync(path, owner.uid, owner.gid);
      chmodSync(path, dir.mode);
      utimesSync(path, dir.mtime_ms / 1000, dir.mtime_ms / 1000);
      await slice.check();
    }
  } finally {
    for (const fd of packs.values()) closeSync(fd);
    paths.close();
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
  // Read and written in one synchronous run, so one buffer serves every file.
  const buffer = at.length <= COPY_BUFFER.length ? COPY_BUFFER.subarray(0, at.length) : Buffer.allocUnsafe(at.length);
  for (let done = 0; done < at.length; ) {
    const read = readSync(pack, buffer, done, at.length - done, at.offset + done);
    if (read === 0) throw new SessiondError("snapshot_damaged", { digest: file.digest, reason: `its pack ends before ${file.path} does` });
    done += read;
  }
  // Created with its mode when the umask leaves it whole (most files): no chmod then. The
  // staging folder is the server's alone, so the file is never open to anyone else meanwhile.
  const direct = (file.mode & ~UMASK & 0o777) === file.mode;
  const fd = openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, direct ? file.mode : 0o600);
  try {
    for (let done = 0; done < buffer.length; ) done += writeSync(fd, buffer, done, buffer.length - done, done);
    if (owner && (owner.uid !== EUID || owner.gid !== EGID)) fchownSync(fd, owner.uid, owner.gid);
    if (!direct) fchmodSync(fd, file.mode);
    futimesSync(fd, file.mtime_ms / 1000, file.mtime_ms / 1000);
  } finally {
    closeSync(fd);
  }
}

/**
 * The folder restores and copies build in, beside the workspace: `<parent>/.sessiond-staging/`.
 * For a server's workspaces that is inside `$SESSIOND_HOME/workspaces/`, where no session can
 * reach (each sees its own workspace only), on the same file system as the workspace, so the
 * swap is renames. Nothing the session does can then redirect a write the restore makes.
 */
export const STAGING_DIR = ".sessiond-staging";

/** The process's umask and ids, read once: what a created file gets without a chmod or chown. */
const UMASK = readUmask();
const EUID = process.geteuid?.() ?? -1;
const EGID = process.getegid?.() ?? -1;

function readUmask(): number {
  // Read without setting it (DEP0139 is documentation-only): setting it, even back, races every thread creating files.
  return process.umask();
}

/** What packed files are copied out through (see writeFileEntry). */
const COPY_BUFFER = Buffer.allocUnsafe(SMALL_FILE_BYTES);

/** Staging folders this process is working in now: never taken for a crashed restore's. */
const ACTIVE = new Set<string>();

/** A new staging folder for workspace `dir`, marked active until `done` is called. */
export async function openStage(dir: string): Promise<{ readonly path: string; done(): void }> {
  const path = join(stagingRootOf(dir), randomBytes(8).toString("hex"));
  ACTIVE.add(path);
  try {
    await mkdir(path, { recursive: true, mode: 0o700 });
  } catch (err) {
    ACTIVE.delete(path);
    throw err;
  }
  return { path, done: () => ACTIVE.delete(path) };
}

/** The staging folder for workspace `dir`. */
export function stagingRootOf(dir: string): string {
  return join(dirname(dir), STAGING_DIR);
}

/**
 * Puts a workspace back as a manifest records it, in place: the workspace folder itself stays (a
 * live session's sandbox has it mounted), its contents are swapped. The new tree is built in a
 * staging folder of the server's (stagingRootOf) under a journal (`journal.json`, then a `ready`
 * marker once the tree is complete); the swap then moves every current entry into the staging
 * folder's `old`, ignored paths from `old` into the new tree, and the new tree's entries into the
 * workspace, recording each step. finishInterruptedRestore completes it after a crash — so the
 * workspace is the old tree or the new one, never a mix, once it has run (at start, and before
 * any snapshot or restore of that workspace). Files added since the snapshot are removed; ignored
 * paths are left as they are. The replaced tree is deleted after the answer (`cleanup`).
 */
export async function restoreTree(
  blobs: BlobStore,
  dir: string,
  manifest: Manifest,
  digest: string,
  options: RestoreOptions,
  cleanup: (stage: string) => void,
): Promise<RestoreResult> {
  await finishInterruptedRestore(dir);
  const top = await lstat(dir);
  if (!top.isDirectory()) throw new SessiondError("conflict", { reason: `the workspace ${dir} is not a folder` });
  const owner = options.owner ?? ownerOf(top);
  // Refused rules (ignoreRules) are refused now, before anything changes, not half way through the swap.
  await ignoreRules(dir, options.ignore ?? []);
  const opened = await openStage(dir);
  const stage = opened.path;
  try {
    const journal: Journal = { dir, digest, ignore: [...(options.ignore ?? [])], ...(owner ? { owner } : {}) };
    await writeFile(join(stage, JOURNAL), JSON.stringify(journal), { mode: 0o600 });
    let built: RestoreResult & { digest: "" };
    try {
      built = await buildTree(blobs, manifest, join(stage, "new"), owner);
    } catch (err) {
      // What is left is removed by the next finishInterruptedRestore; the build's error is the one to tell.
      await removeTree(stage).catch(() => undefined);
      throw err;
    }
    await writeFile(join(stage, READY), "");
    await completeSwap(stage, journal);
    cleanup(stage);
    return { digest, files: built.files, bytes: built.bytes };
  } finally {
    opened.done();
  }
}

/**
 * Completes or undoes the restores that a crash cut short among the workspaces in `parent` (only
 * those of workspace `dir` when given): one whose new tree was not complete is dropped (the
 * workspace was not touched yet); one that was is carried through. Staging folders of finished
 * restores and of copies (left by a crash before their deletion) go too.
 * @returns how many restores it finished or dropped
 */
export async function finishInterruptedRestores(parent: string, dir?: string): Promise<number> {
  const root = join(parent, STAGING_DIR);
  let count = 0;
  let failure: unknown;
  for (const name of await readdir(root).catch(() => [] as string[])) {
    const stage = join(root, name);
    if (ACTIVE.has(stage)) continue;
    let journal: Journal | undefined;
    try {
      journal = JSON.parse(await readFile(join(stage, JOURNAL), "utf8")) as Journal;
    } catch {
      journal = undefined;
    }
    // Another workspace's restore (maybe running now) is its own business.
    if (dir !== undefined && journal?.dir !== dir) continue;
    try {
      if (journal && !(await exists(join(stage, DONE)))) {
        count++;
        // A workspace deleted since (with its session) has nothing left to finish.
        if ((await exists(join(stage, READY))) && (await exists(journal.dir))) await completeSwap(stage, journal);
      }
      await removeTree(stage);
    } catch (err) {
      // One restore that cannot be finished does not keep the others from being finished.
      failure ??= err;
    }
  }
  if (failure !== undefined) throw failure;
  return count;
}

/** finishInterruptedRestores for one workspace. */
export function finishInterruptedRestore(dir: string): Promise<number> {
  return finishInterruptedRestores(dirname(dir), dir);
}

/** The journaled swap; each step is idempotent, and a marker records each one done. */
async function completeSwap(stage: string, journal: Journal): Promise<void> {
  const { dir } = journal;
  const fresh = join(stage, "new");
  const old = join(stage, "old");
  if (!(await exists(join(stage, OLD_MOVED)))) {
    await mkdir(old, { recursive: true, mode: 0o700 });
    // Renames of names in the workspace folder (a path of the server's): the last component is
    // never followed. By their bytes: a name that is not UTF-8 is another one read as text.
    const [dirBytes, oldBytes] = [Buffer.from(`${dir}/`), Buffer.from(`${old}/`)];
    // The session's processes may still be writing: a name gone since it was listed has nothing
    // to move, and names made meanwhile are moved by another pass (a few: a loop making them
    // forever would keep a swap from ending; what it makes after is newer than the restore).
    // Those go under names of their own: made again under a name moved already, they must not
    // land on (or fail on) what the first pass moved, which keepIgnored reads by its name.
    for (let pass = 0; pass < MOVE_OUT_PASSES; pass++) {
      const names = await readdir(dir, { encoding: "buffer" });
      if (names.length === 0) break;
      for (const name of names) {
        const from = Buffer.concat([dirBytes, name]);
        if (pass === 0) await moveAside(from, Buffer.concat([oldBytes, name]), old);
        else await renameIfThere(from, asideName(old));
      }
    }
    await writeFile(join(stage, OLD_MOVED), "");
  }
  if (!(await exists(join(stage, IGNORED_MOVED)))) {
    if (journal.ignore.length > 0 || (await exists(join(old, IGNORE_FILE)))) {
      // The swap is never left half done: what cannot be kept (rules the session made refused
      // since the restore began) goes with the old tree, rather than the workspace stay empty.
      await keepIgnored(old, fresh, journal.ignore, journal.owner ?? ownerOf(await lstat(dir))).catch(() => undefined);
    }
    await writeFile(join(stage, IGNORED_MOVED), "");
  }
  if (await exists(fresh)) {
    for (const name of await readdir(fresh)) await moveIn(join(fresh, name), join(dir, name), old);
  }
  await writeFile(join(stage, DONE), "");
}

/** Passes over the workspace's top folder that move what is there out of the way of a restore. */
const MOVE_OUT_PASSES = 3;

/**
 * Tries at moving one entry in where the session makes that name again meanwhile. Each try is a
 * few system calls on the thread pool; a loop in the session (`while :; do mkdir -p d/x; done`)
 * forks for each of its own, yet on a loaded machine it won three tries running (seen once in CI).
 */
const MOVE_IN_ATTEMPTS = 10;

/** What rename answers when something is at its destination that it will not replace. */
const TAKEN = new Set(["ENOTEMPTY", "EEXIST", "EISDIR", "ENOTDIR"]);

/** A name in `old` no name of the workspace has, for what the session made while the swap went. */
function asideName(old: string): string {
  return join(old, `.made-during-restore.${randomBytes(8).toString("hex")}`);
}

/**
 * Moves `from` to `to` in the old tree; when `to` is taken there (a swap finished after a crash
 * meets a name the session made again), under a name of its own instead.
 */
async function moveAside(from: Buffer, to: Buffer, old: string): Promise<void> {
  try {
    await renameIfThere(from, to);
  } catch (err) {
    if (!TAKEN.has((err as NodeJS.ErrnoException).code ?? "")) throw err;
    await renameIfThere(from, asideName(old));
  }
}

/**
 * Moves an entry of the new tree into the workspace at `to`. Something the session made meanwhile
 * at that name goes with the old tree; a process making it again as fast as it is moved away gets
 * a few tries, then the swap fails (and is finished by the next finishInterruptedRestore).
 */
async function moveIn(from: string, to: string, old: string): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    if (await exists(to)) await renameIfThere(to, asideName(old));
    try {
      return await rename(from, to);
    } catch (err) {
      if (!TAKEN.has((err as NodeJS.ErrnoException).code ?? "") || attempt >= MOVE_IN_ATTEMPTS) throw err;
    }
  }
}

/** rename, but a source that is gone (removed by the session as the swap went) is nothing to move. */
async function renameIfThere(from: string | Buffer, to: string | Buffer): Promise<void> {
  try {
    await rename(from, to);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
  }
}

/**
 * Moves what the ignore rules match from the old tree into the new one, at the same path. The
 * old tree came from the workspace, and a process of the session whose working directory is in it
 * may still change it: it is walked through descriptors (walk.ts), and each path moved by its
 * folder's descriptor, so no link planted there leads the move anywhere else.
 */
async function keepIgnored(old: string, fresh: string, patterns: readonly string[], owner: RestoreOptions["owner"]): Promise<void> {
  const rules = await ignoreRules(old, patterns);
  if (!rules) return;
  await walkTree(old, undefined, async (entry) => {
    if (!rules.ignores(entry.kind === "dir" ? `${entry.path}/` : entry.path)) return;
    // The new tree holds the checkpoint's links: its folders are reached through descriptors,
    // never through a link, or a link restored where a folder was would take the path anywhere.
    const parent = openFolderIn(fresh, dirname(entry.path), owner);
    if (parent === undefined) return;
    try {
      const to = `/proc/self/fd/${parent}/${basename(entry.path)}`;
      if (await exists(to)) return;
      await rename(entry.at, to);
    } catch (err) {
      // Gone already (a redo): it goes with the old tree.
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== "ENOENT" && code !== "ENOTDIR" && code !== "EEXIST") throw err;
    } finally {
      closeSync(parent);
    }
  }, { descend: (entry) => !rules.ignores(`${entry.path}/`), skipTooDeep: true });
}

/**
 * Folder `path` ("." for the root) of the tree at `root`, opened folder by folder without
 * following a link, and made (mode 700, given to `owner`) where it is missing. undefined when
 * something on the way is no folder — a link or a file the new tree has there: what was to go
 * there stays out.
 */
function openFolderIn(root: string, path: string, owner: RestoreOptions["owner"]): number | undefined {
  let fd = openSync(root, DIR_FLAGS);
  for (const name of path === "." ? [] : path.split("/")) {
    const at = `/proc/self/fd/${fd}/${name}`;
    let next: number | undefined;
    try {
      next = openDir(at, owner);
    } catch (err) {
      closeSync(fd);
      throw err;
    }
    closeSync(fd);
    if (next === undefined) return undefined;
    fd = next;
  }
  return fd;
}

/** Opens the folder at `at` (made when missing, for `owner`); undefined when it is a link or no folder. */
function openDir(at: string, owner: RestoreOptions["owner"]): number | undefined {
  for (let attempt = 0; ; attempt++) {
    try {
      const fd = openSync(at, DIR_FLAGS);
      // Made here: the session's, as every folder of its workspace (its files are kept in it).
      if (attempt > 0 && owner) fchownSync(fd, owner.uid, owner.gid);
      return fd;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === "ELOOP" || code === "ENOTDIR") return undefined;
      if (code !== "ENOENT" || attempt > 0) throw err;
      mkdirSync(at, { mode: 0o700 });
    }
  }
}

/** Who owns what a restore creates, by default: the workspace folder's owner when the server runs as root. */
function ownerOf(top: { readonly uid: number; readonly gid: number }): RestoreOptions["owner"] {
  return process.getuid?.() === 0 ? { uid: top.uid, gid: top.gid } : undefined;
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
