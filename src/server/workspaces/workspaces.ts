import { randomUUID } from "node:crypto";
import type { FileHandle } from "node:fs/promises";
import { rename, unlink } from "node:fs/promises";
import { join } from "node:path";
import { Readable, Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { type Session, SessiondError, errors } from "../../core/index.js";
import { workspaceName } from "../../drivers/workspace.js";
import { removeTree } from "../../snapshots/index.js";
import { ARTIFACT_CATEGORIES, type ArtifactCategory, UPLOAD_PREFIX, artifactSegments } from "./artifact-path.js";
import { mediaTypeOf } from "./media-type.js";
import { type SandboxOwner, sandboxOwner } from "./sandbox-owner.js";
import { artifactNotFound, at, createFile, fsError, lstatAt, makeDir, namesIn, openDir, openEntry, openRoot, removeEntry } from "./workspace-fs.js";

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

/** An artifact opened for reading: stream it with artifactStream(), which closes it. */
export interface OpenArtifact {
  readonly handle: FileHandle;
  /** The size when it was opened: exactly this many bytes are served. */
  readonly size: number;
  readonly modified_at: string;
  readonly content_type: string;
}

/** The most entries a listing returns. */
export const MAX_LISTING = 10_000;

/**
 * How many folder levels a listing descends below the folder listed. Each level holds one
 * descriptor open while it is listed, so this bounds what one request holds; a deeper folder is
 * listed by asking for it.
 */
export const MAX_LISTING_DEPTH = 32;

/** A workspace's folder, its category folder, then the artifact's folders. */
type Where = { readonly session: Pick<Session, "id" | "name">; readonly category: ArtifactCategory; readonly segments: readonly string[] };

/**
 * Per-session workspaces (seed 002): `<root>/<name-or-id>/{logs,screenshots,files,recordings,
 * devtools}/…`. Paths are checked segment by segment before the disk is touched
 * (artifactSegments: no `..`, absolute path, empty segment or NUL byte), then every component is
 * opened relative to the folder before it, refusing symbolic links at the moment of the open
 * (workspace-fs.ts says how and why), so code in a session that swaps folders and links while a
 * request runs cannot lead it outside the workspace. Files with other hard links are not served.
 * Uploads stream to a new temporary file, counted against the size cap, then are renamed into
 * place, so a reader never sees half a file and a refused upload leaves nothing. What the server
 * creates is given to the session's sandbox user when it has one (sandbox-owner.ts).
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
  async ensure(session: Pick<Session, "id" | "name"> & Partial<Pick<Session, "runtime_metadata">>): Promise<string> {
    const owner = sandboxOwner(session);
    for (const category of ARTIFACT_CATEGORIES) {
      const dir = await this.folder({ session, category, segments: [] }, { owner });
      await dir?.close();
    }
    return this.dirOf(session);
  }

  /**
   * Stores an artifact from a stream, replacing any file (or link) at that path.
   * @throws too_large (413) when `declaredBytes` is past `maxArtifactBytes`, body_too_large (413)
   *   when the stream goes past it; validation naming `path`; forbidden when a
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
    const shown = `${category}/${path}`;
    const limit = this.maxArtifactBytes;
    if (declaredBytes !== undefined && declaredBytes > limit) throw errors.tooLarge("body", declaredBytes, limit);
    const owner = sandboxOwner(session);
    const dir = (await this.folder({ session, category, segments: segments.slice(0, -1) }, { owner }))!;
    try {
      const name = segments.at(-1)!;
      // Only to answer 201 or 200, and to refuse before reading the body: the rename decides.
      const existing = await lstatAt(dir, name);
      if (existing?.isDirectory()) throw errors.conflict(`${shown} is a folder`, "path");
      const size = await this.upload(dir, name, shown, body, owner);
      const entry: ArtifactEntry = { category, path, type: "file", size, modified_at: new Date().toISOString(), content_type: mediaTypeOf(path) };
      return { entry, created: existing === undefined };
    } finally {
      await dir.close();
    }
  }

  /**
   * Opens a file for streaming, or lists a folder.
   * @throws not_found; forbidden for a symbolic link, a hard-linked file or a special file
   */
  async read(session: Session, category: ArtifactCategory, path: string): Promise<OpenArtifact | ArtifactEntry[]> {
    const segments = artifactSegments(path);
    const shown = `${category}/${path}`;
    const dir = await this.folder({ session, category, segments: segments.slice(0, -1) });
    if (dir === undefined) throw artifactNotFound(shown);
    try {
      const opened = await openEntry(dir, segments.at(-1)!, shown);
      if (opened === undefined) throw artifactNotFound(shown);
      const { handle, stat } = opened;
      if (stat.isFile()) return { handle, size: stat.size, modified_at: stat.mtime.toISOString(), content_type: mediaTypeOf(path) };
      try {
        const entries: ArtifactEntry[] = [];
        await listInto(handle, category, segments.join("/"), entries, 0);
        return entries;
      } finally {
        await handle.close();
      }
    } finally {
      await dir.close();
    }
  }

  /** Files and folders under a category (or one of its folders), or under every category; depth first, capped at MAX_LISTING. */
  async list(session: Session, category?: ArtifactCategory, path?: string): Promise<ArtifactEntry[]> {
    const entries: ArtifactEntry[] = [];
    const segments = path ? artifactSegments(path) : [];
    for (const c of category ? [category] : ARTIFACT_CATEGORIES) {
      const dir = await this.folder({ session, category: c, segments });
      if (dir === undefined) {
        if (path) throw artifactNotFound(`${c}/${path}`);
        continue;
      }
      try {
        await listInto(dir, c, segments.join("/"), entries, 0);
      } finally {
        await dir.close();
      }
    }
    return entries;
  }

  /** Deletes a file or a link (never its target), or a folder with everything in it. @throws not_found */
  async delete(session: Session, category: ArtifactCategory, path: string): Promise<void> {
    const segments = artifactSegments(path);
    const shown = `${category}/${path}`;
    const dir = await this.folder({ session, category, segments: segments.slice(0, -1) });
    if (dir === undefined) throw artifactNotFound(shown);
    try {
      if (!(await removeEntry(dir, segments.at(-1)!, shown))) throw artifactNotFound(shown);
    } finally {
      await dir.close();
    }
  }

  /**
   * Deletes a session's whole workspace (when the session is deleted); a link in its place is
   * removed, not followed. By rm -r (removeTree), as a replaced tree is: a session's files may have
   * names that are not UTF-8 and paths longer than PATH_MAX, which removeEntry's names cannot reach.
   */
  async remove(session: Pick<Session, "id" | "name">): Promise<void> {
    await removeTree(this.dirOf(session));
  }

  /** Moves a workspace after its session was renamed (both names are in the server's own folder). */
  async move(from: Pick<Session, "id" | "name">, to: Pick<Session, "id" | "name">): Promise<void> {
    const source = this.dirOf(from);
    const target = this.dirOf(to);
    if (source === target) return;
    await rename(source, target).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== "ENOENT") throw err;
    });
  }

  /**
   * Opens the folder `<session>/<category>/<segments…>` one component at a time, each relative
   * to the one before and refusing links; created (and given to `owner`) when `create` is set.
   * @returns the folder open (the caller closes it), or undefined when missing and not creating
   */
  private async folder(where: Where, create?: { owner: SandboxOwner | undefined }): Promise<FileHandle | undefined> {
    const names = [workspaceName(where.session), where.category, ...where.segments];
    let current = await openRoot(this.root, create !== undefined);
    try {
      for (let i = 0; i < names.length && current; i++) {
        const parent: FileHandle = current;
        current = undefined;
        const shown = names.slice(1, i + 1).join("/") || "the workspace";
        try {
          current = create ? await makeDir(parent, names[i]!, shown, create.owner) : await openDir(parent, names[i]!, shown);
        } finally {
          await parent.close();
        }
      }
      const found = current;
      current = undefined;
      return found;
    } finally {
      await current?.close();
    }
  }

  /** Streams `body` into a new file in `dir`, then renames it to `name`. @returns its size */
  private async upload(dir: FileHandle, name: string, shown: string, body: Readable, owner: SandboxOwner | undefined): Promise<number> {
    const limit = this.maxArtifactBytes;
    const temp = `${UPLOAD_PREFIX}${randomUUID()}`;
    const file = await createFile(dir, temp, shown, owner);
    let size = 0;
    const counter = new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        size += chunk.length;
        // The rest is not read, so the body's whole size is unknown: the error names only the cap.
        if (size > limit) callback(new SessiondError("body_too_large", { limit }, { field: "body" }));
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
      await pipeline(counter, file.createWriteStream());
      // Both names resolve in the folder held open: the file lands where the walk checked.
      await rename(at(dir, temp), at(dir, name));
      return size;
    } catch (err) {
      body.unpipe(counter);
      await unlink(at(dir, temp)).catch(() => undefined);
      throw fsError(err, shown);
    } finally {
      body.off("error", onError);
      body.off("close", onClose);
      await file.close().catch(() => undefined);
    }
  }
}

