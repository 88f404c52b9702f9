import type { LiveProcess } from "../driver.js";
import type { ExecStatus } from "../exec-result.js";
import { runInOrder } from "./replay-loop.js";
import type { CellPlan, SkippedCell } from "./cells.js";

/**
 * Rebuilding an interpreter in a fresh process: the cells of its history (environment/cells.ts)
 * run again, in order, straight on the process before it takes execs — the replay loop of
 * recovery (drivers/replay.ts), without an `exec` event per cell: the event of what caused the
 * rebuild (`restore`, `undo`, `wake`) reports it once. A cell that fails now is reported and the
 * rest still run (a wake or an undo should lose as little as it can); cells that failed
 * originally or were sent with `replay: false` are not run, and are reported as skipped.
 */

/** Why an interpreter was rebuilt. */
export type RebuildReason = "restore" | "undo" | "wake" | "fork";

/** A cell that did not end `ok` when it ran again. */
export interface FailedCell {
  readonly seq: number;
  readonly status: ExecStatus;
  /** The end of what it printed on stderr (its error), at most {@link ERROR_TAIL} characters. */
  readonly error: string;
}

/** What a rebuild did: in the answer of the call that caused it, and in its event. */
export interface RebuildReport {
  readonly reason: RebuildReason;
  /** Cells in the interpreter's history. */
  readonly cells: number;
  /** Cells run again. */
  readonly replayed: number;
  /** Of those, the ones that did not end `ok`. */
  readonly failed: readonly FailedCell[];
  /** Cells not run (failed originally, or `replay: false`). */
  readonly skipped: readonly SkippedCell[];
  /** Wall time of the replay, in milliseconds. */
  readonly duration_ms: number;
}

const ERROR_TAIL = 500;
/** Output a replayed cell keeps: only its error is reported. */
const KEEP_BYTES = 64 * 1024;

/**
 * Runs the plan's cells on `proc`, each within `timeoutMs` (interrupted past it, as an exec is).
 * @returns the report; a process that dies under a cell ends the replay there (the caller's start fails)
 * @throws spawn_failed-like Error when the process exits during the replay
 */
export async function replayOnProcess(proc: LiveProcess, plan: CellPlan, reason: RebuildReason, timeoutMs: number): Promise<RebuildReport> {
  const started = performance.now();
  const failed: FailedCell[] = [];
  await runInOrder(
    plan.toRun,
    async (cell) => {
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        proc.interrupt();
      }, timeoutMs);
      let outcome;
      try {
        outcome = await proc.exec({ input: cell.input, maxOutputBytes: KEEP_BYTES });
      } finally {
        clearTimeout(timer);
      }
      if (outcome.processExited) throw new Error(`the ${reason} replay lost its process at cell ${cell.seq}`);
      const status: ExecStatus = timedOut ? "timeout" : outcome.exitCode === 0 ? "ok" : "error";
      if (status !== "ok") failed.push({ seq: cell.seq, status, error: tail(outcome.stderr.toString("utf8")) });
      return status;
    },
    { stopAtFailure: false },
  );
  return {
    reason,
    cells: plan.cells.length,
    replayed: plan.toRun.length,
    failed,
    skipped: plan.skipped,
    duration_ms: Math.round((performance.now() - started) * 1000) / 1000,
  };
}

/** The report of a rebuild that had nothing to run (a shell, an llm session, an empty history). */
export function emptyReport(reason: RebuildReason, plan?: CellPlan): RebuildReport {
  return { reason, cells: plan?.cells.length ?? 0, replayed: 0, failed: [], skipped: plan?.skipped ?? [], duration_ms: 0 };
}

function tail(text: string): string {
  const trimmed = text.trimEnd();
  return trimmed.length <= ERROR_TAIL ? trimmed : `…${trimmed.slice(-ERROR_TAIL)}`;
}
