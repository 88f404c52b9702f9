/** The session engine: hot pool, ordered writes, group commit, event bus. */
export { Change } from "./change.js";
export { type ChangeListener, EventBus, type SessionChange } from "./event-bus.js";
export { type CommitObservation, GroupCommitter, type WriteRequest } from "./group-commit.js";
export { HotPool } from "./hot-pool.js";
export { type ImportFile, type ReadFiles, type SessionFiles, readSessionFiles } from "./import-files.js";
export { type SessionImport, importedRecord } from "./import-record.js";
export { type LookupScope, type Recovery, type RestoreNote, type SessionMetrics, SessionManager, type SessionManagerOptions, type SessionOwnership, type WriteOptions } from "./session-manager.js";
export { OutputLog, type OutputListener, type OutputLogOptions, type OutputPiece } from "./output-log.js";
export { ClusterOwnership, type ClusterOwnershipOptions, type TakeoverListener, ownerOfError } from "./ownership.js";
export type { OwnerNode, Placement, SessionPlacement } from "./placement.js";
