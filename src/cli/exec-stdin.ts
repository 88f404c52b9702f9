import type { ExecsClient, ExecuteResult } from "../sdk/client/index.js";
import { pauseForExec, resultOf, sentExecFailure } from "./sent-exec.js";
import { TerminalInput } from "./terminal-input.js";

/**
 * Runs `input` with what is piped to this process as its stdin (`sessiond exec --stdin`): the exec
 * is sent with `stdin: true` and without waiting, the piped bytes follow through
 * `POST …/execs/{id}/stdin` as they come (decoded as UTF-8: the API carries text), then end of
 * input, and the result is read once the exec has finished. Input the command no longer takes (it
 * ended without reading it all) is not read further. Input the session's terminal would change
 * (TerminalInput) is refused where it starts: nothing from that chunk on is sent, the exec is
 * interrupted, and the error says why and what to do instead.
 */
export async function execWithStdin(execs: ExecsClient, ref: string, input: string, options: { timeout_ms?: number; replay?: boolean }): Promise<ExecuteResult> {
  const { exec_id: execId } = await execs.submit(ref, input, { ...options, stdin: true });
  try {
    const terminal = new TerminalInput();
    let taking = true;
    for await (const chunk of process.stdin) {
      const checked = terminal.take(chunk as Buffer);
      if ("refused" in checked) return await refuse(execs, ref, execId, checked.refused);
      if (checked.text && !(taking = await send(execs, ref, execId, checked.text, false))) break;
    }
    if (taking) {
      const rest = terminal.end();
      if ("refused" in rest) return await refuse(execs, ref, execId, rest.refused);
      await send(execs, ref, execId, rest.text, true);
    }
    return await resultOf(execs, ref, execId);
  } catch (err) {
    throw sentExecFailure(execId, err);
  }
}

/** Interrupts the exec whose input is refused, and fails saying why. */
async function refuse(execs: ExecsClient, ref: string, execId: string, what: string): Promise<never> {
  await execs.interrupt(ref, execId).catch(() => {});
  // Windows line ends are the likeliest control character in text piped in.
  const crlf = what.includes("\\r") ? " For Windows line ends, pipe it through `tr -d '\\r'` first." : "";
  throw new Error(
    `the input has ${what}, which the session's terminal would not pass on as it is (stdin reaches the command as typed at a terminal in line mode); ` +
      `the rest of the input was not sent, and the exec was interrupted.${crlf} For binary data or long lines, put a file in the session's workspace (\`sessiond show ${ref}\` names it) and read that`,
  );
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
      await pauseForExec();
    }
  }
}
