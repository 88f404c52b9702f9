import { request } from "node:http";
import { errorFromWire, unreachable } from "../sdk/client/errors.js";

/** One Server-Sent Event: its `event:` name, `data:` (joined lines) and `id:`. */
export interface SseMessage {
  event: string;
  data: string;
  id?: string;
}

/**
 * Reads a Server-Sent Events response from the server's Unix socket (`GET path`) as an async
 * iterator, ending when the server ends the response or `signal` aborts. A non-2xx answer
 * throws the server's SessiondError before the first message.
 */
export async function* sseOverSocket(socketPath: string, path: string, signal?: AbortSignal): AsyncGenerator<SseMessage> {
  const res = await new Promise<import("node:http").IncomingMessage>((resolve, reject) => {
    const req = request({ socketPath, path, method: "GET", headers: { accept: "text/event-stream" }, ...(signal ? { signal } : {}) }, resolve);
    req.once("error", (err) => reject(unreachable(`unix:${socketPath}`, err)));
    req.end();
  });
  const status = res.statusCode ?? 0;
  if (status >= 400) {
    let body = "";
    for await (const chunk of res) body += String(chunk);
    let parsed: unknown = body;
    try {
      parsed = JSON.parse(body);
    } catch {
      // Not our error shape: errorFromWire maps the status.
    }
    throw errorFromWire(status, parsed);
  }
  res.setEncoding("utf8");
  let buffer = "";
  let current: Partial<SseMessage> & { data?: string } = {};
  try {
    for await (const chunk of res) {
      buffer += chunk as string;
      let nl: number;
      while ((nl = buffer.indexOf("\n")) >= 0) {
        const line = buffer.slice(0, nl).replace(/\r$/, "");
        buffer = buffer.slice(nl + 1);
        if (line === "") {
          if (current.data !== undefined) yield { event: current.event ?? "message", data: current.data, ...(current.id !== undefined ? { id: current.id } : {}) };
          current = {};
          continue;
        }
        if (line.startsWith(":")) continue; // a comment (keep-alive)
        const colon = line.indexOf(":");
        const field = colon < 0 ? line : line.slice(0, colon);
        const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
        if (field === "data") current.data = current.data === undefined ? value : `${current.data}\n${value}`;
        else if (field === "event") current.event = value;
        else if (field === "id") current.id = value;
      }
    }
  } catch (err) {
    if (!signal?.aborted) throw err;
  }
}
