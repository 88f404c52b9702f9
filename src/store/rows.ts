import { eventWithLazyData, jsonText, parseJson } from "../core/index.js";
import type { Checkpoint, JsonObject, Participant, Session, SessionEvent, SessionState } from "../core/index.js";

/** A `sessions` row as the stores read and write it (JSON fields as text). */
export interface SessionRow {
  id: string;
  /** The integer key events refer to the session by (set by the store on insert; absent when writing). */
  skey?: number;
  name: string;
  kind: string;
  type: string | null;
  mode: string | null;
  agent_id: string | null;
  user_id: string | null;
  channel_id: string | null;
  labels: string;
  task: string | null;
  workspace: string | null;
  status: string;
  iterations: number;
  max_iterations: number | null;
  context: string;
  checkpoint: string | null;
  runtime_backend: string;
  runtime_metadata: string;
  server: string;
  result: string | null;
  error: string | null;
  metadata: string;
  parent: string | null;
  created_at: string;
  updated_at: string;
  started_at: string;
  ended_at: string | null;
  last_activity_at: string;
  last_seq: number;
  version: number;
  /** JSON array of {kind, id, joined_at}. */
  participants: string;
}

/** Column order shared by the insert and full-update statements. */
export const SESSION_COLUMNS = [
  "id", "name", "kind", "type", "mode", "agent_id", "user_id", "channel_id", "labels", "task", "workspace",
  "status", "iterations", "max_iterations", "context", "checkpoint", "runtime_backend", "runtime_metadata",
  "server", "result", "error", "metadata", "parent", "created_at", "updated_at", "started_at", "ended_at",
  "last_activity_at", "last_seq", "version", "participants",
] as const;

/** The columns a session read selects, in this order: the written ones, then the event key. */
export const SESSION_READ_COLUMNS = [...SESSION_COLUMNS, "skey"] as const;

/**
 * The select list of a session read, in SESSION_READ_COLUMNS' order, over `sessions p` joined to
 * its newest event `e` (both stores' dialects). Events are the source of truth for the newest seq
 * and activity: an append writes no session row, so the row's last_seq and last_activity_at lag
 * behind until the next put. With no event, `e.seq` is NULL and the row's values stand.
 */
export const SESSION_SELECT = SESSION_READ_COLUMNS.map((c) => {
  if (c === "last_seq") return "CASE WHEN e.seq > p.last_seq THEN e.seq ELSE p.last_seq END AS last_seq";
  if (c === "last_activity_at") {
    return "CASE WHEN e.seq > p.last_seq AND e.ts > p.last_activity_at THEN e.ts ELSE p.last_activity_at END AS last_activity_at";
  }
  return `p.${c}`;
}).join(", ");

/**
 * A session row from the values of a read of SESSION_READ_COLUMNS in array mode (`.raw()`).
 * better-sqlite3 builds a 32-key object per row at ~13 µs; an array and this literal cost ~6,
 * which halves reading a page of sessions. The order here is SESSION_READ_COLUMNS' (a test holds
 * the two together).
 */
export function sessionRowFromValues(v: readonly unknown[]): SessionRow {
  return {
    id: v[0] as string,
    name: v[1] as string,
    kind: v[2] as string,
    type: v[3] as string | null,
    mode: v[4] as string | null,
    agent_id: v[5] as string | null,
    user_id: v[6] as string | null,
    channel_id: v[7] as string | null,
    labels: v[8] as string,
    task: v[9] as string | null,
    workspace: v[10] as string | null,
    status: v[11] as string,
    iterations: v[12] as number,
    max_iterations: v[13] as number | null,
    context: v[14] as string,
    checkpoint: v[15] as string | null,
    runtime_backend: v[16] as string,
    runtime_metadata: v[17] as string,
    server: v[18] as string,
    result: v[19] as string | null,
    error: v[20] as string | null,
    metadata: v[21] as string,
    parent: v[22] as string | null,
    created_at: v[23] as string,
    updated_at: v[24] as string,
    started_at: v[25] as string,
    ended_at: v[26] as string | null,
    last_activity_at: v[27] as string,
    last_seq: v[28] as number,
    version: v[29] as number,
    participants: v[30] as string,
    skey: v[31] as number,
  };
}

/** The columns a scalars-only update rewrites. */
export const SCALAR_COLUMNS = [
  "status", "iterations", "max_iterations", "updated_at", "ended_at", "last_activity_at", "last_seq", "version",
] as const;

