/** Per-session workspaces and their artifacts (seed 002). */
export { ARTIFACT_CATEGORIES, type ArtifactCategory, artifactSegments, assertCategory } from "./artifact-path.js";
export { mediaTypeOf } from "./media-type.js";
export { type SandboxOwner, sandboxOwner } from "./sandbox-owner.js";
export { type ArtifactEntry, MAX_LISTING, MAX_LISTING_DEPTH, type OpenArtifact, Workspaces, artifactStream } from "./workspaces.js";
