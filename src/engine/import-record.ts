import {
  type Checkpoint,
  type CreateSessionInput,
  type JsonObject,
  type Session,
  type SessionEvent,
  type SessionStatus,
  assertValidId,
  assertValidName,
  errors,
} from "../core/index.js";
import { newSessionRecord, ownObject } from "./records.js";

/** A session brought from elsewhere (an export, seed 004's or seed 000's files), with its history. */
export interface SessionImport {
  /** The fields a create accepts; `id` is required: it is kept. */
  readonly session: CreateSessionInput & {
    readonly id: string;
    readonly status?: SessionStatus;
    readonly iterations?: number;
    readonly result?: unknown;
    readonly error?: string | null;
    readonly parent?: string | null;
    readonly created_at: string;
    readonly updated_at?: string;
    readonly started_at?: string;
    readonly ended_at?: string | null;
    /** Kept, so an exported session comes back with the same ETag. @default 1 */
    readonly version?: number;
  };
  /** Its events, seq 1, 2, 3… with no gap, original timestamps. */
  readonly events: readonly SessionEvent[];
  /** Its checkpoints; each names the seq of an imported `checkpoint` event. */
  readonly checkpoints?: readonly Omit<Checkpoint, "session_id">[];
}

/** Limits that bound an imported record, as for a created one. */
interface Limits {
  readonly maxContextBytes: number;
  readonly maxEventBytes: number;
}

/**
 * The stored record of an imported session: its fields, original timestamps, status and
 * counters and version kept, `last_seq` and `last_activity_at` taken from its newest event.
 * @throws validation naming the field (id, name, events.N.seq, checkpoints.N.seq…)
 */
export function importedRecord(input: SessionImport, limits: Limits): { session: Session; events: SessionEvent[]; checkpoints: Checkpoint[] } {
  const { session: s } = input;
  assertValidId(s.id);
  if (s.name !== undefined) assertValidName(s.name);
  const created = iso(s.created_at, "session.created_at");
  const {
    status: _status,
    iterations: _iterations,
    result: _result,
    error: _error,
    parent: _parent,
    created_at: _c,
    updated_at: _u,
    started_at: _s,
    ended_at: _e,
    version,
    checkpoint,
    ...createFields
  } = s;
  const base = newSessionRecord(createFields, created, limits);
  const events = input.events.map((e, i) => {
    if (e.seq !== i + 1) throw errors.validation(`events.${i}.seq`, `expected ${i + 1}: seqs run 1, 2, 3… with no gap`);
    return { seq: e.seq, ts: iso(e.ts, `events.${i}.ts`), type: e.type, data: ownObject(e.data as JsonObject, `events.${i}.data`, limits.maxEventBytes) };
  });
  const last = events.at(-1);
  const session: Session = {
    ...base,
    status: s.status ?? base.status,
    iterations: s.iterations ?? 0,
    result: s.result ?? null,
    error: s.error ?? null,
    parent: s.parent ?? null,
    checkpoint: checkpoint ?? null,
    updated_at: s.updated_at ? iso(s.updated_at, "session.updated_at") : created,
    started_at: s.started_at ? iso(s.started_at, "session.started_at") : created,
    ended_at: s.ended_at ? iso(s.ended_at, "session.ended_at") : null,
    last_seq: last?.seq ?? 0,
    last_activity_at: last?.ts ?? created,
    version: version ?? 1,
  };
  const checkpoints = (input.checkpoints ?? []).map((c, i) => {
    if (!events.some((e) => e.seq === c.seq)) throw errors.validation(`checkpoints.${i}.seq`, `no imported event has seq ${c.seq}`);
    return { ...c, session_id: session.id, created_at: iso(c.created_at, `checkpoints.${i}.created_at`) };
  });
  return { session, events, checkpoints };
}

function iso(value: string, field: string): string {
  const ms = Date.parse(value);
  if (Number.isNaN(ms)) throw errors.validation(field, "expected an ISO 8601 timestamp");
  return new Date(ms).toISOString();
}
