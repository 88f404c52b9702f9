import { type Stats, constants } from "node:fs";
import { type FileHandle, lstat, mkdir, open, readdir, rmdir, stat, unlink } from "node:fs/promises";
import { SessiondError, errors } from "../../core/index.js";
import { type SandboxOwner, giveToSandbox } from "./sandbox-owner.js";

/*
 * Descriptor-relative file access inside a workspace the code of a live session can change at
 * any moment (it may swap a folder for a symbolic link between any two system calls we make).
 *
 * A check-then-open (lstat or realpath the path, then open it) can always be raced. What cannot
 * be raced is an open that refuses a symbolic link itself, made relative to a folder already
 * held open: each component is opened through `/proc/self/fd/<folder's fd>/<component>` with
 * O_NOFOLLOW (plus O_DIRECTORY on the way down). The kernel resolves `/proc/self/fd/<fd>` to
 * the held folder itself (not to its current path), then looks up one component in it and
 * refuses it if it is a link. This is openat(2) without native code: Node has no openat or
 * openat2, and the alternatives were ruled out — a native addon for openat2(RESOLVE_BENEATH)
 * is a compiled dependency on every install for one call, and doing the I/O as the sandbox user
 * in a child process costs a process per request and still needs the same care inside it.
 *
 * A folder held open stays inside the workspace even if it is then moved: the session sees its
 * workspace through a bind mount, and rename(2) across mounts fails (EXDEV).
 *
 * Hard links are the other way out: a name inside the workspace for an inode outside it. A file
 * whose link count is above 1 is never served (see docs/api.md#artifacts-workspaces).
 */

const { O_RDONLY, O_WRONLY, O_CREAT, O_EXCL, O_DIRECTORY, O_NOFOLLOW, O_NONBLOCK, O_NOCTTY } = constants;
/** O_NONBLOCK everywhere: opening a FIFO someone planted must not hang the request. */
const DIR_FLAGS = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_NONBLOCK;
const READ_FLAGS = O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY;
/** O_EXCL never follows a link and never reuses an inode: the file is new, with one link. */
const CREATE_FLAGS = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW;

/**
 * The path naming `name` inside the folder open as `dir` (or the folder itself): resolved
 * through the descriptor, never through the folder's path.
 */
export function at(dir: FileHandle, name?: string): string {
  if (name === undefined) return `/proc/self/fd/${dir.fd}`;
  // The callers pass checked segments and readdir's names; anything else here is a bug.
  if (name === "" || name === "." || name === ".." || name.includes("/") || name.includes("\0")) {
    throw new SessiondError("internal", { reason: `not a single path component: ${JSON.stringify(name)}` });
  }
  return `/proc/self/fd/${dir.fd}/${name}`;
}

let procChecked = false;

/**
 * Opens the server's own workspaces folder (a trusted path: no session can reach it), created
 * when `create`. @returns undefined when it does not exist
 */
export async function openRoot(path: string, create: boolean): Promise<FileHandle | undefined> {
  if (create) await mkdir(path, { recursive: true, mode: 0o700 });
  let root: FileHandle;
  try {
    root = await open(path, O_RDONLY | O_DIRECTORY);
  } catch (err) {
    if (errno(err) === "ENOENT") return undefined;
    throw err;
  }
  if (!procChecked) {
    // Without /proc every lookup would answer "not found": say what is missing instead.
    const ok = await stat(at(root)).then(() => true, () => false);
    if (!ok) {
      await root.close();
      throw new SessiondError("internal", { reason: "artifact access needs /proc mounted (it opens files through /proc/self/fd)" });
    }
    procChecked = true;
  }
  return root;
}

/**
 * Opens the folder `name` inside `parent`, refusing a symbolic link at the moment of the open.
 * @returns undefined when there is nothing by that name
 * @throws forbidden for a symbolic link; conflict for a file in the way
 */
export async function openDir(parent: FileHandle, name: string, shown: string): Promise<FileHandle | undefined> {
  try {
    return await open(at(parent, name), DIR_FLAGS);
  } catch (err) {
    const code = errno(err);
    if (code === "ENOENT") return undefined;
    // O_DIRECTORY|O_NOFOLLOW answers ENOTDIR for a link as for a file. The refusal is the
    // open's; this second look only picks the words of the error.
    if (code === "ENOTDIR" || code === "ELOOP") {
      const now = await lstatAt(parent, name);
      if (now === undefined) return undefined;
      if (now.isSymbolicLink() || now.isDirectory()) throw symbolicLinkRefused(shown);
      throw errors.conflict(`${shown} is a file, not a folder`, "path");
    }
    throw fsError(err, shown);
  }
}

/**
 * Opens the folder `name` inside `parent`, creating it first when missing; a folder the server
 * creates is given to `owner`.
 * @throws as openDir
 */
export async function makeDir(parent: FileHandle, name: string, shown: string, owner: SandboxOwner | undefined): Promise<FileHandle> {
  let created = false;
  try {
    // mkdir never follows a link in its last component (a link there answers EEXIST, and the
    // open below refuses it).
    await mkdir(at(parent, name), { mode: 0o700 });
    created = true;
  } catch (err) {
    if (errno(err) !== "EEXIST") throw fsError(err, shown);
  }
  const dir = await openDir(parent, name, shown);
  if (dir === undefined) throw artifactNotFound(shown);
  if (created) await closeOnError(dir, () => giveToSandbox(dir, owner));
  return dir;
}

