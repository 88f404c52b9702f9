/**
 * The owner's write channel: how a process that does not own a data dir sends seed 004's writes
 * to the one that does (DESIGN.md §6), on the data dir's `owner.sock` (0600, like `sessiond.sock`).
 *
 * Not HTTP, on purpose: these are the embedded API's writes, each the engine call of the same
 * name, and every microsecond of the hop is paid on each one. Measured on one machine (bench
 * owner), a write over the HTTP routes cost ~530 µs beside ~110 µs in the owner; a line of JSON
 * each way costs a socket round trip (~100 µs there) plus the write itself.
 *
 * Framing: one JSON document per line, each way (JSON.stringify never writes a raw newline).
 * A request is `{id, op, args}` (arguments by name, so one left out stays undefined); its answer
 * `{id, result}` or `{id, error: {code, message, field?}}`.
 */

import type { CreateSessionInput, JsonObject, ToolCallOutcome } from "../../core/index.js";
import type { WebhookRecord } from "../../store/index.js";

/** The engine calls a non-owner may make, by name. */
export const OWNER_OPS = [
  "create",
  "pause",
  "resume",
  "complete",
  "fail",
  "incrementIteration",
  "recordToolCall",
  "appendEvent",
  "mergeContext",
  "delete",
  "cleanup",
  "putWebhook",
  "createCheckpoint",
] as const;

export type OwnerOp = (typeof OWNER_OPS)[number];

/** Each op's arguments. */
export interface OwnerArgs {
  create: { input: CreateSessionInput };
  pause: { ref: string; reason?: string };
  resume: { ref: string };
  complete: { ref: string; result?: unknown };
  fail: { ref: string; error: string };
  incrementIteration: { ref: string; data: JsonObject };
  recordToolCall: { ref: string; tool: string; args?: unknown; result?: unknown; outcome?: ToolCallOutcome };
  appendEvent: { ref: string; type: string; data: JsonObject };
  mergeContext: { ref: string; patch: JsonObject };
  /** Answers false when there is no such session (seed 004's removeSession). */
  delete: { ref: string };
  /** Answers how many were deleted. */
  cleanup: { olderThanDays: number };
  /** Answers the webhook as stored. */
  putWebhook: { webhook: WebhookRecord };
  /** Answers the checkpoint. */
  createCheckpoint: { ref: string; label?: string | null; data?: JsonObject; with_files?: boolean };
}

export interface OwnerRequest<K extends OwnerOp = OwnerOp> {
  id: number;
  op: K;
  args: OwnerArgs[K];
}

export type OwnerReply = { id: number; result: unknown } | { id: number; error: { code: string; message: string; field?: string } };

/**
 * Splits a byte stream into lines, decoding each whole line as UTF-8: a character whose bytes
 * arrive in two chunks is decoded once they are together. Only the new chunk is searched for the
 * newline, so a long line costs its length, not its length squared.
 */
export class LineReader {
  private pending: Buffer[] = [];
  private pendingBytes = 0;

  constructor(private readonly maxBytes: number) {}

  /** The whole lines the chunk completes. @throws Error when a line outgrows the limit */
  push(chunk: Buffer): string[] {
    const lines: string[] = [];
    let start = 0;
    for (let end = chunk.indexOf(0x0a); end !== -1; end = chunk.indexOf(0x0a, start)) {
      const tail = chunk.subarray(start, end);
      this.assertWithin(this.pendingBytes + tail.length);
      lines.push((this.pending.length ? Buffer.concat([...this.pending, tail]) : tail).toString("utf8"));
      this.pending = [];
      this.pendingBytes = 0;
      start = end + 1;
    }
    if (start < chunk.length) {
      const rest = chunk.subarray(start);
      this.assertWithin(this.pendingBytes + rest.length);
      this.pending.push(rest);
      this.pendingBytes += rest.length;
    }
    return lines;
  }

  private assertWithin(bytes: number): void {
    if (bytes > this.maxBytes) throw new Error(`a line over ${this.maxBytes} bytes`);
  }
}
