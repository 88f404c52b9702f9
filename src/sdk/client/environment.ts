/** The shapes of undo and of interpreter rebuilds (docs/checkpoints.md). */

/** What rebuilding a python or typescript session's interpreter did (docs/checkpoints.md#interpreter-state). */
export interface RebuildReport {
  reason: "restore" | "undo" | "wake" | "fork";
  /** Cells in the interpreter's history. */
  cells: number;
  /** Cells run again. */
  replayed: number;
  /** Cells that did not end ok when run again, with the end of their stderr. */
  failed: { seq: number; status: string; error: string }[];
  /** Cells not run: failed originally (`failed`), or sent with `replay: false` (`replay_false`). */
  skipped: { seq: number; reason: "failed" | "replay_false" }[];
  duration_ms: number;
}

/** What an undo did. */
export interface UndoResult {
  /** The seq of the exec taken back, and its input. */
  seq: number;
  input: string;
  /** `restored`: the workspace is as before that exec; `not_kept`: no snapshot of then is kept; `off`: the session was not started with `undo_files`. */
  files: "restored" | "not_kept" | "off";
  /** Null when the session is hibernated: its wake rebuilds the interpreter. */
  rebuild: RebuildReport | null;
}
