import type { Readable } from "node:stream";

/**
 * The wire between sessiond and its interpreter helpers (python/helper.py, typescript/helper.mjs):
 * one JSON object per line. Requests go on the helper's fd 3: `{id, op: "exec", cell, …}` or
 * `{id, op: "state"}`. Replies come on its fd 4 with the request's id, each in one write; the
 * helper's first line, `{id: 0, ok: true, …about itself}`, says it is ready. The reply to a cell
 * is written only once all the cell printed is written to fds 1 and 2 (flushed, and with
 * nothing of it left in a queue of the helper's own): the server reads those when the reply comes.
 * A reply to a cell may say `unread: [stdout, stderr]`, the bytes each pipe held once the output
 * was flushed (null: unknown); the server does not read again a pipe that held none. A helper
 * whose ready reply says `dropsStaleOutput: true` reads and drops what is left in its own output
 * pipes before it runs a cell (what a thread printed between cells), so the server does not.
 */

/** A reply from a helper: `id` and `ok`, plus what the op returns (cwd, env, value, error…). */
export interface HelperReply {
  readonly id: number;
  readonly ok: boolean;
  readonly [field: string]: unknown;
}

/**
 * The longest reply line read: more than any reply of ours holds (a cell's output goes through
 * fds 1 and 2, not here). A helper's fd 4 is open to the code the session runs, which may write
 * anything on it; a line past this is never held (it would grow the server's memory, up to a
 * string too long for V8, which ends the process).
 */
export const MAX_REPLY_LINE_CHARS = 16 * 1024 * 1024;

/**
 * Calls `onMessage` with each JSON line read from `stream` (lines that are not JSON objects are
 * dropped). A line longer than `maxChars` is dropped as it comes, and `onOverflow` is told.
 */
export class LineReader {
  private held = "";
  /** Dropping the rest of a line that was too long, up to its newline. */
  private skipping = false;

  constructor(stream: Readable, onMessage: (message: HelperReply) => void, onOverflow: () => void = () => {}, maxChars = MAX_REPLY_LINE_CHARS) {
    stream.setEncoding("utf8");
    stream.on("data", (text: string) => {
      let start = 0;
      for (let nl = text.indexOf("\n"); nl >= 0; nl = text.indexOf("\n", start)) {
        const skipped = this.skipping;
        const line = skipped ? "" : this.held + text.slice(start, nl);
        this.held = "";
        this.skipping = false;
        start = nl + 1;
        if (skipped) continue;
        if (line.length > maxChars) {
          onOverflow();
          continue;
        }
        const message = parse(line);
        if (message) onMessage(message);
      }
      if (this.skipping) return;
      if (this.held.length + text.length - start > maxChars) {
        this.held = "";
        this.skipping = true;
        onOverflow();
        return;
      }
      this.held += text.slice(start);
    });
  }
}

function parse(line: string): HelperReply | undefined {
  try {
    const value: unknown = JSON.parse(line);
    return value && typeof value === "object" && !Array.isArray(value) ? (value as HelperReply) : undefined;
  } catch {
    return undefined;
  }
}
