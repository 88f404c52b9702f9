import { errors } from "../../core/index.js";
import { ARTIFACT_CATEGORIES, type ArtifactCategory } from "../../drivers/workspace.js";

// Seed 002's categories are the drivers' (a shell's workspace is made with them): one list.
export { ARTIFACT_CATEGORIES, type ArtifactCategory };

/** Uploads are written under this prefix, then renamed into place; callers may not use it. */
export const UPLOAD_PREFIX = ".sessiond-upload-";

const MAX_SEGMENT_BYTES = 255;
const MAX_PATH_BYTES = 1024;
/** A segment that is a URL template's placeholder (`{path}`, `{*}`) left unfilled. */
const URL_TEMPLATE = /^\{[^{}/]*\}$/;

/** @throws validation naming `category` unless it is one of the five */
export function assertCategory(category: string): asserts category is ArtifactCategory {
  if (!(ARTIFACT_CATEGORIES as readonly string[]).includes(category)) {
    throw errors.validation("category", `expected one of ${ARTIFACT_CATEGORIES.join(", ")}`);
  }
}

/**
 * Splits an artifact path into segments that cannot leave the category folder: relative, no
 * `.` or `..`, no empty segment, no NUL byte or backslash, bounded lengths. Symbolic links are
 * the workspace's business at open time (see Workspaces), not the path's.
 * @throws validation naming `path`
 */
export function artifactSegments(path: string): string[] {
  const bad = (reason: string) => errors.validation("path", reason);
  if (path.includes("\0")) throw bad("contains a NUL byte");
  if (path.includes("\\")) throw bad("contains a backslash; separate folders with /");
  if (path.startsWith("/")) throw bad("must be relative to the category folder, not absolute");
  if (Buffer.byteLength(path) > MAX_PATH_BYTES) throw bad(`is longer than ${MAX_PATH_BYTES} bytes`);
  const segments = path.split("/");
  for (const segment of segments) {
    if (segment === "") throw bad("has an empty segment (// or a trailing /)");
    if (segment === "." || segment === "..") throw bad("may not contain . or .. segments");
    if (segment.startsWith(UPLOAD_PREFIX)) throw bad(`may not name files starting with ${UPLOAD_PREFIX}`);
    // A client that sent a path template without filling it in (`{path}`, or `{*}` from an older
    // document) would otherwise create a file of that name.
    if (URL_TEMPLATE.test(segment)) throw bad(`${segment} is a URL template's placeholder, not a file name: put the artifact's path in its place`);
    if (Buffer.byteLength(segment) > MAX_SEGMENT_BYTES) throw bad(`has a segment longer than ${MAX_SEGMENT_BYTES} bytes`);
  }
  return segments;
}
