import { StringDecoder } from "node:string_decoder";
import type { ExecsClient, ExecuteResult } from "../sdk/client/index.js";

/**
 * How often `exec --stdin` looks again at its exec: while it waits in the session's queue (stdin
 * is refused until it runs), while the command has not read what was sent (429), and for its
 * result once the input is over. A poll, not a timeout: the exec's own timeout still applies.
 */
const EXEC_POLL_MS = 20;

/**
 * Runs `input` with what is piped to this process as its stdin (`sessiond exec --stdin`): the exec
 * is sent with `stdin: true` and without waiting, the piped bytes follow through
 * `POST …/execs/{id}/stdin` as they come (decoded as UTF-8: the API carries text), then end of
 * input, and the result is read once the exec has finished. Input the command no longer takes (it
 * ended without reading it all) is not read further.
 */
export async function execWithStdin(execs: ExecsClient, ref: string, input: string, options: { timeout_ms?: number; replay?: boolean }): Promise<ExecuteResult> {
  const { exec_id: execId } = await execs.submit(ref, input, { ...options, stdin: true });
  try {
    const decoder = new StringDecoder("utf8");
    let taking = true;
    for await (const chunk of process.stdin) {
      const text = decoder.write(chunk as Buffer);
      if (text && !(taking = await send(execs, ref, execId, text, false))) break;
    }
    if (taking) await send(execs, ref, execId, decoder.end(), true);
    for (;;) {
      const state = await execs.status(ref, execId);
      if (state.result) return state.result;
      await pause();
    }
  } catch (err) {
    // Past the submit the exec exists: a failure here must not read as "never sent" to the
    // caller that restarts a missing server and runs the command again (withClient).
    throw new Error(`exec ${execId}: ${err instanceof Error ? err.message : String(err)}`);
  }
}

/**
 * Sends one piece of stdin, waiting while the exec is queued or the command has not read enough.
 * @returns false when the exec takes no more input (finished, or its command has ended)
 */
async function send(execs: ExecsClient, ref: string, execId: string, data: string, eof: boolean): Promise<boolean> {
  let seenRunning = false;
  for (;;) {
    try {
      await execs.stdin(ref, execId, data, eof ? { eof } : {});
      return true;
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      if (code === "exec_not_running") {
        const { state } = await execs.status(ref, execId);
        if (state === "finished") return false;
        // Refused while running: once as it started (the refusal came first), twice when its command ended.
        if (state === "running" && seenRunning) return false;
        seenRunning ||= state === "running";
        if (state === "running") continue;
      } else if (code !== "rate_limited") {
        throw err;
      }
      await pause();
    }
  }
}

function pause(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, EXEC_POLL_MS));
}
