import { INTERPRETER_KINDS, errors } from "../core/index.js";
import type { SessionManager } from "../engine/index.js";
import { type SkippedCell, cellsAt, planOf } from "./environment/cells.js";
import { runInOrder } from "./environment/replay-loop.js";
import type { ExecStatus } from "./exec-result.js";
import type { LiveSessions } from "./live-sessions.js";

/**
 * Recovery by replay (seed 000's "replay capability"): after a crash or a server restart,
 * a python or typescript session comes back with a fresh interpreter; replaying its successful
 * cells, in order, rebuilds its variables, imports and definitions. It is opt-in because a replay
 * repeats side effects (files written, requests sent). An llm session needs none: its
 * conversation is its history (`message` events), reloaded on restart.
 *
 * Each replayed cell runs as an ordinary exec (so it has its own `exec` event, output and limits)
 * and is reported by a `replay` event `{source_seq, exec_seq, exec_id, status}`. Cells that were
 * themselves replays are never replayed again: their originals are. The cells are the
 * interpreter's history as environment/cells.ts reads it (restores and undos included); those that
 * failed or were sent with `replay: false` are not run, and are listed in `skipped`.
 *
 * The same plan rebuilds an interpreter for restore, undo, fork and wake
 * (environment/rebuild.ts), there without an exec event per cell.
 */

/** One replayed cell. */
export interface ReplayedCell {
  /** The seq of the original cell's `exec` event. */
  readonly source_seq: number;
  /** The seq of the replay's own `exec` event. */
  readonly exec_seq: number;
  readonly exec_id: string;
  readonly status: ExecStatus;
}

/** What a replay did. */
export interface ReplayReport {
  /** Successful cells found to replay. */
  readonly cells: number;
  readonly replayed: ReplayedCell[];
  /** Set when a replayed cell did not succeed: the replay stopped there (later cells may depend on it). */
  readonly stopped_at: number | null;
  /** Cells not run: they failed originally, or were sent with `replay: false`. */
  readonly skipped?: readonly SkippedCell[];
  /** Why nothing was replayed, when nothing needed to be. */
  readonly note?: string;
}


/** @throws validation (400, field `replay`) unless the kind can be recovered with replay (python, typescript; llm needs none) */
export function assertReplayable(session: { readonly kind: string }): void {
  if (session.kind !== "llm" && !INTERPRETER_KINDS.has(session.kind)) {
    throw errors.validation("replay", `only python and typescript sessions can be replayed, not ${session.kind}`);
  }
}

/**
 * Replays a just-recovered session's successful cells in order (see the module comment). Call it
 * once the session is active again (after `LiveSessions.recover` or the recover route): execs
 * wait for the restarted process to be ready.
 * @throws validation (400, field `replay`) for a shell session; session_not_active (409) unless
 *   the session is live
 */
export async function replayCells(live: LiveSessions, manager: SessionManager, ref: string): Promise<ReplayReport> {
  const session = await manager.get(ref);
  if (session.kind === "llm") return { cells: 0, replayed: [], stopped_at: null, note: "llm sessions recover from their history; nothing to replay" };
  assertReplayable(session);
  const plan = planOf(await cellsAt(manager, session.id));
  const skipped = plan.skipped.length ? { skipped: plan.skipped } : {};
  const replayed: ReplayedCell[] = [];
  const stopped = await runInOrder(plan.toRun, async (cell) => {
    const result = await live.exec(session.id, cell.input);
    const entry: ReplayedCell = { source_seq: cell.seq, exec_seq: result.seq, exec_id: result.exec_id, status: result.status };
    await manager.appendEvent(session.id, "replay", { ...entry, ...(cell.session_id !== session.id ? { source_session_id: cell.session_id } : {}) });
    replayed.push(entry);
    return result.status;
  }, { stopAtFailure: true });
  return { cells: plan.toRun.length, replayed, stopped_at: stopped?.seq ?? null, ...skipped };
}
