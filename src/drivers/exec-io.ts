import type { JsonObject, SessionEvent } from "../core/index.js";

/**
 * The parts of a session's history that are a live session's input and output, and the same
 * events with those parts cut out — for principals who may see a session but not what ran in it
 * (the rule is the server's `mayReadExecIo`). Events are cut, not dropped, so that seqs stay
 * gap-free and a reader still sees that an exec ran, how it ended and how long it took.
 */

/** What stays of an `exec` event's data: how it went, never what went in or came out. */
const EXEC_FACTS = ["exec_id", "status", "exit_code", "started_at", "duration_ms", "truncated", "pid"] as const;

/** What stays of an llm session's `message` event: who spoke, with which model, at what cost. */
const MESSAGE_FACTS = ["role", "model", "usage", "finish_reason", "attempts", "history_dropped"] as const;

/**
 * Whether the event carries exec input or output: every `exec` event (its `input`, `stdout`,
 * `stderr`), and the `message` events of an llm session (the conversation is its input and output).
 * An agent session's own `message` events are its record, not exec I/O.
 */
export function carriesExecIo(kind: string, event: Pick<SessionEvent, "type">): boolean {
  return event.type === "exec" || (event.type === "message" && kind === "llm");
}

/**
 * The event without its exec input and output (`"redacted": true` in its data says so), or the
 * event itself when it carries none.
 * @example
 * withoutExecIo("shell", execEvent).data; // { exec_id, status, exit_code, started_at, duration_ms, truncated, redacted: true }
 */
export function withoutExecIo(kind: string, event: SessionEvent): SessionEvent {
  if (!carriesExecIo(kind, event)) return event;
  const keep = event.type === "exec" ? EXEC_FACTS : MESSAGE_FACTS;
  const data: Record<string, unknown> = {};
  for (const key of keep) if (event.data[key] !== undefined) data[key] = event.data[key];
  data.redacted = true;
  return { ...event, data: data as JsonObject };
}
