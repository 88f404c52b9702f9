/**
 * A live session's environment beyond one exec (docs/checkpoints.md): the cells an interpreter's
 * state is made of, rebuilding it at another point (restore, undo, fork), and hibernation.
 */
export { type Cell, type CellPlan, type InterpreterState, type SkippedCell, cellsAt, interpreterStateAt, interpreterStates, planOf } from "./cells.js";
export { type HibernatedMark, hibernatedMark, withoutHibernation } from "./hibernation.js";
export {
  type EnvironmentHost,
  INTERPRETER_KINDS,
  LiveEnvironment,
  type ProcessView,
  type Rebuilt,
  type SleepingSession,
  type UndoReport,
  type WakeReport,
} from "./live-environment.js";
export { hibernatedInfo, wokeSummary } from "./live-view.js";
export { type FailedCell, type RebuildReason, type RebuildReport } from "./rebuild.js";
export { runInOrder } from "./replay-loop.js";
export { UNDO_FILES_DEPTH, type UndoSnapshots, undoKey } from "./workspace-snapshots.js";
