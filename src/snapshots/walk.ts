import type { BigIntStats } from "node:fs";
import { constants, lstatSync, readdirSync, readlinkSync } from "node:fs";
import { open } from "node:fs/promises";
import { join } from "node:path";
import ignore, { type Ignore } from "ignore";
import { SessiondError } from "../core/index.js";
import { KEPT_MODE_BITS, mtimeMsOf } from "./manifest.js";
import { TimeSlice } from "./time-slice.js";

/** The workspace's own ignore file, in gitignore syntax (docs/checkpoints.md#ignore-rules). */
export const IGNORE_FILE = ".sessiondignore";
/**
 * The folder a restore builds the new tree in, inside the workspace (so its renames stay on one
 * file system and the workspace folder itself, which a sandbox has mounted, is never replaced).
 * Never part of a snapshot.
 */
export const RESTORE_DIR = ".sessiond-restore";
/** The largest `.sessiondignore` read; a bigger one is refused. */
const MAX_IGNORE_FILE_BYTES = 1024 * 1024;

/** A regular file found by the walk, with the stat that found it. */
export interface WalkedFile {
  readonly path: string;
  readonly abs: string;
  readonly stat: BigIntStats;
}

/** What a walk of a workspace found (ignored paths left out). */
export interface WalkResult {
  readonly dirs: { readonly path: string; readonly mode: number; readonly mtime_ms: number }[];
  readonly files: WalkedFile[];
  readonly symlinks: { readonly path: string; readonly target: string }[];
  /** FIFOs, sockets and devices: not kept (a snapshot holds files, folders and links). */
  readonly skipped: string[];
  /** The files' sizes added up (a sparse file counts whole). */
  readonly bytes: number;
}

/**
 * The rules a walk leaves paths out by: `patterns` (config snapshotIgnore) and the workspace's
 * `.sessiondignore` when it is a regular file (a link there is not followed); undefined when
 * there are none (then nothing is asked of them).
 */
export async function ignoreRules(dir: string, patterns: readonly string[]): Promise<Ignore | undefined> {
  const rules = ignore().add([...patterns]);
  const none = patterns.length === 0;
  const path = join(dir, IGNORE_FILE);
  let handle;
  try {
    handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ELOOP") return none ? undefined : rules;
    throw err;
  }
  try {
    const stat = await handle.stat();
    if (!stat.isFile()) return none ? undefined : rules;
    if (stat.size > MAX_IGNORE_FILE_BYTES) {
      throw new SessiondError("validation", { field: IGNORE_FILE, reason: `is ${stat.size} bytes, over ${MAX_IGNORE_FILE_BYTES}` }, { field: IGNORE_FILE });
    }
    rules.add((await handle.readFile()).toString("utf8"));
    return rules;
  } finally {
    await handle.close();
  }
}

/**
 * Walks a workspace without following a symbolic link anywhere: each entry is lstat'ed, links
 * are read as text. Paths the rules ignore are left out (an ignored folder with all below it).
 * Stops as soon as the files found pass `maxBytes`, before anything is read. Synchronous calls
 * in time slices (time-slice.ts).
 * @throws snapshot_too_large past `maxBytes`
 */
export async function walkWorkspace(dir: string, rules: Ignore | undefined, maxBytes: number): Promise<WalkResult> {
  const result: WalkResult & { bytes: number } = { dirs: [], files: [], symlinks: [], skipped: [], bytes: 0 };
  const slice = new TimeSlice();
  const pending: string[] = [""];
  while (pending.length) {
    const rel = pending.pop()!;
    // A folder removed since it was listed is left empty (the root must be there).
    const names = rel === "" ? readdirSync(dir) : (gone(() => readdirSync(join(dir, rel))) ?? []);
    for (const name of names) {
      if (rel === "" && name === RESTORE_DIR) continue;
      const path = rel === "" ? name : `${rel}/${name}`;
      const abs = join(dir, path);
      const stat = gone(() => lstatSync(abs, { bigint: true }));
      if (!stat) continue;
      if (stat.isDirectory()) {
        if (rules?.ignores(`${path}/`)) continue;
        result.dirs.push({ path, mode: Number(stat.mode) & KEPT_MODE_BITS, mtime_ms: mtimeMsOf(stat) });
        pending.push(path);
      } else if (rules?.ignores(path)) {
        continue;
      } else if (stat.isFile()) {
        result.files.push({ path, abs, stat });
        result.bytes += Number(stat.size);
        if (result.bytes > maxBytes) throw new SessiondError("snapshot_too_large", { size: `more than ${result.bytes}`, limit: maxBytes }, { field: "with_files" });
      } else if (stat.isSymbolicLink()) {
        const target = gone(() => readlinkSync(abs));
        if (target !== undefined) result.symlinks.push({ path, target });
      } else {
        result.skipped.push(path);
      }
      await slice.check();
    }
  }
  return result;
}

/** What `read` returns, or undefined when the entry was removed since it was listed. */
function gone<T>(read: () => T): T | undefined {
  try {
    return read();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ENOTDIR") return undefined;
    throw err;
  }
}
