import { SETTINGS } from "../settings.js";
import { authHeaders, toApiError } from "./client.js";

/** One Server-Sent Event: its `event:` name, `data:` text and `id:`. */
export interface SseMessage {
  readonly event: string;
  readonly data: string;
  readonly id: string | undefined;
}

/**
 * Splits a text/event-stream into messages, fed chunk by chunk (the WHATWG rules: lines end in
 * CR, LF or CRLF; `data:` lines join with LF; a blank line ends a message; `:` starts a comment).
 */
export class SseParser {
  private buffer = "";
  private event = "";
  private data: string[] = [];
  private id: string | undefined;
  private sawCr = false;

  constructor(private readonly onMessage: (message: SseMessage) => void) {}

  push(chunk: string): void {
    if (chunk === "") return;
    let text = chunk;
    // A CRLF split between two chunks: its CR ended the line already, so its LF is no line.
    if (this.sawCr && text.startsWith("\n")) text = text.slice(1);
    this.sawCr = false;
    this.buffer += text;
    const ends = /\r\n|\r|\n/g;
    let start = 0;
    for (let found = ends.exec(this.buffer); found; found = ends.exec(this.buffer)) {
      this.line(this.buffer.slice(start, found.index));
      start = found.index + found[0].length;
      if (found[0] === "\r" && start === this.buffer.length) this.sawCr = true;
    }
    this.buffer = this.buffer.slice(start);
  }

  private line(line: string): void {
    if (line === "") {
      if (this.data.length > 0) this.onMessage({ event: this.event || "message", data: this.data.join("\n"), id: this.id });
      this.event = "";
      this.data = [];
      return;
    }
    if (line.startsWith(":")) return;
    const colon = line.indexOf(":");
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "event") this.event = value;
    else if (field === "data") this.data.push(value);
    else if (field === "id" && !value.includes("\0")) this.id = value;
  }
}

/** How a stream is followed. */
export interface SseOptions {
  /** Called for each message with its parsed JSON. */
  onMessage(type: string, data: unknown, id: string | undefined): void;
  /** The stream is (re)connected and reading. */
  onOpen?(): void;
  /** The stream dropped and will be opened again after `delayMs`. */
  onRetry?(error: unknown, delayMs: number): void;
  /** The stream ended for good: refused (4xx), or the server ended it for good (`end` `session_deleted`). */
  onClose?(reason: unknown): void;
  /** Where to resume from on the first connection (otherwise the URL says). */
  lastEventId?: string;
}

/**
 * The `end` reasons after which a stream is over for good (docs/streams.md, "cutoff and end"):
 * the session is gone. Any other (`shutting_down` for a server stopping or restarting,
 * `internal_error`) is taken up again as a dropped connection is.
 */
const FINAL_END_REASONS: ReadonlySet<string> = new Set(["session_deleted"]);

/** Whether an `end` message's data says the stream is over for good. */
export function isFinalEnd(data: unknown): boolean {
  const reason = (data as { reason?: unknown } | null)?.reason;
  return typeof reason === "string" && FINAL_END_REASONS.has(reason);
}

/** The server ended the stream but it may be followed again: retried like a drop. */
class StreamEnded extends Error {
  constructor(readonly reason: unknown) {
    super(`the server ended the stream (${String((reason as { reason?: unknown } | null)?.reason ?? "no reason")})`);
  }
}

/**
 * Follows an SSE route with fetch (EventSource cannot send the Authorization header): reads the
 * body as a stream, and after a drop opens it again with `Last-Event-ID` — the last `id:` seen —
 * so the server resumes exactly after it (docs/streams.md). A 4xx answer or a final `end`
 * (`session_deleted`) stops it; anything else — an `end` for a server shutting down among them —
 * is retried with a growing delay. Returns the function that stops it.
 */
export function followSse(path: string, options: SseOptions): () => void {
  const controller = new AbortController();
  let lastId = options.lastEventId;
  let attempt = 0;
  let ended = false;

  const run = async (): Promise<void> => {
    while (!controller.signal.aborted && !ended) {
      try {
        const headers = authHeaders({ accept: "text/event-stream" });
        if (lastId !== undefined) headers["last-event-id"] = lastId;
        const res = await fetch(path, { headers, signal: controller.signal, cache: "no-store" });
        if (!res.ok) {
          const error = toApiError(res.status, await res.text());
          // 4xx: a request that will not succeed as it is (429 aside: wait and retry).
          if (res.status >= 400 && res.status < 500 && res.status !== 429) {
            ended = true;
            options.onClose?.(error);
            return;
          }
          throw error;
        }
        attempt = 0;
        options.onOpen?.();
        let endedHere: unknown;
        const parser = new SseParser((message) => {
          if (message.id !== undefined) lastId = message.id;
          let data: unknown;
          try {
            data = JSON.parse(message.data);
          } catch {
            return;
          }
          if (message.event === "end") {
            if (isFinalEnd(data)) {
              ended = true;
              options.onClose?.(data);
            } else endedHere = data;
          }
          options.onMessage(message.event, data, message.id);
        });
        const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          parser.push(value);
          if (ended || endedHere !== undefined) {
            await reader.cancel().catch(() => undefined);
            if (ended) return;
            break;
          }
        }
        throw endedHere !== undefined ? new StreamEnded(endedHere) : new Error("the stream ended");
      } catch (err) {
        if (controller.signal.aborted || ended) return;
        const delay = Math.min(SETTINGS.reconnectMaxMs, SETTINGS.reconnectBaseMs * 2 ** attempt++);
        options.onRetry?.(err, delay);
        await sleep(delay, controller.signal);
      }
    }
  };
  void run();
  return () => controller.abort();
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => {
      clearTimeout(timer);
      resolve();
    }, { once: true });
  });
}
