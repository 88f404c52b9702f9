import type { ExecuteResult } from "../sdk/client/index.js";
import type { CliClient } from "./client.js";
import { resultOf, sentExecFailure } from "./sent-exec.js";
import { sseOverSocket } from "./sse.js";

type Stream = "stdout" | "stderr";

/**
 * Runs `input` and writes its output to this process's stdout and stderr as it comes, for a
 * person at a terminal (`sessiond exec` there; a script gets the whole result at the end, as
 * before): the exec is sent without waiting, its output followed on the session's stream
 * (`exec_id`, from offset 0, so what came before the stream opened is sent first), until its
 * `exec` event. The result is read then; what the stream did not deliver (it was cut off, or the
 * server went away) is written from it, so nothing is lost or written twice.
 * @returns the result, its output already written
 */
export async function execWritingLive(client: CliClient, ref: string, input: string, options: { timeout_ms?: number; replay?: boolean }): Promise<ExecuteResult> {
  const { exec_id: execId } = await client.execs.submit(ref, input, options);
  const written: Record<Stream, number> = { stdout: 0, stderr: 0 };
  const endsLine: Record<Stream, boolean> = { stdout: true, stderr: true };
  const write = (stream: Stream, offset: number, bytes: Buffer) => {
    // Only what lies past what was written already (a resumed stream may send a chunk again),
    // and nothing past a gap: the result fills it at the end.
    const fresh = bytes.subarray(Math.max(0, written[stream] - offset));
    if (offset > written[stream] || fresh.length === 0) return;
    out(stream).write(fresh);
    written[stream] += fresh.length;
    endsLine[stream] = fresh[fresh.length - 1] === NEWLINE;
  };
  try {
    await follow(client, ref, execId, write);
  } catch {
    // The stream is a nicety: the result below carries every byte.
  }
  const result = await resultOf(client.execs, ref, execId).catch((err: unknown) => {
    throw sentExecFailure(execId, err);
  });
  for (const stream of ["stdout", "stderr"] as const) {
    write(stream, 0, bytesOf(result, stream));
    // As printExec does: the notes and the shell's prompt start on a line of their own.
    if (!endsLine[stream]) out(stream).write("\n");
  }
  return result;
}

/** Writes the exec's output chunks from the session's stream until the exec has ended. */
async function follow(client: CliClient, ref: string, execId: string, write: (stream: Stream, offset: number, bytes: Buffer) => void): Promise<void> {
  const query = new URLSearchParams({ exec_id: execId, offset: "0", stderr_offset: "0", types: "exec" });
  for await (const message of sseOverSocket(client.socketPath, `/sessions/${encodeURIComponent(ref)}/stream?${query}`)) {
    if (message.event === "output") {
      const m = JSON.parse(message.data) as { exec_id: string; stream: Stream; offset: number; data: string; encoding?: "base64" };
      if (m.exec_id === execId) write(m.stream, m.offset, Buffer.from(m.data, m.encoding === "base64" ? "base64" : "utf8"));
    } else if (message.event === "event") {
      const m = JSON.parse(message.data) as { event_type: string; data: { exec_id?: string } };
      if (m.event_type === "exec" && m.data.exec_id === execId) return;
    } else if (message.event === "ready") {
      // The backlog is in: an exec that ended before the stream opened sends nothing more.
      if ((await client.execs.status(ref, execId)).state === "finished") return;
    } else if (message.event === "cutoff" || message.event === "end") {
      return;
    }
  }
}

function out(stream: Stream): NodeJS.WriteStream {
  return stream === "stdout" ? process.stdout : process.stderr;
}

/** A result's stream as bytes: exact from `<stream>_base64` when the text was not UTF-8. */
function bytesOf(result: ExecuteResult, stream: Stream): Buffer {
  const exact = result[`${stream}_base64`];
  return typeof exact === "string" ? Buffer.from(exact, "base64") : Buffer.from(result[stream], "utf8");
}

const NEWLINE = 0x0a;
