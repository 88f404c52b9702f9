import { randomUUID } from "node:crypto";
import { constants } from "node:fs";
import { type FileHandle, lstat, mkdir, open, readdir, rename, rm, unlink } from "node:fs/promises";
import { join } from "node:path";
import { type Readable, Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { type Session, SessiondError, errors } from "../../core/index.js";
import { workspaceName } from "../../drivers/workspace.js";
import { ARTIFACT_CATEGORIES, type ArtifactCategory, UPLOAD_PREFIX, artifactSegments } from "./artifact-path.js";
import { mediaTypeOf } from "./media-type.js";

/** One file or folder of a workspace, as listed. */
export interface ArtifactEntry {
  readonly category: ArtifactCategory;
  /** Relative to the category folder, with / separators. */
  readonly path: string;
  readonly type: "file" | "directory";
  readonly size: number;
  readonly modified_at: string;
  /** Files only: the media type it is served with. */
  readonly content_type?: string;
}

/** An artifact opened for reading: stream it, then it closes itself. */
export interface OpenArtifact {
  readonly handle: FileHandle;
  readonly size: number;
  readonly modified_at: string;
  readonly content_type: string;
}

/** The most entries a listing returns. */
export const MAX_LISTING = 10_000;

/**
 * Per-session workspaces (seed 002): `<root>/<name-or-id>/{logs,screenshots,files,recordings,
 * devtools}/…`. Every path is checked segment by segment (artifactSegments) and every folder on
 * the way is lstat'ed, so neither `..`, an absolute path, a NUL byte nor a symbolic link planted
 * inside the workspace (say by a shell session) can lead outside it; files are opened with
 * O_NOFOLLOW. Uploads stream to a temporary file, counted against the size cap, then are renamed
 * into place, so a reader never sees half a file and a refused upload leaves nothing.
 */
export class Workspaces {
  constructor(
    /** `$SESSIOND_HOME/workspaces`. */
    readonly root: string,
    private readonly maxArtifactBytes: number,
  ) {}

  /** The folder of a session: its name (human-readable), or its id when the name is not a safe folder name. */
  dirOf(session: Pick<Session, "id" | "name">): string {
    return join(this.root, workspaceName(session));
  }

  /** Creates the session's folder and its category folders. @returns the folder */
  async ensure(session: Pick<Session, "id" | "name">): Promise<string> {
    for (const category of ARTIFACT_CATEGORIES) await this.folder(session, category, [], true);
    return this.dirOf(session);
  }

  /**
   * Stores an artifact from a stream, replacing any file at that path.
   * @throws too_large (413) past `maxArtifactBytes`; validation naming `path`; forbidden when a
   *   symbolic link is on the way; conflict when a folder is in the way
   */
  async write(
    session: Session,
    category: ArtifactCategory,
    path: string,
    body: Readable,
    declaredBytes?: number,
  ): Promise<{ entry: ArtifactEntry; created: boolean }> {
    const segments = artifactSegments(path);
    const limit = this.maxArtifactBytes;
    if (declaredBytes !== undefined && declaredBytes > limit) throw errors.tooLarge("body", declaredBytes, limit);
    const dir = await this.folder(session, category, segments.slice(0, -1), true);
    const target = join(dir!, segments.at(-1)!);
    const existing = await lstatOrUndefined(target);
    if (existing?.isDirectory()) throw errors.conflict(`${category}/${path} is a folder`, "path");
    const temp = join(dir!, `${UPLOAD_PREFIX}${randomUUID()}`);
    const handle = await open(temp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
    let size = 0;
    const counter = new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        size += chunk.length;
        if (size > limit) callback(errors.tooLarge("body", size, limit));
        else callback(null, chunk);
      },
    });
    // The request is piped rather than handed to pipeline(), which would destroy it (and with it
    // the socket) when the cap is hit, leaving no way to answer 413.
    const onError = (err: Error) => counter.destroy(err);
    const onClose = () => {
      if (!body.readableEnded) counter.destroy(errors.validation("body", "the upload was cut off"));
    };
    body.once("error", onError);
    body.once("close", onClose);
    body.pipe(counter);
    try {
      await pipeline(counter, handle.createWriteStream());
      await rename(temp, target);
    } catch (err) {
      body.unpipe(counter);
      await rm(temp, { force: true });
      throw fsError(err, `${category}/${path}`);
    } finally {
      body.off("error", onError);
      body.off("close", onClose);
      await handle.close().catch(() => undefined);
    }
    const entry: ArtifactEntry = { category, path, type: "file", size, modified_at: new Date().toISOString(), content_type: mediaTypeOf(path) };
    return { entry, created: existing === undefined };
  }

  /**
   * Opens a file for streaming, or lists a folder.
   * @throws not_found; forbidden for a symbolic link or a special file
   */
  async read(session: Session, category: ArtifactCategory, path: string): Promise<OpenArtifact | ArtifactEntry[]> {
    const segments = artifactSegments(path);
    const dir = await this.folder(session, category, segments.slice(0, -1), false);
    if (dir === undefined) throw artifactNotFound(category, path);
    let handle: FileHandle;
    try {
      // O_NONBLOCK: opening a FIFO someone planted must not hang the request.
      handle = await open(join(dir, segments.at(-1)!), constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    } catch (err) {
      throw fsError(err, `${category}/${path}`);
    }
    const stat = await handle.stat();
    if (stat.isFile()) {
      return { handle, size: stat.size, modified_at: stat.mtime.toISOString(), content_type: mediaTypeOf(path) };
    }
    await handle.close();
    if (stat.isDirectory()) return this.list(session, category, path);
    throw new SessiondError("forbidden", { reason: `${category}/${path} is not a regular file` }, { field: "path" });
  }

  /** Files and folders under a category (or one of its folders), or under every category; depth first, capped at MAX_LISTING. */
  async list(session: Session, category?: ArtifactCategory, path?: string): Promise<ArtifactEntry[]> {
    const entries: ArtifactEntry[] = [];
    for (const c of category ? [category] : ARTIFACT_CATEGORIES) {
      const segments = path ? artifactSegments(path) : [];
      const dir = await this.folder(session, c, segments, false);
      if (dir === undefined) {
        if (path) throw artifactNotFound(c, path);
        continue;
      }
      await walk(dir, c, segments.join("/"), entries);
    }
    return entries;
  }

  /** Deletes a file, or a folder with everything in it. @throws not_found */
  async delete(session: Session, category: ArtifactCategory, path: string): Promise<void> {
    const segments = artifactSegments(path);
    const dir = await this.folder(session, category, segments.slice(0, -1), false);
    if (dir === undefined) throw artifactNotFound(category, path);
    const target = join(dir, segments.at(-1)!);
    const stat = await lstatOrUndefined(target);
    if (!stat) throw artifactNotFound(category, path);
    // rm does not follow symbolic links, and unlink removes a link, never its target.
    if (stat.isDirectory()) await rm(target, { recursive: true, force: true });
    else await unlink(target).catch((err) => Promise.reject(fsError(err, `${category}/${path}`)));
  }

  /** Deletes a session's whole workspace (when the session is deleted). */
  async remove(session: Pick<Session, "id" | "name">): Promise<void> {
    await rm(this.dirOf(session), { recursive: true, force: true });
  }

  /** Moves a workspace after its session was renamed. */
  async move(from: Pick<Session, "id" | "name">, to: Pick<Session, "id" | "name">): Promise<void> {
    const source = this.dirOf(from);
    const target = this.dirOf(to);
    if (source === target) return;
    await rename(source, target).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== "ENOENT") throw err;
    });
  }

  /**
   * The folder `<session>/<category>/<segments…>`, refusing symbolic links on the way; created
   * when `create`, else undefined when missing.
   */
  private async folder(session: Pick<Session, "id" | "name">, category: ArtifactCategory, segments: readonly string[], create: boolean): Promise<string | undefined> {
    if (create) await mkdir(this.root, { recursive: true, mode: 0o700 });
    let dir = this.root;
    const parts = [workspaceName(session), category, ...segments];
    for (let i = 0; i < parts.length; i++) {
      const next = join(dir, parts[i]!);
      let stat = await lstatOrUndefined(next);
      if (!stat) {
        if (!create) return undefined;
        await mkdir(next, { mode: 0o700 }).catch((err: NodeJS.ErrnoException) => {
          if (err.code !== "EEXIST") throw fsError(err, parts.slice(1, i + 1).join("/"));
        });
        stat = await lstat(next);
      }
      const shown = parts.slice(1, i + 1).join("/") || "the workspace";
      if (stat.isSymbolicLink()) {
        throw new SessiondError("forbidden", { reason: `${shown} is a symbolic link; artifacts never follow links` }, { field: "path" });
      }
      if (!stat.isDirectory()) throw errors.conflict(`${shown} is a file, not a folder`, "path");
      dir = next;
    }
    return dir;
  }
}

