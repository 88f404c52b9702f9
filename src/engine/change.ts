import {
  type Checkpoint,
  type JsonObject,
  type ParticipantInput,
  type Session,
  type SessionEvent,
  type SessionStatus,
  type WorkspaceState,
  assertTransition,
  eventWithLazyData,
  isTerminal,
  joinParticipants,
  newId,
  transitionEventType,
} from "../core/index.js";
import type { WriteOp } from "../store/index.js";
import type { SessionChange } from "./event-bus.js";
import type { WriteRequest } from "./group-commit.js";
import { onlyScalars } from "./records.js";

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/**
 * One atomic change to one session, built synchronously on its newest state: record fields set,
 * events appended (seq assigned here, so seqs never gap or repeat), checkpoints taken. Nothing
 * reaches memory or the store until the engine applies the finished change, so a builder that
 * throws half-way leaves no trace.
 */
export class Change {
  private current: Session;
  /** The seq of the newest event so far; kept apart so an append does not copy the session. */
  private lastSeq: number;
  readonly events: SessionEvent[] = [];
  /** The JSON text of events whose data was given as text (eventFromText). */
  private texts: Map<SessionEvent, string> | undefined;
  readonly checkpoints: Checkpoint[] = [];
  /** Record fields this change set. */
  readonly updates = new Set<string>();
  /**
   * Derived fields this change moved — participants joined, a tool first used: the row is written
   * and the change published, but the version is not moved (see `join` and `useTool`).
   */
  private readonly derived = new Set<string>();

  constructor(
    readonly before: Session,
    readonly now: string,
    /** A new session, to be inserted rather than updated. */
    readonly isNew = false,
  ) {
    this.current = before;
    this.lastSeq = before.last_seq;
  }

  /** The session as this change has left it so far (last_seq and last_activity_at aside). */
  get session(): Session {
    return this.current;
  }

  set(fields: Partial<Mutable<Session>>): this {
    this.current = { ...this.current, ...fields };
    for (const key of Object.keys(fields)) this.updates.add(key);
    return this;
  }

  /**
   * Adds whoever of `joining` is not a participant yet. Like an event append, a join is not a
   * change a caller makes to the record: it moves neither `version` nor `updated_at`, so an
   * If-Match a writer took before its first write still holds after it.
   * @returns true when someone was added
   */
  join(joining: readonly ParticipantInput[]): boolean {
    const participants = joinParticipants(this.current.participants, joining, this.now);
    if (participants === this.current.participants) return false;
    this.current = { ...this.current, participants };
    this.derived.add("participants");
    return true;
  }

  /**
   * Adds `tool` to `metadata.toolsUsed` (seed 004) when it is not listed yet. The list is derived
   * from the session's tool_call events, like an append it moves neither `version` nor
   * `updated_at`: an agent's first call of a new tool does not invalidate an If-Match a person took.
   */
  useTool(tool: string): void {
    const used = toolsUsed(this.current.metadata);
    if (used.includes(tool)) return;
    this.current = { ...this.current, metadata: { ...this.current.metadata, toolsUsed: [...used, tool] } };
    this.derived.add("metadata");
  }

  /** Appends an event with the next seq. */
  event(type: string, data: JsonObject): SessionEvent {
    const event: SessionEvent = { seq: ++this.lastSeq, ts: this.now, type, data };
    this.events.push(event);
    return event;
  }

  /**
   * An event whose data is given as its JSON text: the store writes the text, and the data is
   * parsed from it only if something reads it (an embedded LangGraph saver's checkpoint is seldom
   * read back from the event: the saver holds what it built).
   */
  eventFromText(type: string, text: string): SessionEvent {
    const event = eventWithLazyData(++this.lastSeq, this.now, type, text);
    this.events.push(event);
    (this.texts ??= new Map()).set(event, text);
    return event;
  }

  /**
   * Moves the session to `to` through the status machine, recording the transition's event
   * (pause, resume, complete, error, timeout, crash, recover) with `data`.
   * @throws invalid_transition naming both states
   */
  transition(to: SessionStatus, data: JsonObject = {}, fields: Partial<Mutable<Session>> = {}): SessionEvent {
    const from = this.current.status;
    assertTransition(from, to);
    const endedAt = isTerminal(to) ? this.now : null;
    this.set({ ...fields, status: to, ...(endedAt !== this.current.ended_at ? { ended_at: endedAt } : {}) });
    return this.event(transitionEventType(from, to), { ...data, from, to });
  }

  /**
   * Records a checkpoint of the current state, and makes its data the session's `checkpoint`.
   * `extra.workspace` is a snapshot of the session's files taken for it (under `extra.id`).
   */
  checkpoint(label: string | null, data: JsonObject, extra: { readonly id?: string; readonly workspace?: WorkspaceState } = {}): Checkpoint {
    const { context, status, iterations } = this.current;
    const id = extra.id ?? newId();
    const event = this.event("checkpoint", extra.workspace ? { checkpoint_id: id, label, workspace: { ...extra.workspace } } : { checkpoint_id: id, label });
    const checkpoint: Checkpoint = {
      id,
      session_id: this.current.id,
      seq: event.seq,
      label,
      data,
      state: extra.workspace ? { context, status, iterations, workspace: extra.workspace } : { context, status, iterations },
      created_at: this.now,
    };
    this.checkpoints.push(checkpoint);
    this.set({ checkpoint: data });
    return checkpoint;
  }

  /** The finished record (version and updated_at moved when a field changed) and its write. */
  finish(): { session: Session; request: WriteRequest } {
    const session: Session = {
      ...this.current,
      last_seq: this.lastSeq,
      last_activity_at: this.events.length ? this.now : this.current.last_activity_at,
      ...(this.updates.size && !this.isNew ? { version: this.before.version + 1, updated_at: this.now } : {}),
    };
    const ops: WriteOp[] = [];
    const changes: SessionChange[] = [];
    // An append alone writes no session row: the store derives last_seq and last_activity_at
    // from the newest event, which keeps the hot path to one row per event.
    if (this.isNew || this.updates.size || this.derived.size) {
      ops.push({
        op: "put_session",
        session,
        insert: this.isNew,
        scalarsOnly: !this.isNew && !this.derived.size && onlyScalars(this.updates),
      });
    }
    if (this.isNew) changes.push({ type: "session.created", session });
    else if (this.updates.size || this.derived.size) {
      const updates = [...new Set([...this.updates, ...this.derived])];
      changes.push({ type: "session.updated", session, updates, previous: this.before });
    }
    for (const event of this.events) {
      const text = this.texts?.get(event);
      ops.push(text === undefined ? { op: "append_event", session_id: session.id, event } : { op: "append_event", session_id: session.id, event, text });
      changes.push({ type: "event.appended", session, event });
    }
    for (const checkpoint of this.checkpoints) {
      ops.push({ op: "put_checkpoint", checkpoint });
      changes.push({ type: "checkpoint.created", session, checkpoint });
    }
    return { session, request: { sessionId: session.id, session, ops, changes } };
  }
}

/** `metadata.toolsUsed` as a list of tool names ([] when absent or not a list). */
export function toolsUsed(metadata: JsonObject): unknown[] {
  return Array.isArray(metadata.toolsUsed) ? (metadata.toolsUsed as unknown[]) : [];
}

/** `next` with the `toolsUsed` of `current` (none when it has none): a caller's write never changes it. */
export function keepToolsUsed(next: JsonObject, current: JsonObject): JsonObject {
  const { toolsUsed: _ignored, ...rest } = next;
  return current.toolsUsed === undefined ? rest : { ...rest, toolsUsed: current.toolsUsed };
}