/**
 * The bytes of an opened artifact as a stream: exactly the size it had when opened (a file the
 * session is still appending to is not served past it), closing the file when done or destroyed.
 */
export function artifactStream(artifact: OpenArtifact): Readable {
  if (artifact.size === 0) {
    void artifact.handle.close().catch(() => undefined);
    return Readable.from([]);
  }
  return artifact.handle.createReadStream({ start: 0, end: artifact.size - 1 });
}

/**
 * Appends the entries of the folder open as `dir`, depth first. Links, special files, hard-linked
 * files and upload temporaries are left out; sub-folders are opened through `dir`, refusing links.
 */
async function listInto(dir: FileHandle, category: ArtifactCategory, prefix: string, out: ArtifactEntry[], depth: number): Promise<void> {
  for (const name of await namesIn(dir)) {
    if (out.length >= MAX_LISTING) return;
    if (name.startsWith(UPLOAD_PREFIX)) continue;
    const path = prefix ? `${prefix}/${name}` : name;
    const stat = await lstatAt(dir, name);
    if (stat?.isFile()) {
      if (stat.nlink > 1) continue;
      out.push({ category, path, type: "file", size: stat.size, modified_at: stat.mtime.toISOString(), content_type: mediaTypeOf(name) });
      continue;
    }
    if (!stat?.isDirectory()) continue;
    // It may have become a link since the lstat: then it is skipped, like any link.
    const child = await openDir(dir, name, `${category}/${path}`).catch(() => undefined);
    if (child === undefined) continue;
    try {
      const own = await child.stat();
      out.push({ category, path, type: "directory", size: 0, modified_at: own.mtime.toISOString() });
      if (depth + 1 < MAX_LISTING_DEPTH) await listInto(child, category, path, out, depth + 1);
    } finally {
      await child.close();
    }
  }
}
