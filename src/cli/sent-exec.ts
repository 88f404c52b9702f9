import type { ExecsClient, ExecuteResult } from "../sdk/client/index.js";

/**
 * How often a command looks again at an exec it sent without waiting (`exec --stdin`, `exec` on
 * a terminal): while it is queued, while its command has not read what was sent (429), and for
 * its result. A poll, not a timeout: the exec's own timeout still applies.
 */
const EXEC_POLL_MS = 20;

/** Waits one poll interval (EXEC_POLL_MS). */
export function pauseForExec(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, EXEC_POLL_MS));
}

/** The result of an exec sent without waiting, once it has finished. */
export async function resultOf(execs: ExecsClient, ref: string, execId: string): Promise<ExecuteResult> {
  for (;;) {
    const state = await execs.status(ref, execId);
    if (state.result) return state.result;
    await pauseForExec();
  }
}

/**
 * A failure past the submit, named by the exec: the exec exists, so it must not read as "never
 * sent" to the caller that restarts a missing server and runs the command again (withClient).
 */
export function sentExecFailure(execId: string, err: unknown): Error {
  return new Error(`exec ${execId}: ${err instanceof Error ? err.message : String(err)}`);
}