/** Creates `name` in `parent` as a new, empty file (never an existing one), given to `owner`. */
export async function createFile(parent: FileHandle, name: string, shown: string, owner: SandboxOwner | undefined): Promise<FileHandle> {
  let file: FileHandle;
  try {
    file = await open(at(parent, name), CREATE_FLAGS, 0o600);
  } catch (err) {
    throw fsError(err, shown);
  }
  try {
    await giveToSandbox(file, owner);
  } catch (err) {
    await file.close().catch(() => undefined);
    await unlink(at(parent, name)).catch(() => undefined);
    throw err;
  }
  return file;
}

/** What `name` in `parent` opened as: a regular file with one link, or a folder. */
export type Opened = { readonly handle: FileHandle; readonly stat: Stats };

/**
 * Opens `name` inside `parent` for reading: a regular file whose only name is this one, or a
 * folder. The checks are made with fstat on the descriptor opened, so they describe what will
 * be read.
 * @returns undefined when there is nothing by that name
 * @throws forbidden for a symbolic link, a hard-linked file or a special file
 */
export async function openEntry(parent: FileHandle, name: string, shown: string): Promise<Opened | undefined> {
  let handle: FileHandle;
  try {
    handle = await open(at(parent, name), READ_FLAGS);
  } catch (err) {
    if (errno(err) === "ENOENT") return undefined;
    throw fsError(err, shown);
  }
  return closeOnError(handle, async () => {
    const stat = await handle.stat();
    if (stat.isFile() && stat.nlink > 1) throw hardLinkRefused(shown);
    if (!stat.isFile() && !stat.isDirectory()) {
      throw new SessiondError("forbidden", { reason: `${shown} is not a regular file` }, { field: "path" });
    }
    return { handle, stat };
  });
}

/** lstat of `name` inside `parent` (a link is described, never followed). undefined when missing. */
export async function lstatAt(parent: FileHandle, name: string): Promise<Stats | undefined> {
  try {
    return await lstat(at(parent, name));
  } catch (err) {
    const code = errno(err);
    if (code === "ENOENT" || code === "ENOTDIR") return undefined;
    throw err;
  }
}

/** The names in a folder held open, sorted. */
export async function namesIn(dir: FileHandle): Promise<string[]> {
  const names = await readdir(at(dir));
  return names.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

/**
 * Deletes `name` inside `parent`: a file or a link (never what it points to), or a folder with
 * everything in it, each level opened through its parent's descriptor, so a link swapped in
 * anywhere during the deletion is removed as a link and never descended into.
 * @returns false when there was nothing by that name
 */
export async function removeEntry(parent: FileHandle, name: string, shown: string, attempt = 0): Promise<boolean> {
  // A session swapping a folder and a link under this name forever gets a conflict, not a loop.
  if (attempt > 3) throw errors.conflict(`${shown} kept changing while it was being deleted`, "path");
  const before = await lstatAt(parent, name);
  if (before === undefined) return false;
  if (!before.isDirectory()) {
    try {
      await unlink(at(parent, name));
      return true;
    } catch (err) {
      const code = errno(err);
      if (code === "ENOENT") return false;
      // Linux answers EISDIR when the name became a folder since the lstat: delete it as one.
      if (code !== "EISDIR") throw fsError(err, shown);
    }
  }
  let dir: FileHandle;
  try {
    dir = await open(at(parent, name), DIR_FLAGS);
  } catch (err) {
    const code = errno(err);
    if (code === "ENOENT") return false;
    if (code !== "ENOTDIR" && code !== "ELOOP") throw fsError(err, shown);
    // No longer a folder (a link or a file was swapped in): remove that entry, not its target.
    return removeEntry(parent, name, shown, attempt + 1);
  }
  try {
    for (const child of await readdir(at(dir))) await removeEntry(dir, child, `${shown}/${child}`);
  } finally {
    await dir.close();
  }
  try {
    await rmdir(at(parent, name));
  } catch (err) {
    const code = errno(err);
    if (code === "ENOENT") return true;
    if (code === "ENOTDIR") return removeEntry(parent, name, shown, attempt + 1);
    throw fsError(err, shown);
  }
  return true;
}

/** Runs `fn`; closes `handle` if it throws, then rethrows. */
export async function closeOnError<T>(handle: FileHandle, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    await handle.close().catch(() => undefined);
    throw err;
  }
}

/** The error code of a failed system call. */
export function errno(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | undefined)?.code;
}

export function artifactNotFound(shown: string): SessiondError {
  return new SessiondError("not_found", { what: "artifact", ref: shown });
}

function symbolicLinkRefused(shown: string): SessiondError {
  return new SessiondError("forbidden", { reason: `${shown} is a symbolic link; artifacts never follow links` }, { field: "path" });
}

function hardLinkRefused(shown: string): SessiondError {
  return new SessiondError("forbidden", { reason: `${shown} has other hard links; hard-linked files are not served` }, { field: "path" });
}

/** A filesystem failure as a SessiondError the client can act on. */
export function fsError(err: unknown, shown: string): unknown {
  if (err instanceof SessiondError) return err;
  switch (errno(err)) {
    case "ENOENT":
      return artifactNotFound(shown);
    case "ELOOP":
      return symbolicLinkRefused(shown);
    case "EISDIR":
    case "ENOTEMPTY":
      return errors.conflict(`${shown} is a folder`, "path");
    case "ENOTDIR":
      return errors.conflict(`a file is in the way of ${shown}`, "path");
    case "ENAMETOOLONG":
      return errors.validation("path", "too long for the filesystem");
    case "EACCES":
    case "EPERM":
      return new SessiondError("forbidden", { reason: `the server may not access ${shown}` }, { field: "path" });
    default:
      return err;
  }
}
