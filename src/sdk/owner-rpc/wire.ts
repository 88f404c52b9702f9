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
}

export interface OwnerRequest<K extends OwnerOp = OwnerOp> {
  id: number;
  op: K;
  args: OwnerArgs[K];
}

export type OwnerReply = { id: number; result: unknown } | { id: number; error: { code: string; message: string; field?: string } };

/** Splits a byte stream into lines; a line longer than `maxChars` is an error (the peer is closed). */
export class LineReader {
  private pending = "";

  constructor(private readonly maxChars: number) {}

  /** The whole lines the chunk completes. @throws Error when a line outgrows the limit */
  push(chunk: Buffer): string[] {
    this.pending += chunk.toString("utf8");
    const lines = this.pending.split("\n");
    this.pending = lines.pop()!;
    if (this.pending.length > this.maxChars) throw new Error(`a line over ${this.maxChars} characters`);
    return lines;
  }
}
