/**
 * Workspace snapshots (docs/checkpoints.md): a content-addressed blob store under the data dir,
 * manifests of workspace trees, snapshot / restore / copy of a workspace folder, references that
 * keep snapshots alive, and mark-and-sweep collection. Depends on core only; the engine's
 * checkpoints use it through SessionFiles.
 */
export { BlobLease, BlobStore, DIGEST_PREFIX, digestOf, isDigest, type PutResult, type SweepResult } from "./blob-store.js";
export { type DirEntry, type FileEntry, type Manifest, type ManifestEntry, type SymlinkEntry, decodeManifest, encodeManifest, isSafeRelativePath } from "./manifest.js";
export { SnapshotRefs } from "./refs.js";
export { type RestoreOptions, type RestoreResult } from "./restore.js";
export { type SnapshotOptions, type SnapshotResult } from "./snapshot.js";
export { SessionFiles, type WorkspaceOwner, checkpointRefKey } from "./session-files.js";
export { IGNORE_FILE } from "./walk.js";
export { removeTree } from "./tree-paths.js";
export { STAGING_DIR } from "./restore.js";
export { type CollectResult, type HoldAs, WorkspaceSnapshots, type WorkspaceSnapshotsOptions } from "./workspace-snapshots.js";
