import type { SessionEvent } from "../../core/index.js";
import type { SessionManager } from "../../engine/index.js";
import type { ExecStatus } from "../exec-result.js";

/**
 * The cells an interpreter's state is made of, read from the session's history
 * (docs/checkpoints.md#interpreter-state). A python or typescript session's variables, imports and
 * definitions are what its cells did, in order; replaying the same cells in a fresh interpreter
 * rebuilds them. Walking the events in order:
 *
 * - an `exec` is one more cell (with its status, and whether the user marked it `replay: false`);
 * - a `replay` (recovery by replay, drivers/replay.ts) names an exec that re-ran an earlier cell:
 *   that exec is no cell of its own — its original is;
 * - a `checkpoint` keeps the cells as they are then;
 * - a `restore` puts back the cells of the checkpoint it restored (a fork's first `restore`, which
 *   names the session it was forked from, those of the source's checkpoint);
 * - an `undo` takes its cell out.
 *
 * Hibernation and wake change no cell: a woken interpreter has the cells it had.
 */

/** One cell of an interpreter's history. */
export interface Cell {
  /** The seq of its `exec` event (in `session_id`). */
  readonly seq: number;
  /** The session whose history holds it: this one, or the one a fork came from. */
  readonly session_id: string;
  readonly input: string;
  readonly status: ExecStatus;
  /** False when the user sent it with `replay: false` (it must not run twice: a payment, an email). */
  readonly replayable: boolean;
  /** The digest of the workspace snapshot taken before it (start option `undo_files`), for its undo. */
  readonly files_before?: string;
}

/** A cell a rebuild does not run, and why. */
export interface SkippedCell {
  readonly seq: number;
  readonly reason: "failed" | "replay_false";
}

/** Where a cell list comes from, and what of it a rebuild runs. */
export interface CellPlan {
  /** Every cell, in order. */
  readonly cells: readonly Cell[];
  /** The cells a rebuild runs: those that succeeded and were not marked `replay: false`. */
  readonly toRun: readonly Cell[];
  /** The others, reported (never skipped silently). */
  readonly skipped: readonly SkippedCell[];
}

const PAGE = 1000;
const TYPES = ["exec", "replay", "checkpoint", "restore", "undo"];
/** Forks of forks are followed this deep; deeper chains are refused rather than walked forever. */
const MAX_FORK_DEPTH = 32;

/**
 * The cells of a session's interpreter right after event `uptoSeq` (default: now).
 * @throws not_found when the session (or the source of a fork) is gone
 */
export async function cellsAt(manager: SessionManager, sessionId: string, uptoSeq?: number, depth = 0): Promise<Cell[]> {
  return (await walk(manager, sessionId, uptoSeq, depth)).cells;
}

/** One pass over the history: the cells after it, and those at each checkpoint passed (by the checkpoint's seq). */
async function walk(manager: SessionManager, sessionId: string, uptoSeq: number | undefined, depth: number): Promise<{ cells: Cell[]; atCheckpoint: Map<number, Cell[]> }> {
  let cells: Cell[] = [];
  const atCheckpoint = new Map<number, Cell[]>();
  let after = 0;
  for (;;) {
    const page = await manager.listEvents(sessionId, { types: TYPES, after_seq: after, limit: PAGE, ...(uptoSeq !== undefined ? { to_seq: uptoSeq } : {}) });
    for (const event of page) cells = await apply(manager, sessionId, cells, atCheckpoint, event, depth);
    if (page.length < PAGE) break;
    after = page[page.length - 1]!.seq;
  }
  return { cells, atCheckpoint };
}

async function apply(manager: SessionManager, sessionId: string, cells: Cell[], atCheckpoint: Map<number, Cell[]>, event: SessionEvent, depth: number): Promise<Cell[]> {
  const data = event.data;
  switch (event.type) {
    case "exec":
      return [
        ...cells,
        {
          seq: event.seq,
          session_id: sessionId,
          input: String(data.input ?? ""),
          status: (data.status as ExecStatus) ?? "error",
          replayable: data.replay !== false,
          ...(typeof data.files_before === "string" ? { files_before: data.files_before } : {}),
        },
      ];
    case "replay":
      return typeof data.exec_seq === "number" ? cells.filter((c) => !(c.session_id === sessionId && c.seq === data.exec_seq)) : cells;
    case "checkpoint":
      atCheckpoint.set(event.seq, cells);
      return cells;
    case "undo":
      return typeof data.seq === "number" ? cells.filter((c) => !(c.session_id === (data.session_id ?? sessionId) && c.seq === data.seq)) : cells;
    case "restore": {
      if (typeof data.seq !== "number") return cells;
      if (typeof data.forked_from === "string") {
        if (depth >= MAX_FORK_DEPTH) return [];
        return cellsAt(manager, data.forked_from, data.seq, depth + 1);
      }
      // A checkpoint of this session: its cells were kept when it was passed.
      return atCheckpoint.get(data.seq) ?? cells;
    }
    default:
      return cells;
  }
}

/** Splits cells into those a rebuild runs and those it reports as skipped. */
export function planOf(cells: readonly Cell[]): CellPlan {
  const toRun: Cell[] = [];
  const skipped: SkippedCell[] = [];
  for (const cell of cells) {
    if (cell.status !== "ok") skipped.push({ seq: cell.seq, reason: "failed" });
    else if (!cell.replayable) skipped.push({ seq: cell.seq, reason: "replay_false" });
    else toRun.push(cell);
  }
  return { cells, toRun, skipped };
}

/** The interpreter part of a checkpoint: where it stands and how many cells rebuild it. */
export interface InterpreterState {
  readonly kind: string;
  /** The checkpoint's seq: the cells are those up to it. */
  readonly seq: number;
  /** Cells in the interpreter's history then. */
  readonly cells: number;
  /** Of those, the ones a rebuild runs. */
  readonly replayable: number;
  /** The others, and why. */
  readonly skipped: readonly SkippedCell[];
}

/** The interpreter state a checkpoint at `seq` holds: the cells up to it. */
export async function interpreterStateAt(manager: SessionManager, session: { readonly id: string; readonly kind: string }, seq: number): Promise<InterpreterState> {
  return stateOf(session.kind, seq, await cellsAt(manager, session.id, seq));
}

/** The interpreter state of each checkpoint (by its seq), in one pass over the history. */
export async function interpreterStates(manager: SessionManager, session: { readonly id: string; readonly kind: string }, seqs: readonly number[]): Promise<Map<number, InterpreterState>> {
  const states = new Map<number, InterpreterState>();
  if (!seqs.length) return states;
  const { atCheckpoint } = await walk(manager, session.id, Math.max(...seqs), 0);
  for (const seq of seqs) {
    const cells = atCheckpoint.get(seq);
    if (cells) states.set(seq, stateOf(session.kind, seq, cells));
  }
  return states;
}

function stateOf(kind: string, seq: number, cells: readonly Cell[]): InterpreterState {
  const plan = planOf(cells);
  return { kind, seq, cells: plan.cells.length, replayable: plan.toRun.length, skipped: plan.skipped };
}
