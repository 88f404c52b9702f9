import { SessiondError } from "../core/index.js";
import { isDigest } from "./blob-store.js";

/** A folder of the tree: its permission bits and modification time. */
export interface DirEntry {
  readonly path: string;
  readonly type: "dir";
  readonly mode: number;
  readonly mtime_ms: number;
}

/** A regular file: its permission bits, size, content (a blob) and modification time. */
export interface FileEntry {
  readonly path: string;
  readonly type: "file";
  readonly mode: number;
  readonly size: number;
  readonly digest: string;
  readonly mtime_ms: number;
}

/** A symbolic link, kept as a link: its target text, never followed. */
export interface SymlinkEntry {
  readonly path: string;
  readonly type: "symlink";
  readonly target: string;
}

/** One entry of a manifest; `path` is relative to the workspace, `/`-separated. */
export type ManifestEntry = DirEntry | FileEntry | SymlinkEntry;

/**
 * A workspace tree at one moment: its entries sorted by path, so one tree always has one
 * encoding and one digest. Stored as a blob itself (its digest names the snapshot).
 */
export interface Manifest {
  readonly version: 1;
  readonly entries: readonly ManifestEntry[];
}

/** The permission bits a manifest keeps: set-user-ID and set-group-ID are dropped (see docs/checkpoints.md). */
export const KEPT_MODE_BITS = 0o1777;

/**
 * A modification time as manifests keep it: whole milliseconds, rounded. A time set from it
 * (utimes takes seconds as a double, some hundred ns off at today's dates) reads back as the same
 * number, so a restored tree snapshots to the same manifest.
 */
export function mtimeMsOf(stat: { readonly mtimeNs: bigint }): number {
  return Math.round(Number(stat.mtimeNs) / 1e6);
}

/** Compares paths by UTF-16 code units: the one order manifests are written in. */
export function comparePaths(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The manifest's bytes: sorted entries, compact JSON. */
export function encodeManifest(entries: readonly ManifestEntry[]): Buffer {
  const sorted = [...entries].sort((x, y) => comparePaths(x.path, y.path));
  return Buffer.from(JSON.stringify({ version: 1, entries: sorted } satisfies Manifest));
}

/** One entry's bytes in a manifest. */
export function encodeEntry(entry: ManifestEntry): Buffer {
  return Buffer.from(JSON.stringify(entry));
}

const MANIFEST_HEAD = Buffer.from('{"version":1,"entries":[');
const MANIFEST_TAIL = Buffer.from("]}");
const COMMA = 0x2c;
const COMMA_PIECE = Buffer.from([COMMA]);

/**
 * A manifest's bytes from its entries' encodings (encodeEntry), already in manifest order — a
 * piece may hold several, comma-separated (joinEncoded): encodeManifest's bytes for those entries,
 * without encoding again what a snapshot's folder records hold encoded (tree-records.ts), as
 * pieces to write one after the other (PackWriter.addPieces): a manifest of many files is never
 * copied into one buffer of its own.
 */
export function manifestPieces(pieces: readonly Buffer[]): Buffer[] {
  const out: Buffer[] = [MANIFEST_HEAD];
  pieces.forEach((piece, i) => (i > 0 ? out.push(COMMA_PIECE, piece) : out.push(piece)));
  out.push(MANIFEST_TAIL);
  return out;
}

/** The pieces separated by commas, in one buffer (a folder's run of entries). */
export function joinEncoded(pieces: readonly Buffer[]): Buffer {
  let length = Math.max(0, pieces.length - 1);
  for (const piece of pieces) length += piece.length;
  const out = Buffer.allocUnsafe(length);
  let at = 0;
  for (let i = 0; i < pieces.length; i++) {
    if (i > 0) out[at++] = COMMA;
    at += pieces[i]!.copy(out, at);
  }
  return out;
}

/**
 * Reads a manifest back and checks it before anything trusts it: relative paths without `.`,
 * `..` or empty segments, each under a folder listed before it, known types and digests.
 * @throws snapshot_damaged naming what is wrong
 */
export function decodeManifest(digest: string, bytes: Buffer): Manifest {
  const fail = (reason: string): never => {
    throw new SessiondError("snapshot_damaged", { digest, reason });
  };
  let parsed: unknown;
  try {
    parsed = JSON.parse(bytes.toString("utf8"));
  } catch {
    return fail("its manifest is not JSON");
  }
  const manifest = parsed as Partial<Manifest> | null;
  if (!manifest || manifest.version !== 1 || !Array.isArray(manifest.entries)) return fail("its manifest has no version 1 entry list");
  const dirs = new Set<string>([""]);
  let previous: string | undefined;
  for (const entry of manifest.entries as unknown[]) {
    const e = entry as Partial<ManifestEntry> & Record<string, unknown>;
    if (typeof e?.path !== "string" || !isSafeRelativePath(e.path)) return fail(`an entry's path is not a safe relative path: ${JSON.stringify(e?.path)}`);
    if (previous !== undefined && comparePaths(previous, e.path) >= 0) return fail(`entries are not sorted at ${e.path}`);
    previous = e.path;
    const slash = e.path.lastIndexOf("/");
    if (!dirs.has(slash < 0 ? "" : e.path.slice(0, slash))) return fail(`${e.path} is not under a folder of the manifest`);
    switch (e.type) {
      case "dir":
        if (!isMode(e.mode) || !isTime(e.mtime_ms)) return fail(`folder ${e.path} has no mode or mtime`);
        dirs.add(e.path);
        break;
      case "file":
        if (!isMode(e.mode) || !isTime(e.mtime_ms) || !Number.isSafeInteger(e.size) || (e.size as number) < 0 || !isDigest(e.digest)) {
          return fail(`file ${e.path} has no mode, mtime, size or digest`);
        }
        break;
      case "symlink":
        if (typeof e.target !== "string" || e.target === "" || e.target.includes("\0")) return fail(`link ${e.path} has no target`);
        break;
      default:
        return fail(`${e.path} has an unknown type`);
    }
  }
  return manifest as Manifest;
}

/** A `/`-separated relative path: no empty, `.` or `..` segment, no NUL, not absolute. */
export function isSafeRelativePath(path: string): boolean {
  if (path === "" || path.includes("\0") || path.startsWith("/")) return false;
  return path.split("/").every((segment) => segment !== "" && segment !== "." && segment !== "..");
}

function isMode(value: unknown): value is number {
  return Number.isInteger(value) && (value as number) >= 0 && (value as number) <= 0o7777;
}

function isTime(value: unknown): value is number {
  return Number.isSafeInteger(value);
}
