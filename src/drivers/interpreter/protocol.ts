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
 * fds 1 and 2, not here; the largest reply is a state capture's environment, which the kernel
 * already bounds for any program the session starts).
 */
export const MAX_REPLY_LINE_CHARS = 16 * 1024 * 1024;

/** Why a helper's reply pipe can no longer be trusted. */
export type BrokenReplies = "oversized" | "not_a_reply" | "unexpected";

/** What a LineReader tells its owner. */
export interface ReplyListener {
  /** A reply: return false when nobody waits for its id (the pipe is then broken: "unexpected"). */
  onReply(reply: HelperReply): boolean;
  /** The pipe carried what no helper of ours writes; nothing more is read from it. */
  onBroken(why: BrokenReplies): void;
}

/**
 * Reads a helper's replies, one JSON object per line. A helper's fd 4 is open to the code the
 * session runs, which may write anything on it, as fast as it likes, so the reader trusts the
 * pipe only while it carries what the helper writes: replies to requests, in whole lines of a
 * bounded length. The first line that is anything else (too long, not a JSON object, or a reply
 * nobody waits for) breaks the pipe: the reader stops reading and tells `onBroken` once, having
 * spent the work of one line on it, so that code filling fd 4 costs the server next to nothing.
 */
export class LineReader {
  private held = "";
  private broken = false;

  constructor(
    private readonly stream: Readable,
    private readonly listener: ReplyListener,
    private readonly maxChars = MAX_REPLY_LINE_CHARS,
  ) {
    stream.setEncoding("utf8");
    stream.on("data", (text: string) => this.read(text));
  }

  private read(text: string): void {
    let start = 0;
    for (let nl = text.indexOf("\n"); nl >= 0 && !this.broken; nl = text.indexOf("\n", start)) {
      const line = this.held + text.slice(start, nl);
      this.held = "";
      start = nl + 1;
      if (line.length > this.maxChars) return this.break("oversized");
      const reply = line.startsWith("{") ? parse(line) : undefined;
      if (!reply) return this.break("not_a_reply");
      if (!this.listener.onReply(reply)) return this.break("unexpected");
    }
    if (this.broken) return;
    if (this.held.length + text.length - start > this.maxChars) return this.break("oversized");
    this.held += text.slice(start);
  }

  private break(why: BrokenReplies): void {
    if (this.broken) return;
    this.broken = true;
    this.held = "";
    // Destroyed, not paused: a paused pipe would fill, and a writer blocked on it would hold a cell forever.
    this.stream.removeAllListeners("data");
    this.stream.on("error", () => {});
    this.stream.destroy();
    this.listener.onBroken(why);
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
