import type { ExecuteResult } from "../../sdk/client/index.js";
import type { CliClient } from "../client.js";
import { printExec } from "../commands/lifecycle.js";
import { type SseMessage, sseOverSocket } from "../sse.js";

interface OutputMessage {
  type: "output";
  exec_id: string;
  stream: "stdout" | "stderr";
  data: string;
  encoding?: "base64";
}

/**
 * Runs one REPL cell and prints its output as it streams: the session's live stream
 * (`GET /sessions/{id}/stream`, SSE on the socket) is opened first and read until its `ready`,
 * then the exec is sent; output chunks of that exec are written as they come, and the `exec`
 * event that ends it closes the stream (chunks are sent before it, so none is missed). Without
 * the stream route, or when no chunk came (a silent cell), the result is printed when it ends.
 */
export async function runCell(client: CliClient, sessionId: string, input: string): Promise<ExecuteResult> {
  const abort = new AbortController();
  let messages: AsyncGenerator<SseMessage> | undefined;
  try {
    messages = sseOverSocket(client.socketPath, `/sessions/${encodeURIComponent(sessionId)}/stream?types=exec`, abort.signal);
    for (;;) {
      const first = await messages.next();
      if (first.done) {
        messages = undefined;
        break;
      }
      if (first.value.event === "ready") break;
    }
  } catch {
    messages = undefined; // no stream: print the result when the cell ends
  }
  if (!messages) {
    const result = await client.sessions.exec(sessionId, input);
    printExec(result, sessionId);
    return result;
  }

  const streamed = new Set<string>();
  let lastByte = "\n";
  let ended: string | undefined;
  let wanted: string | undefined;
  let resolveEnd: () => void = () => undefined;
  const endSeen = new Promise<void>((resolve) => {
    resolveEnd = resolve;
  });
  const reading = (async () => {
    try {
      for await (const m of messages) {
        if (m.event === "output") {
          const out = JSON.parse(m.data) as OutputMessage;
          streamed.add(out.exec_id);
          const bytes = out.encoding === "base64" ? Buffer.from(out.data, "base64") : out.data;
          (out.stream === "stderr" ? process.stderr : process.stdout).write(bytes);
          if (bytes.length) lastByte = typeof bytes === "string" ? bytes.slice(-1) : String.fromCharCode(bytes[bytes.length - 1]!);
        } else if (m.event === "event") {
          const e = JSON.parse(m.data) as { event_type: string; data: { exec_id?: string } };
          if (e.event_type === "exec" && e.data.exec_id) {
            ended = e.data.exec_id;
            if (wanted === undefined || ended === wanted) resolveEnd();
          }
        } else if (m.event === "end" || m.event === "cutoff") break;
      }
    } catch {
      // Aborted, or the connection dropped: the result below still prints.
    }
    resolveEnd();
  })();

  try {
    const result = await client.sessions.exec(sessionId, input);
    wanted = result.exec_id;
    if (ended !== wanted) await endSeen;
    if (!streamed.has(result.exec_id)) printExec(result, sessionId);
    else {
      // The output is on the screen already; end its line, and add only the note printExec would have added.
      if (lastByte !== "\n") process.stdout.write("\n");
      printExec({ ...result, stdout: "", stderr: "" }, sessionId);
    }
    return result;
  } finally {
    abort.abort();
    await reading;
  }
}
