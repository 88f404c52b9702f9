import type { BigIntStats } from "node:fs";
import { lstat, open, readdir, readlink } from "node:fs/promises";
import { join } from "node:path";
import { constants } from "node:fs";
import ignore, { type Ignore } from "ignore";
import { SessiondError } from "../core/index.js";
import { KEPT_MODE_BITS, mtimeMsOf } from "./manifest.js";

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
/** lstat calls in flight at once while walking. */
const STAT_CONCURRENCY = 32;

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
 * `.sessiondignore` when it is a regular file (a link there is not followed).
 */
export async function ignoreRules(dir: string, patterns: readonly string[]): Promise<Ignore> {
  const rules = ignore().add([...patterns]);
  const path = join(dir, IGNORE_FILE);
  let handle;
  try {
    handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ELOOP") return rules;
    throw err;
  }
  try {
    const stat = await handle.stat();
    if (!stat.isFile()) return rules;
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
 * Stops as soon as the files found pass `maxBytes`, before anything is read.
 * @throws snapshot_too_large past `maxBytes`
 */
export async function walkWorkspace(dir: string, rules: Ignore, maxBytes: number): Promise<WalkResult> {
  const result: WalkResult & { bytes: number } = { dirs: [], files: [], symlinks: [], skipped: [], bytes: 0 };
  const pending: string[] = [""];
  while (pending.length) {
    const rel = pending.pop()!;
    // A folder removed since it was listed is left empty (the root must be there).
    const names = rel === "" ? await readdir(dir) : ((await readdir(join(dir, rel)).catch(vanished)) ?? []);
    const candidates = names
      .filter((name) => !(rel === "" && name === RESTORE_DIR))
      .map((name) => (rel === "" ? name : `${rel}/${name}`));
    for (let i = 0; i < candidates.length; i += STAT_CONCURRENCY) {
      const batch = candidates.slice(i, i + STAT_CONCURRENCY);
      const stats = await Promise.all(batch.map((path) => lstat(join(dir, path), { bigint: true }).catch(vanished)));
      for (let k = 0; k < batch.length; k++) {
        const path = batch[k]!;
        const stat = stats[k];
        if (!stat) continue;
        if (stat.isDirectory()) {
          if (rules.ignores(`${path}/`)) continue;
          result.dirs.push({ path, mode: Number(stat.mode) & KEPT_MODE_BITS, mtime_ms: mtimeMsOf(stat) });
          pending.push(path);
        } else if (rules.ignores(path)) {
          continue;
        } else if (stat.isFile()) {
          result.files.push({ path, abs: join(dir, path), stat });
          result.bytes += Number(stat.size);
          if (result.bytes > maxBytes) throw new SessiondError("snapshot_too_large", { size: `more than ${result.bytes}`, limit: maxBytes }, { field: "with_files" });
        } else if (stat.isSymbolicLink()) {
          const target = await readlink(join(dir, path)).catch(vanished);
          if (target !== undefined) result.symlinks.push({ path, target });
        } else {
          result.skipped.push(path);
        }
      }
    }
  }
  return result;
}

/** An entry removed between the listing and its lstat is no longer there: left out. */
function vanished(err: NodeJS.ErrnoException): undefined {
  if (err.code === "ENOENT") return undefined;
  throw err;
}