export function sessionToRow(s: Session): SessionRow {
  return {
    id: s.id,
    name: s.name,
    kind: s.kind,
    type: s.type,
    mode: s.mode,
    agent_id: s.agent_id,
    user_id: s.user_id,
    channel_id: s.channel_id,
    labels: jsonText(s.labels),
    task: s.task,
    workspace: s.workspace,
    status: s.status,
    iterations: s.iterations,
    max_iterations: s.max_iterations,
    context: jsonText(s.context),
    checkpoint: s.checkpoint === null ? null : jsonText(s.checkpoint),
    runtime_backend: s.runtime_backend,
    runtime_metadata: jsonText(s.runtime_metadata),
    server: s.server,
    result: s.result === undefined || s.result === null ? null : jsonText(s.result),
    error: s.error,
    metadata: jsonText(s.metadata),
    parent: s.parent,
    created_at: s.created_at,
    updated_at: s.updated_at,
    started_at: s.started_at,
    ended_at: s.ended_at,
    last_activity_at: s.last_activity_at,
    last_seq: s.last_seq,
    version: s.version,
    participants: jsonText(s.participants),
  };
}

export function sessionFromRow(r: SessionRow): Session {
  return {
    id: r.id,
    name: r.name,
    kind: r.kind as Session["kind"],
    type: r.type,
    mode: r.mode,
    agent_id: r.agent_id,
    user_id: r.user_id,
    channel_id: r.channel_id,
    labels: parseJson<Record<string, string>>(r.labels),
    task: r.task,
    workspace: r.workspace,
    status: r.status as Session["status"],
    iterations: r.iterations,
    max_iterations: r.max_iterations,
    context: parseJson<JsonObject>(r.context),
    checkpoint: r.checkpoint === null ? null : parseJson<JsonObject>(r.checkpoint),
    runtime_backend: r.runtime_backend as Session["runtime_backend"],
    runtime_metadata: parseJson<JsonObject>(r.runtime_metadata),
    server: r.server,
    result: r.result === null ? null : parseJson<unknown>(r.result),
    error: r.error,
    metadata: parseJson<JsonObject>(r.metadata),
    parent: r.parent,
    created_at: r.created_at,
    updated_at: r.updated_at,
    started_at: r.started_at,
    ended_at: r.ended_at,
    last_activity_at: r.last_activity_at,
    last_seq: r.last_seq,
    version: r.version,
    participants: parseJson<Participant[]>(r.participants),
  };
}

export interface EventRow {
  seq: number;
  ts: string;
  type: string;
  data: string;
}

/** The stored JSON text of events whose data is parsed only when read (see eventFromRow). */
const storedTexts = new WeakMap<SessionEvent, string>();

/**
 * An event as a store read it. A large one (over LAZY_DATA_CHARS of JSON) has its `data` parsed
 * the first time something reads it: a page of events that is only sent on as JSON (the events
 * route, a stream's backlog) copies the stored text instead (storedDataText) — a few megabytes of
 * tiny objects (`[{},{},…]`) would otherwise cost their parse and stringify, seconds of the event
 * loop, on every read. Small ones are parsed at once, which costs less than the deferral.
 */
export function eventFromRow(r: EventRow): SessionEvent {
  if (r.data.length <= LAZY_DATA_CHARS) return { seq: r.seq, ts: r.ts, type: r.type, data: parseJson<JsonObject>(r.data) };
  const event = eventWithLazyData(r.seq, r.ts, r.type, r.data);
  storedTexts.set(event, r.data);
  return event;
}

/** Events with more JSON than this are parsed when read (see eventFromRow). */
const LAZY_DATA_CHARS = 16 * 1024;

/** The JSON text of a large event's data as its store holds it, when the event was read from one (see eventFromRow). */
export function storedDataText(event: SessionEvent): string | undefined {
  return storedTexts.get(event);
}

export interface CheckpointRow {
  id: string;
  session_id: string;
  seq: number;
  label: string | null;
  data: string;
  state: string;
  created_at: string;
}

export function checkpointFromRow(r: CheckpointRow): Checkpoint {
  return {
    id: r.id,
    session_id: r.session_id,
    seq: r.seq,
    label: r.label,
    data: parseJson<JsonObject>(r.data),
    state: parseJson<SessionState>(r.state),
    created_at: r.created_at,
  };
}