async function walk(dir: string, category: ArtifactCategory, prefix: string, out: ArtifactEntry[]): Promise<void> {
  const children = await readdir(dir, { withFileTypes: true }).catch(() => []);
  children.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const child of children) {
    if (out.length >= MAX_LISTING) return;
    if (child.name.startsWith(UPLOAD_PREFIX)) continue;
    if (!child.isFile() && !child.isDirectory()) continue;
    const path = prefix ? `${prefix}/${child.name}` : child.name;
    const full = join(dir, child.name);
    const stat = await lstatOrUndefined(full);
    if (!stat) continue;
    const isFile = child.isFile();
    out.push({
      category,
      path,
      type: isFile ? "file" : "directory",
      size: isFile ? stat.size : 0,
      modified_at: stat.mtime.toISOString(),
      ...(isFile ? { content_type: mediaTypeOf(child.name) } : {}),
    });
    if (!isFile) await walk(full, category, path, out);
  }
}

async function lstatOrUndefined(path: string) {
  try {
    return await lstat(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ENOTDIR") return undefined;
    throw err;
  }
}

function artifactNotFound(category: string, path: string): SessiondError {
  return new SessiondError("not_found", { what: "artifact", ref: `${category}/${path}` });
}

/** A filesystem failure as a SessiondError the client can act on. */
function fsError(err: unknown, shown: string): unknown {
  if (err instanceof SessiondError) return err;
  switch ((err as NodeJS.ErrnoException).code) {
    case "ENOENT":
      return new SessiondError("not_found", { what: "artifact", ref: shown });
    case "ELOOP":
      return new SessiondError("forbidden", { reason: `${shown} is a symbolic link; artifacts never follow links` }, { field: "path" });
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
