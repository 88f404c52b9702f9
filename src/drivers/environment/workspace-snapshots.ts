import type { Session } from "../../core/index.js";

/**
 * What undo needs of workspace snapshots (src/snapshots, the engine's SessionFiles): a snapshot
 * of a session's workspace taken before an exec and held under a key while that exec may be
 * undone, put back by the undo, and let go once older than {@link UNDO_FILES_DEPTH} execs.
 */
export interface UndoSnapshots {
  /** Snapshots the session's workspace and holds it under `key`. @returns the snapshot's digest */
  capture(session: Session, key: string): Promise<{ readonly digest: string }>;
  /** Puts the session's workspace back as snapshot `digest` holds it. */
  restore(session: Session, digest: string): Promise<unknown>;
  /** Drops the hold under `key`. */
  release(sessionId: string, key: string): Promise<void>;
}

/** Execs whose workspace before them is kept for undo, per session: older ones are let go. */
export const UNDO_FILES_DEPTH = 10;

/** The key an exec's before-snapshot is held under. */
export function undoKey(execId: string): string {
  return `undo-${execId}`;
}
