import {
  type Checkpoint,
  type Config,
  type CreateSessionInput,
  CreateSessionSchema,
  type EventQuery,
  EventQuerySchema,
  EventTypeSchema,
  ImportSessionSchema,
  type JsonObject,
  LATEST_CHECKPOINT,
  type SessionPageRequest,
  SessionPageRequestSchema,
  type ParticipantInput,
  ParticipantSchema,
  STATE_EVENT_TYPES,
  type Session,
  type SessionEvent,
  type SessionFilter,
  SessionFilterSchema,
  type SessionState,
  type SessionStats,
  type SessionStatus,
  SessiondError,
  type ToolCallOutcome,
  type UpdateSessionInput,
  UpdateSessionSchema,
  type WorkspaceState,
  adoptJson,
  adoptJsonText,
  applyEvent,
  applyMergePatch,
  assertRecoveryAllowed,
  assertStorableText,
  assertValidId,
  assertValidName,
  errors,
  hasParticipant,
  isQualifiedRef,
  isTerminal,
  isValidName,
  nameNamespace,
  newId,
  notActiveHint,
  ownJson,
  parseQualifiedName,
  qualifiedName,
  textFault,
  validate,
} from "../core/index.js";
import { SessionFiles, checkpointRefKey } from "../snapshots/index.js";
import type { NameQuery, OrphanedSession, SessionPage, Store, SyncStore, WebhookRecord, WriteOp } from "../store/index.js";
import { Change, keepToolsUsed } from "./change.js";
import { EventBus } from "./event-bus.js";
import { type CommitObservation, GroupCommitter, type WriteRequest } from "./group-commit.js";
import { HotPool } from "./hot-pool.js";
import { type ClusterOwnership, type TakeoverListener, ownerOfError } from "./ownership.js";
import { type SessionImport, importedRecord } from "./import-record.js";
import { newSessionRecord, ownObject } from "./records.js";

/** What a SessionManager runs on. */
export interface SessionManagerOptions {
  readonly store: Store;
  readonly config: Config;
  /** @default () => new Date() */
  readonly clock?: () => Date;
  /** @default a new EventBus */
  readonly bus?: EventBus;
  /** Called after every group commit (batch size, duration), e.g. to export metrics. */
  readonly observeCommit?: (commit: CommitObservation) => void;
  /**
   * This node's ownership of sessions, when several nodes share the store (docs/scale-out.md):
   * memory serves only sessions it holds, a change first claims its session, and every write
   * carries the epoch it was built under. @default one node: every session is this one's
   */
  readonly ownership?: SessionOwnership;
  /** Workspace snapshots for checkpoints `with_files` (docs/checkpoints.md). @default in the config's data dir */
  readonly files?: SessionFiles;
}

/** What the engine needs of a node's ownership of sessions (ClusterOwnership). */
export type SessionOwnership = Pick<ClusterOwnership, "nodeId" | "epochIfTrusted" | "epochOf" | "acquire" | "fenced" | "forget" | "onLost" | "onTakeover">;

/**
 * Whose sessions a lookup may find. A scoped lookup (an agent token's) finds only sessions with
 * this agent_id and/or user_id — by id as by name, anything else is not found — and resolves a
 * bare name in the scope's own agent_id namespace. Without a scope, every session is found.
 */
export interface LookupScope {
  readonly agent_id?: string;
  readonly user_id?: string;
}

/** Optimistic concurrency: refuse the write unless the session is at this version. */
export interface WriteOptions {
  readonly expected_version?: number;
}

/** Seed 003's session metrics: how long a session ran and what it did. */
export interface SessionMetrics {
  readonly session_id: string;
  readonly status: SessionStatus;
  /** From started_at to ended_at, or to now while it runs. */
  readonly duration_ms: number;
  /** Since the last event. */
  readonly idle_ms: number;
  readonly iterations: number;
  readonly events_total: number;
  readonly events_by_type: Readonly<Record<string, number>>;
  readonly checkpoints: number;
}

/** The result of recovering a crashed session: the session, active again, and where to resume. */
export interface Recovery {
  readonly session: Session;
  readonly checkpoint: Checkpoint | null;
}

const ALL = Number.MAX_SAFE_INTEGER;
const DAY_MS = 86_400_000;
/** The largest `older_than_days` a cleanup takes. */
const MAX_CLEANUP_DAYS = 1_000_000;
/** Rows fetched per round when a read must walk a whole range (state replay, cleanup). */
const SCAN_CHUNK = 5_000;
/** The most sessions a cleanup's dry run names. */
const CLEANUP_PREVIEW_LIMIT = 1_000;
/** Holders of a bare name a lookup reads at most; an ambiguous_name error lists these. */
const NAME_CANDIDATES = 10;

/**
 * The session engine. Sessions live in a bounded hot pool and are read from memory; each change
 * is built synchronously on the session's newest state (so event seqs are gap-free under any
 * concurrency), applied to memory, and group-committed; the caller's promise resolves once the
 * change is durable, and the change is then published on the bus.
 */
export class SessionManager {
  readonly bus: EventBus;
  /** Workspace snapshots: what checkpoints `with_files` hold, restore and fork copy. */
  readonly files: SessionFiles;
  private readonly store: Store;
  private readonly config: Config;
  private readonly clock: () => Date;
  private readonly pool: HotPool;
  private readonly committer: GroupCommitter;
  private readonly ownership: SessionOwnership | undefined;
  /** Lookups in flight, by ref (unscoped ones only): concurrent callers share one. */
  private readonly resolving = new Map<string, Promise<Session | undefined>>();
  private closed = false;

  constructor(options: SessionManagerOptions) {
    this.store = options.store;
    this.config = options.config;
    this.clock = options.clock ?? (() => new Date());
    this.bus = options.bus ?? new EventBus();
    this.pool = new HotPool(options.config.hotPoolSize);
    const ownership = (this.ownership = options.ownership);
    this.committer = new GroupCommitter(
      options.store,
      options.config.maxCommitBatch,
      {
        committed: (changes) => {
          for (const change of changes) this.bus.publish(change);
        },
        discarded: (ids) => {
          for (const id of ids) this.pool.delete(id);
        },
        ...(ownership ? { fenced: (id: string) => ownership.fenced(id) } : {}),
        ...(options.observeCommit ? { observed: options.observeCommit } : {}),
      },
      ownership?.nodeId,
    );
    // Another node wrote to it since memory read it: the next read or change reloads it.
    ownership?.onLost((id) => this.pool.delete(id));
    const files = (this.files = options.files ?? new SessionFiles(options.config));
    // Restores a crash cut short are finished (in the background) as the engine starts.
    files.recoverInterrupted();
    // A deleted session's snapshots are held no more; what only they used is collected.
    this.bus.subscribe((change) => {
      if (change.type === "session.deleted") files.forget(change.session.id).catch(() => undefined);
    });
  }

  // ---- create and read ------------------------------------------------------------------

  /**
   * Creates a session (status active) and records its `start` event.
   * @throws validation / too_large naming the field; conflict when the id is taken, or the name
   *   in the session's agent_id namespace
   */
  async create(input: CreateSessionInput): Promise<Session> {
    this.assertOpen();
    const valid = validate(CreateSessionSchema, input ?? {});
    if (valid.id !== undefined) assertValidId(valid.id);
    if (valid.name !== undefined) assertValidName(valid.name);
    const now = this.now();
    let record = newSessionRecord(valid, now, this.config);
    const checkpointData = valid.checkpoint ? ownJson(valid.checkpoint, "checkpoint", this.config.maxEventBytes) : null;
    if (valid.id !== undefined && (await this.exists(valid.id))) throw errors.conflict(`a session with id ${valid.id} already exists`, "id");
    const namespace = nameNamespace(record.agent_id);
    for (let attempt = 0; await this.nameTaken(record.name, namespace); attempt++) {
      // A generated name that collides gets a longer random tail; a chosen one is refused.
      if (valid.name !== undefined || attempt > 3) throw nameConflict(record.name, namespace);
      record = { ...record, name: `${record.name}-${Math.random().toString(36).slice(2, 6)}` };
    }
    // A new session belongs to the node that creates it (its id is new, so no other node holds it).
    await this.ownership?.acquire(record.id);
    // The awaits above let other callers run: check again, synchronously, just before applying.
    if (this.lookupHot(record.id) !== undefined || this.hotHolder(record.name, namespace)) throw nameConflict(record.name, namespace);
    const change = new Change(record, now, true);
    change.event("start", startEventData(record));
    if (checkpointData) change.checkpoint(null, checkpointData);
    return this.apply(change);
  }

  /**
   * The session `ref` names: an id, `agent_id/name`, or a bare name (see find).
   * @throws not_found; ambiguous_name
   */
  async get(ref: string, scope?: LookupScope): Promise<Session> {
    const session = await this.find(ref, scope);
    if (!session) throw errors.sessionNotFound(ref);
    return session;
  }

  /**
   * The session `ref` names, or undefined. `ref` is an id (tried first), `agent_id/name` (`/name`
   * for a session without an agent_id), or a bare name. A scoped bare name resolves in the
   * scope's agent_id namespace; otherwise it resolves when exactly one session (that the scope
   * may see) holds it. A hot session found by id is answered from memory; a name also asks the
   * store, which alone knows every namespace.
   * @throws ambiguous_name when several sessions hold a bare name, listing them as agent_id/name
   */
  async find(ref: string, scope?: LookupScope): Promise<Session | undefined> {
    // No id or name holds such text (storable.ts), and PostgreSQL would refuse to look it up.
    if (textFault(ref) !== undefined) return undefined;
    const hot = this.lookupHot(ref);
    if (hot && inScope(hot, scope)) return hot;
    if (scope) return this.resolve(ref, scope, hot);
    // Concurrent lookups of one ref share one resolution, so their changes keep call order.
    let resolving = this.resolving.get(ref);
    if (!resolving) {
      resolving = this.resolve(ref, undefined, hot).finally(() => this.resolving.delete(ref));
      this.resolving.set(ref, resolving);
    }
    return resolving;
  }

  /** Synchronous find (embedded SQLite store only). @throws ambiguous_name */
  findSync(ref: string, scope?: LookupScope): Session | undefined {
    if (textFault(ref) !== undefined) return undefined;
    const hot = this.lookupHot(ref);
    if (hot && inScope(hot, scope)) return hot;
    const sync = this.syncStore("getSession");
    const wanted = refParts(ref, scope);
    if (wanted.id !== undefined && hot === undefined) {
      const stored = this.fetch(sync.getSession(wanted.id));
      if (stored && inScope(stored, scope)) return stored;
    }
    if (wanted.name === undefined) return undefined;
    const held = this.hotNamed(wanted.name, wanted.namespace);
    if (wanted.namespace !== undefined && held.length) return pickNamed(wanted.name, held, scope);
    const ids = sync.findSessionIds(nameQuery(wanted.name, wanted.namespace, scope));
    const stored = ids.map((id) => this.memoryOr(id, () => sync.getSession(id)));
    return pickNamed(wanted.name, [...held, ...stored], scope, wanted.namespace);
  }

  /** Synchronous get. @throws not_found; ambiguous_name */
  getSync(ref: string, scope?: LookupScope): Session {
    const session = this.findSync(ref, scope);
    if (!session) throw errors.sessionNotFound(ref);
    return session;
  }

  /**
   * Filtered, newest first unless `page` asks for another order (docs/api.md#listing-sessions).
   * The sessions this engine holds are listed as it holds them, each in the place its stored row
   * has in the order: every write is flushed first, so the two differ only by what changed since.
   */
  async list(filter: SessionFilter = {}, page: SessionPageRequest = {}): Promise<SessionPage> {
    this.assertOpen();
    const { f, p } = this.listArgs(filter, page);
    await this.committer.flush();
    return this.store.listSessions(f, p, this.held);
  }

  /** Synchronous list (embedded SQLite store only). */
  listSync(filter: SessionFilter = {}, page: SessionPageRequest = {}): SessionPage {
    this.assertOpen();
    const { f, p } = this.listArgs(filter, page);
    const sync = this.syncStore("listing sessions");
    this.committer.flushSync();
    return sync.listSessions(f, p, this.held);
  }

  // ---- update and lifecycle --------------------------------------------------------------

  /**
   * Updates fields; `context` replaces, `context_patch` merges (RFC 7396), `checkpoint` records a
   * checkpoint, `status` moves through the status machine (a no-op when unchanged). Applied in
   * that order, atomically.
   * @throws validation, too_large, conflict (name taken in the namespace of the session's
   *   agent_id, or of the agent_id it moves to), invalid_transition, version_conflict
   */
  async update(ref: string, input: UpdateSessionInput, options: WriteOptions = {}): Promise<Session> {
    const valid = validate(UpdateSessionSchema, input ?? {});
    if (valid.name !== undefined) assertValidName(valid.name);
    if (valid.context !== undefined && valid.context_patch !== undefined) {
      throw errors.validation("context_patch", "give context (replace) or context_patch (merge), not both");
    }
    const limits = this.config;
    const context = valid.context && ownJson(valid.context, "context", limits.maxContextBytes);
    const patch = valid.context_patch && ownJson(valid.context_patch, "context_patch", limits.maxContextBytes);
    const checkpoint = valid.checkpoint && ownJson(valid.checkpoint, "checkpoint", limits.maxEventBytes);
    const fields: Partial<Record<keyof Session, unknown>> = {};
    for (const key of ["type", "mode", "agent_id", "user_id", "channel_id", "task", "workspace", "max_iterations", "runtime_backend", "server", "error"] as const) {
      if (valid[key] !== undefined) fields[key] = valid[key];
    }
    if (valid.labels !== undefined) fields.labels = ownJson(valid.labels, "labels", limits.maxEventBytes);
    if (valid.runtime_metadata !== undefined) fields.runtime_metadata = ownObject(valid.runtime_metadata, "runtime_metadata", limits.maxEventBytes);
    if (valid.metadata !== undefined) fields.metadata = ownObject(valid.metadata, "metadata", limits.maxEventBytes);
    if (valid.result !== undefined) fields.result = ownJson(valid.result, "result", limits.maxEventBytes);
    if (valid.name !== undefined || valid.agent_id !== undefined) {
      // A new name, or a move to another agent_id, must be free in the namespace it lands in.
      const current = await this.get(ref);
      const target = nameAfter(current, valid);
      if (target && (await this.nameTaken(target.name, target.namespace, current.id))) throw nameConflict(target.name, target.namespace);
      if (valid.name !== undefined) fields.name = valid.name;
    }
    return this.change(ref, options, (c) => {
      const target = nameAfter(c.session, valid);
      if (target && this.hotHolder(target.name, target.namespace, c.session.id)) throw nameConflict(target.name, target.namespace);
      // metadata.toolsUsed is derived from the tool calls and moves without the version, so a
      // metadata computed from an older read (a merge patch at the same version) must not undo it.
      const set = fields.metadata === undefined ? fields : { ...fields, metadata: keepToolsUsed(fields.metadata as JsonObject, c.session.metadata) };
      if (Object.keys(set).length) c.set(set as Partial<Session>);
      if (context !== undefined) {
        c.set({ context });
        c.event("context_update", { context });
      } else if (patch !== undefined) {
        const merged = ownJson(applyMergePatch(c.session.context, patch) as JsonObject, "context", limits.maxContextBytes);
        c.set({ context: merged });
        c.event("context_update", { patch });
      }
      if (checkpoint !== undefined) c.checkpoint(null, checkpoint);
      if (valid.status !== undefined && valid.status !== c.session.status) c.transition(valid.status);
    });
  }

  /** Replaces the context (`merge: false`) or merges a JSON Merge Patch into it. */
  async updateContext(ref: string, context: JsonObject, options: WriteOptions & { merge?: boolean } = {}): Promise<Session> {
    return this.update(ref, options.merge ? { context_patch: context } : { context }, options);
  }

  pause(ref: string, reason?: string, options?: WriteOptions): Promise<Session> {
    assertStorableText(reason, "reason");
    return this.transition(ref, "paused", reason === undefined ? {} : { reason }, {}, options);
  }

  /** Paused → active; a crashed session is recovered instead. */
  resume(ref: string, options?: WriteOptions): Promise<Session> {
    return this.transition(ref, "active", {}, {}, options);
  }

  complete(ref: string, result?: unknown, options?: WriteOptions): Promise<Session> {
    const owned = result === undefined ? null : ownJson(result, "result", this.config.maxEventBytes);
    return this.transition(ref, "completed", owned === null ? {} : { result: owned }, { result: owned }, options);
  }

  fail(ref: string, error: string, options?: WriteOptions): Promise<Session> {
    if (typeof error !== "string" || !error) throw errors.validation("error", "expected a non-empty string");
    assertStorableText(error, "error");
    return this.transition(ref, "failed", { error }, { error }, options);
  }

  crash(ref: string, reason?: string, options?: WriteOptions): Promise<Session> {
    assertStorableText(reason, "reason");
    return this.transition(ref, "crashed", reason === undefined ? {} : { reason }, {}, options);
  }

  /** Crashed → active, returning the latest checkpoint to resume from (seed 003's recovery). */
  async recover(ref: string, options?: WriteOptions): Promise<Recovery> {
    const session = await this.change(ref, options ?? {}, (c) => {
      if (c.session.status !== "crashed") throw errors.invalidTransition("recover", c.session.status, "active");
      c.transition("active");
    });
    const checkpoint = await this.store.checkpointAtOrBefore(session.id, session.last_seq);
    return { session, checkpoint: checkpoint ?? null };
  }

  /** Ends the session as timed out. */
  timeout(ref: string, reason?: string, options?: WriteOptions): Promise<Session> {
    assertStorableText(reason, "reason");
    return this.transition(ref, "timeout", reason === undefined ? {} : { reason }, {}, options);
  }

  /**
   * Counts one iteration (an `iteration` event with `data`); reaching max_iterations moves the
   * session to timeout in the same change.
   * @throws session_not_active unless the session is active
   */
  incrementIteration(ref: string, data: JsonObject = {}, options: WriteOptions = {}): Promise<Session> {
    const owned = this.eventData(data, "data");
    return this.change(ref, options, (c) => {
      this.assertActive(c.session, "record an iteration");
      const iterations = c.session.iterations + 1;
      c.set({ iterations });
      c.event("iteration", owned);
      const max = c.session.max_iterations;
      if (max !== null && iterations >= max) c.transition("timeout", { reason: "max_iterations reached", max_iterations: max });
    });
  }

  // ---- events ------------------------------------------------------------------------------

  /**
   * Appends a custom event (any type but those that change state, which have their own calls).
   * @throws validation naming `type` or `data`; too_large naming `data`
   */
  async appendEvent(ref: string, type: string, data: JsonObject = {}, options: WriteOptions = {}): Promise<SessionEvent> {
    this.assertCustomType(type);
    return this.appendOwned(ref, type, this.eventData(data, "data"), options);
  }

  /**
   * Appends an event whose data the caller built for it and hands over whole (an exec's record):
   * the checks of {@link appendEvent} without its defensive copy, which an exec would pay on every
   * command. The caller must never change `data` afterwards.
   * @throws as appendEvent
   */
  async appendBuiltEvent(ref: string, type: string, data: JsonObject): Promise<SessionEvent> {
    this.assertCustomType(type);
    return this.appendOwned(ref, type, adoptJson(data, "data", this.config.maxEventBytes), {});
  }

  /**
   * appendBuiltEvent with the data given as the JSON text of an object, which the caller built as
   * text (a LangGraph saver's checkpoint, made of its serializer's output): the store writes the
   * text as it is, and the event's `data` is parsed from it only if something reads it.
   * @param text valid JSON by construction: it is checked as appendEvent checks data (size,
   *   strings), but not parsed to be checked
   * @throws as appendBuiltEvent
   */
  async appendBuiltEventText(ref: string, type: string, text: string): Promise<SessionEvent> {
    this.assertCustomType(type);
    const checked = adoptJsonText(text, "data", this.config.maxEventBytes);
    let event: SessionEvent | undefined;
    await this.change(ref, {}, (c) => {
      event = c.eventFromText(type, checked);
    });
    return event!;
  }

  /**
   * appendBuiltEventText committed before it returns, where that needs no wait: a store with a
   * synchronous path (embedded SQLite) and the session in memory here. An embedded caller that
   * awaits each write alone (a LangGraph saver's put) is spared the turn of the event loop a group
   * commit waits for other writers. Everything queued before it is committed with it, in order.
   * @returns undefined when it cannot be done so (call appendBuiltEventText)
   * @throws as appendBuiltEventText
   */
  tryAppendBuiltEventTextSync(id: string, type: string, text: string): SessionEvent | undefined {
    return this.tryAppendSync(id, type, (change) => change.eventFromText(type, adoptJsonText(text, "data", this.config.maxEventBytes)));
  }

  /**
   * appendBuiltEvent committed before it returns, as tryAppendBuiltEventTextSync: for a write
   * nobody else would share a group commit with (an exec that is the only one running here).
   * @returns undefined when it cannot be done so (call appendBuiltEvent)
   * @throws as appendBuiltEvent
   */
  tryAppendBuiltEventSync(id: string, type: string, data: JsonObject): SessionEvent | undefined {
    return this.tryAppendSync(id, type, (change) => change.event(type, adoptJson(data, "data", this.config.maxEventBytes)));
  }

  private tryAppendSync(id: string, type: string, build: (change: Change) => SessionEvent): SessionEvent | undefined {
    if (!this.store.sync || this.closed) return undefined;
    const current = this.lookupHot(id);
    if (!current) return undefined;
    this.assertCustomType(type);
    const change = new Change(current, this.now());
    const event = build(change);
    this.committer.writeSync(this.staged(change).request);
    return event;
  }

  private assertCustomType(type: string): void {
    if (typeof type !== "string" || type === "") throw errors.validation("type", "an event needs a type");
    validate(EventTypeSchema, type, "type");
    if (STATE_EVENT_TYPES.includes(type)) {
      throw errors.validation("type", `${type} events are recorded by the session's own operations (pause, update, checkpoint…)`);
    }
  }

  private async appendOwned(ref: string, type: string, owned: JsonObject, options: WriteOptions): Promise<SessionEvent> {
    let event: SessionEvent | undefined;
    await this.change(ref, options, (c) => {
      event = c.event(type, owned);
    });
    return event!;
  }

  /**
   * Records a tool call (seed 004) and adds the tool to `metadata.toolsUsed`. A call that failed
   * has `error` in place of `result`; `duration_ms` is its wall time (what `instrument` measures).
   * Like any append it leaves `version` alone, the tool's first call included (Change.useTool).
   */
  async recordToolCall(ref: string, tool: string, args: unknown, result?: unknown, outcome: ToolCallOutcome = {}): Promise<SessionEvent> {
    if (typeof tool !== "string" || tool === "") throw errors.validation("tool", "expected the tool's name");
    const { error, duration_ms } = outcome;
    if (error !== undefined && (typeof error?.name !== "string" || typeof error.message !== "string")) throw errors.validation("error", "expected {name, message, code?}");
    if (duration_ms !== undefined && !(Number.isFinite(duration_ms) && duration_ms >= 0)) throw errors.validation("duration_ms", "expected a number of milliseconds, 0 or more");
    // Checked apart, so a bad string is named as the HTTP route names it (`args.path`, not `data.args.path`).
    assertStorableText({ tool, args, result, error });
    const data = this.eventData(
      {
        tool,
        args: args ?? null,
        ...(error !== undefined ? { error: { ...error } } : { result: result ?? null }),
        ...(duration_ms !== undefined ? { duration_ms } : {}),
      },
      "data",
    );
    let event: SessionEvent | undefined;
    await this.change(ref, {}, (c) => {
      event = c.event("tool_call", data);
      c.useTool(tool);
    });
    return event!;
  }

  /**
   * Adds whoever of `joining` is not yet a participant of the session (seed 002): someone who
   * attached to it or wrote to it. Free when every one is listed already — checked on the
   * session in memory, nothing written — so a server may call it before each write of a
   * principal. A join moves neither `version` nor `updated_at` (see Change.join).
   * @throws validation naming `participants.N`; not_found
   */
  async join(ref: string, joining: readonly ParticipantInput[]): Promise<Session> {
    this.assertOpen();
    joining.forEach((who, i) => validate(ParticipantSchema, who, `participants.${i}`));
    const hot = this.lookupHot(ref);
    if (hot && joining.every((who) => hasParticipant(hot.participants, who))) return hot;
    return this.change(ref, {}, (c) => {
      c.join(joining);
    });
  }

  /** A session's events by seq range and type. Reads what is committed (pending writes first). */
  async listEvents(ref: string, query: EventQuery = {}): Promise<SessionEvent[]> {
    const q = validate(EventQuerySchema, query);
    const session = await this.get(ref);
    await this.committer.flush();
    return this.store.listEvents(session.id, q);
  }

  /** Synchronous listEvents (embedded SQLite store only). */
  listEventsSync(ref: string, query: EventQuery = {}): SessionEvent[] {
    const q = validate(EventQuerySchema, query);
    const session = this.getSync(ref);
    const sync = this.syncStore("listing events");
    this.committer.flushSync();
    return sync.listEvents(session.id, q);
  }

  // ---- checkpoints and time travel ---------------------------------------------------------

  /**
   * Records a checkpoint of the current state with the caller's data; `with_files` also snapshots
   * the session's workspace into it (`state.workspace`), taken before the checkpoint is written.
   * @throws snapshot_too_large (nothing written); file_changed
   */
  async createCheckpoint(ref: string, input: { label?: string | null; data?: JsonObject; with_files?: boolean } = {}, options: WriteOptions = {}): Promise<Checkpoint> {
    if (input.label !== undefined && input.label !== null && typeof input.label !== "string") {
      throw errors.validation("label", "expected a string");
    }
    if (input.with_files !== undefined && typeof input.with_files !== "boolean") throw errors.validation("with_files", "expected a boolean");
    assertStorableText(input.label, "label");
    // The CLI, the repl and fork take `latest` for the newest checkpoint: a checkpoint named so would never be found by it.
    if (input.label === LATEST_CHECKPOINT) throw errors.validation("label", "`latest` names a session's newest checkpoint; choose another label");
    const data = this.eventData(input.data ?? {}, "data");
    const id = newId();
    let workspace: WorkspaceState | undefined;
    let holder = "";
    if (input.with_files) {
      const session = await this.get(ref);
      // Refused before the snapshot is paid for; checked again when the checkpoint is written.
      this.assertVersion(session, options);
      holder = session.id;
      workspace = await this.files.capture(session, checkpointRefKey(id));
    }
    let checkpoint: Checkpoint | undefined;
    try {
      await this.change(ref, options, (c) => {
        checkpoint = c.checkpoint(input.label ?? null, data, workspace ? { id, workspace } : { id });
      });
    } catch (err) {
      // The snapshot taken for it is held no more (collected with the next deletion's collection).
      if (workspace) await this.files.release(holder, checkpointRefKey(id)).catch(() => undefined);
      throw err;
    }
    return checkpoint!;
  }

  /** Oldest first. */
  async listCheckpoints(ref: string): Promise<Checkpoint[]> {
    const session = await this.get(ref);
    await this.committer.flush();
    return this.store.listCheckpoints(session.id, ALL);
  }

  /** @throws not_found for an unknown session or checkpoint */
  async getCheckpoint(ref: string, checkpointId: string): Promise<Checkpoint> {
    const session = await this.get(ref);
    // No checkpoint id holds such text, and PostgreSQL would refuse to look it up.
    if (textFault(checkpointId) !== undefined) throw errors.checkpointNotFound(checkpointId);
    await this.committer.flush();
    const checkpoint = await this.store.getCheckpoint(session.id, checkpointId);
    if (!checkpoint) throw errors.checkpointNotFound(checkpointId);
    return checkpoint;
  }

  /**
   * Rewinds context and iterations to a checkpoint and appends a `restore` event; history is
   * kept. The status is not rewound. A checkpoint `with_files` puts the workspace back first
   * (the event records it). A terminal session cannot be restored: fork it instead.
   * @throws snapshot_damaged (the workspace untouched)
   */
  async restore(ref: string, checkpointId: string, options: WriteOptions = {}, note: RestoreNote = {}): Promise<Session> {
    const checkpoint = await this.getCheckpoint(ref, checkpointId);
    const notActive = (session: Session): void => {
      if (!isTerminal(session.status)) return;
      throw new SessiondError("session_not_active", { action: "restore a checkpoint", ref: session.name, status: session.status, hint: "fork from the checkpoint instead" });
    };
    const saved = checkpoint.state.workspace;
    let restored: WorkspaceState | undefined;
    if (saved) {
      const session = await this.get(ref);
      // Refused before the files are touched; checked again when the event is written.
      notActive(session);
      this.assertVersion(session, options);
      const result = await this.files.restore(session, saved.digest);
      restored = { digest: result.digest, files: result.files, bytes: result.bytes };
    }
    return this.change(ref, options, (c) => {
      notActive(c.session);
      const state: SessionState = { context: checkpoint.state.context, status: c.session.status, iterations: checkpoint.state.iterations, ...(restored ? { workspace: restored } : {}) };
      c.set({ context: state.context, iterations: state.iterations, checkpoint: checkpoint.data });
      c.event("restore", {
        checkpoint_id: checkpoint.id,
        seq: checkpoint.seq,
        state,
        restored: restoredParts(restored !== undefined, note),
        ...(note.interpreter ? { interpreter: note.interpreter } : {}),
      });
    });
  }

  /**
   * A new session from a checkpoint: the source's settings, the checkpoint's context and
   * iterations, status active, `parent` set, and — for a checkpoint `with_files` — its own copy of
   * the checkpoint's workspace. The source gets a `fork` event.
   * @throws snapshot_damaged (no session made)
   */
  async fork(ref: string, checkpointId: string, input: { name?: string } = {}, note: RestoreNote = {}): Promise<Session> {
    if (input.name !== undefined) assertValidName(input.name);
    const checkpoint = await this.getCheckpoint(ref, checkpointId);
    const source = await this.get(ref);
    const now = this.now();
    const saved = checkpoint.state.workspace;
    const created = await this.create({
      ...(input.name !== undefined ? { name: input.name } : {}),
      kind: source.kind,
      type: source.type,
      mode: source.mode,
      agent_id: source.agent_id,
      user_id: source.user_id,
      channel_id: source.channel_id,
      labels: { ...source.labels },
      task: source.task,
      max_iterations: source.max_iterations,
      runtime_backend: source.runtime_backend,
      server: source.server,
      metadata: source.metadata,
      context: checkpoint.state.context,
    });
    let copied: WorkspaceState | undefined;
    if (saved) {
      try {
        const result = await this.files.copy(created, saved.digest);
        copied = { digest: result.digest, files: result.files, bytes: result.bytes };
      } catch (err) {
        // A fork without the files it was asked for is no fork: it goes.
        await this.delete(created.id).catch(() => undefined);
        throw err;
      }
    }
    const child = await this.change(created.id, {}, (c) => {
      c.set({ parent: source.id, iterations: checkpoint.state.iterations, checkpoint: checkpoint.data });
      // Whoever took part in the history the fork carries took part in the fork.
      c.join(source.participants);
      c.event("restore", {
        checkpoint_id: checkpoint.id,
        seq: checkpoint.seq,
        forked_from: source.id,
        state: { context: checkpoint.state.context, status: "active", iterations: checkpoint.state.iterations, ...(copied ? { workspace: copied } : {}) },
        restored: restoredParts(copied !== undefined, note),
        ...(note.interpreter ? { interpreter: note.interpreter } : {}),
      });
    });
    await this.change(source.id, {}, (c) => {
      c.event("fork", { child_id: child.id, child_name: child.name, checkpoint_id: checkpoint.id, at: now });
    });
    return child;
  }

  /** The session's context, status and iterations as they were right after event `seq`. */
  async stateAt(ref: string, seq: number): Promise<SessionState & { seq: number }> {
    const session = await this.get(ref);
    if (!Number.isInteger(seq) || seq < 1 || seq > session.last_seq) {
      throw errors.validation("seq", `expected an integer from 1 to ${session.last_seq}`);
    }
    await this.committer.flush();
    const base = await this.store.checkpointAtOrBefore(session.id, seq);
    let state: SessionState = base ? base.state : { context: {}, status: "active", iterations: 0 };
    let after = base ? base.seq : 0;
    while (after < seq) {
      const events = await this.store.listEvents(session.id, { after_seq: after, to_seq: seq, limit: SCAN_CHUNK });
      if (!events.length) break;
      for (const event of events) state = applyEvent(state, event);
      after = events.at(-1)!.seq;
    }
    return { seq, ...state };
  }

  /** Duration and activity counts of one session. */
  async metrics(ref: string): Promise<SessionMetrics> {
    const session = await this.get(ref);
    await this.committer.flush();
    const activity = await this.store.activity(session.id);
    const now = this.clock().getTime();
    const end = session.ended_at ? Date.parse(session.ended_at) : now;
    return {
      session_id: session.id,
      status: session.status,
      duration_ms: Math.max(0, end - Date.parse(session.started_at)),
      idle_ms: Math.max(0, now - Date.parse(session.last_activity_at)),
      iterations: session.iterations,
      events_total: Object.values(activity.events_by_type).reduce((a, b) => a + b, 0),
      events_by_type: activity.events_by_type,
      checkpoints: activity.checkpoints,
    };
  }

  // ---- delete, stats, cleanup --------------------------------------------------------------

  /** Deletes a session with its events and checkpoints. @throws not_found */
  async delete(ref: string, options: WriteOptions = {}): Promise<void> {
    this.assertOpen();
    let session = await this.get(ref);
    if (await this.holdHere(session.id)) session = await this.get(session.id);
    this.assertVersion(session, options);
    await this.committer.write(this.deletion(session));
    this.ownership?.forget(session.id);
  }

  /** Synchronous delete (embedded SQLite store only). @returns false when there was no such session */
  deleteSync(ref: string): boolean {
    this.assertOpen();
    const session = this.findSync(ref);
    if (!session) return false;
    this.committer.writeSync(this.deletion(session));
    return true;
  }

  async stats(filter: SessionFilter = {}): Promise<SessionStats> {
    const f = validate(SessionFilterSchema, filter, "filter");
    await this.committer.flush();
    return this.store.stats(f);
  }

  /** How many stored sessions there are of each status (none: left out), as of every acknowledged write. */
  async countByStatus(): Promise<Partial<Record<SessionStatus, number>>> {
    await this.committer.flush();
    return this.store.countByStatus();
  }

  statsSync(filter: SessionFilter = {}): SessionStats {
    const f = validate(SessionFilterSchema, filter, "filter");
    const sync = this.syncStore("stats");
    this.committer.flushSync();
    return sync.stats(f);
  }

  /**
   * What `cleanup(olderThanDays)` would delete now, deleting nothing: the first `limit` such
   * sessions, longest ended first, and whether there are more.
   */
  async cleanupPreview(olderThanDays: number, limit = CLEANUP_PREVIEW_LIMIT): Promise<{ sessions: Session[]; more: boolean }> {
    const before = this.cleanupCutoff(olderThanDays);
    await this.committer.flush();
    const ids = await this.store.listExpired(before, limit + 1);
    const sessions: Session[] = [];
    for (const id of ids.slice(0, limit)) {
      const hot = this.lookupHot(id);
      const session = hot === undefined ? await this.store.getSession(id) : hot;
      if (session) sessions.push(session);
    }
    return { sessions, more: ids.length > limit };
  }

  /**
   * Deletes sessions in a terminal status that ended more than `olderThanDays` ago.
   * @returns how many were deleted
   */
  async cleanup(olderThanDays: number): Promise<number> {
    const before = this.cleanupCutoff(olderThanDays);
    await this.committer.flush();
    let count = 0;
    for (;;) {
      const ids = await this.store.listExpired(before, SCAN_CHUNK);
      if (!ids.length) return count;
      // Read straight from the store: loading doomed sessions into the pool would evict live ones.
      const sessions = (await Promise.all(ids.map((id) => this.readForDeletion(id)))).filter((s): s is Session => !!s);
      await Promise.all(sessions.map((s) => this.committer.write(this.deletion(s))));
      count += sessions.length;
      // Those another node holds are its to delete (its own cleanup does): they stay listed, so stop.
      if (sessions.length < ids.length) return count;
    }
  }

  /** Synchronous cleanup (embedded SQLite store only). */
  cleanupSync(olderThanDays: number): number {
    const before = this.cleanupCutoff(olderThanDays);
    const sync = this.syncStore("cleanup");
    this.committer.flushSync();
    let count = 0;
    for (;;) {
      const ids = sync.listExpired(before, SCAN_CHUNK);
      if (!ids.length) return count;
      for (const id of ids) {
        const hot = this.lookupHot(id);
        const session = hot === undefined ? sync.getSession(id) : hot;
        if (session) this.committer.writeSync(this.deletion(session));
      }
      count += ids.length;
    }
  }

  // ---- webhooks (stored here; delivered by the events layer) ---------------------------------

  async putWebhook(webhook: WebhookRecord): Promise<void> {
    await this.store.putWebhook(webhook);
  }

  putWebhookSync(webhook: WebhookRecord): void {
    this.syncStore("configuring a webhook").putWebhook(webhook);
  }

  listWebhooks(): Promise<WebhookRecord[]> {
    return this.store.listWebhooks();
  }

  // ---- import (sessiond import) ----------------------------------------------------------------

  /**
   * Stores a session brought from elsewhere with its history as it was: id, timestamps, status,
   * events (original seqs and times) and checkpoints, in one atomic write. Idempotent by id: a
   * session whose id exists is left as it is (`imported: false`). Nothing is published on the
   * bus: old history is not news for webhooks or subscribers.
   * @throws validation naming the field; conflict when another session has its name (in its
   *   agent_id namespace)
   */
  async importSession(input: SessionImport): Promise<{ imported: boolean; session: Session }> {
    this.assertOpen();
    validate(ImportSessionSchema, input);
    const { session, events, checkpoints } = importedRecord(input, this.config);
    const existing = await this.find(session.id);
    if (existing) return { imported: false, session: existing };
    const namespace = nameNamespace(session.agent_id);
    if ((await this.nameTaken(session.name, namespace)) || this.hotHolder(session.name, namespace)) {
      throw errors.conflict(`${conflictWhere(session.name, namespace)} already exists (with another id); rename one of them`, "name");
    }
    await this.ownership?.acquire(session.id);
    const ops: WriteOp[] = [
      { op: "put_session", session, insert: true, scalarsOnly: false },
      ...events.map((event) => ({ op: "append_event" as const, session_id: session.id, event })),
      ...checkpoints.map((checkpoint) => ({ op: "put_checkpoint" as const, checkpoint })),
    ];
    await this.committer.write(this.withEpoch({ sessionId: session.id, session, ops, changes: [] }));
    return { imported: true, session };
  }

  // ---- durability and shutdown ---------------------------------------------------------------

  /** Resolves once every write made so far is committed. */
  flush(): Promise<void> {
    return this.committer.flush();
  }

  /** Flushes, then closes the store. Later calls fail with `closed`. */
  async close(): Promise<void> {
    if (this.closed) return;
    await this.committer.flush();
    await this.files.close();
    this.closed = true;
    await this.store.close();
  }

  /** Flushes and closes synchronously (embedded SQLite only): for process exit hooks. */
  closeSync(): void {
    if (this.closed) return;
    this.committer.flushSync();
    // Asked for before `closed` is set: syncStore refuses a closed manager.
    const store = this.syncStore("closing");
    this.closed = true;
    store.close();
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Whether several nodes share the store, each holding its own sessions (docs/scale-out.md). */
  get clustered(): boolean {
    return this.ownership !== undefined;
  }

  /**
   * Calls `listener` with each session another node took over from this one: memory dropped it,
   * and whatever this node ran for it must stop. Never called on a store with one node.
   * @returns unsubscribe
   */
  onSessionLost(listener: (sessionId: string) => void): () => void {
    return this.ownership?.onLost(listener) ?? (() => {});
  }

  /**
   * Calls `listener` each time this node takes a session over from a node whose lease ran out,
   * before the request that claimed it is served (so it may record what that node's death did).
   * Never called on a store with one node. @returns unsubscribe
   */
  onSessionTakenOver(listener: TakeoverListener): () => void {
    return this.ownership?.onTakeover(listener) ?? (() => {});
  }

  /**
   * Sessions of these kinds, active or paused, whose owner node's lease ran out (or that have no
   * owner): their processes died with that node. Undefined on a store with one node, where every
   * active session without a process here is an orphan (see markOrphansCrashed).
   */
  async orphaned(kinds: readonly string[], limit: number): Promise<OrphanedSession[] | undefined> {
    if (!this.ownership || !this.store.cluster) return undefined;
    return this.store.cluster.orphaned(kinds, limit);
  }

  /** Sessions held in memory now. */
  get hotCount(): number {
    return this.pool.size;
  }

  // ---- internals -----------------------------------------------------------------------------

  /**
   * Builds and applies a change on the newest state of a session. When the session is hot the
   * builder runs in the same turn, with no await before it, so concurrent callers are ordered
   * by call order and never see a stale state.
   */
  private async change(ref: string, options: WriteOptions, build: (change: Change) => void): Promise<Session> {
    this.assertOpen();
    let current = this.lookupHot(ref);
    while (current === undefined) {
      const found = await this.find(ref);
      if (!found) throw errors.sessionNotFound(ref);
      // Claimed first (owned_elsewhere when a live node holds it); then read again, current.
      if (await this.holdHere(found.id)) {
        ref = found.id;
        continue;
      }
      current = this.lookupHot(found.id);
    }
    if (current === null) throw errors.sessionNotFound(ref);
    this.assertVersion(current, options);
    const change = new Change(current, this.now());
    build(change);
    // Every way back from crashed (recover, resume, a status update) passes here.
    if (change.before.status === "crashed" && change.session.status === "active") assertRecoveryAllowed(this.config, change.session);
    return this.apply(change);
  }

  private transition(
    ref: string,
    to: SessionStatus,
    data: JsonObject,
    fields: Partial<Session>,
    options: WriteOptions = {},
  ): Promise<Session> {
    return this.change(ref, options, (c) => {
      c.transition(to, data, fields);
    });
  }

  /** Puts a finished change in memory and queues its write; resolves when it is durable. */
  private async apply(change: Change): Promise<Session> {
    const { session, request } = this.staged(change);
    if (request.ops.length) await this.committer.write(request);
    return session;
  }

  /** A finished change put in memory (when it writes anything), with the write to queue for it. */
  private staged(change: Change): { session: Session; request: WriteRequest } {
    const { session, request } = change.finish();
    if (!request.ops.length) return { session, request };
    this.pool.set(session);
    return { session, request: this.withEpoch(request) };
  }

  private deletion(session: Session): WriteRequest {
    this.pool.delete(session.id);
    return this.withEpoch({
      sessionId: session.id,
      session: null,
      ops: [{ op: "delete_session" as const, session_id: session.id }],
      changes: [{ type: "session.deleted" as const, session }],
    });
  }

  /**
   * True when several nodes share the store and this node does not hold `id` now (or no longer
   * trusts its lease): memory may not answer for it, and a change must claim it first.
   */
  private elsewhere(id: string): boolean {
    return this.ownership !== undefined && this.ownership.epochIfTrusted(id) === undefined;
  }

  /**
   * Claims `id` for this node when it does not hold it now.
   * @returns true when it claimed (memory must read the session again)
   * @throws owned_elsewhere while a live node holds it
   */
  private async holdHere(id: string): Promise<boolean> {
    if (!this.elsewhere(id)) return false;
    await this.ownership!.acquire(id);
    return true;
  }

  /** The write with the ownership epoch it is built under (several nodes), for the store's fence. */
  private withEpoch(request: WriteRequest): WriteRequest {
    const epoch = this.ownership?.epochOf(request.sessionId);
    return epoch === undefined ? request : { ...request, epoch };
  }

  /**
   * A session by id from memory: a Session, null when its delete is pending, undefined when
   * memory does not know it (look in the store).
   */
  private lookupHot(id: string): Session | null | undefined {
    // With several nodes, memory answers only for sessions this node holds now.
    if (this.elsewhere(id)) return undefined;
    return this.pool.get(id) ?? this.committer.unwritten(id);
  }

  /**
   * The store half of find: `ref` as an id (unless memory already answered for that id: `hot`),
   * then as a name. A session read from the store joins the pool.
   */
  private async resolve(ref: string, scope: LookupScope | undefined, hot: Session | null | undefined): Promise<Session | undefined> {
    const wanted = refParts(ref, scope);
    if (wanted.id !== undefined && hot === undefined) {
      const stored = this.fetch(await this.store.getSession(wanted.id));
      if (stored && inScope(stored, scope)) return stored;
    }
    if (wanted.name === undefined) return undefined;
    const held = this.hotNamed(wanted.name, wanted.namespace);
    // Memory holds every session whose state differs from its row, so a hot holder of the name
    // in a known namespace is the only one there.
    if (wanted.namespace !== undefined && held.length) return pickNamed(wanted.name, held, scope);
    const ids = await this.store.findSessionIds(nameQuery(wanted.name, wanted.namespace, scope));
    const stored: (Session | undefined)[] = [];
    for (const id of ids) {
      const known = this.lookupHot(id);
      stored.push(known === undefined ? this.fetch(await this.store.getSession(id)) : (known ?? undefined));
    }
    return pickNamed(wanted.name, [...held, ...stored], scope, wanted.namespace);
  }

  /** The sessions memory holds (hot or unwritten) that are named `name`, in one namespace if given. */
  private hotNamed(name: string, namespace?: string): Session[] {
    const found = new Map<string, Session>();
    for (const session of [...this.pool.named(name), ...this.committer.unwrittenNamed(name)]) {
      if (namespace !== undefined && nameNamespace(session.agent_id) !== namespace) continue;
      // The pool's copy of a session is its newest state; an unwritten one only stands in for an evicted copy.
      if (!found.has(session.id)) found.set(session.id, this.lookupHot(session.id) ?? session);
    }
    return [...found.values()].filter((s) => s.name === name);
  }

  /** A session other than `exceptId` holding `name` in `namespace`, as memory knows it. */
  private hotHolder(name: string, namespace: string, exceptId?: string): Session | undefined {
    return this.hotNamed(name, namespace).find((s) => s.id !== exceptId);
  }

  /** A session by id: memory's state when it has one, else the store's (which then joins the pool). */
  private memoryOr(id: string, read: () => Session | undefined): Session | undefined {
    const hot = this.lookupHot(id);
    return hot === undefined ? this.fetch(read()) : (hot ?? undefined);
  }

  /** Admits a session read from the store to the pool, unless memory knows better. */
  private fetch(stored: Session | undefined): Session | undefined {
    if (!stored) return undefined;
    // Another node's session is read, not kept: memory holds only what this node orders.
    if (this.elsewhere(stored.id)) return stored;
    const hot = this.pool.get(stored.id) ?? this.committer.unwritten(stored.id);
    if (hot === null) return undefined;
    if (hot) return hot;
    this.pool.set(stored);
    return stored;
  }

  /** A session to delete, as memory or the store holds it; undefined when gone, or held by another node. */
  private async readForDeletion(id: string): Promise<Session | undefined> {
    if (this.elsewhere(id)) {
      try {
        await this.holdHere(id);
      } catch (err) {
        if (ownerOfError(err)) return undefined;
        throw err;
      }
    }
    const hot = this.lookupHot(id);
    if (hot !== undefined) return hot ?? undefined;
    return this.store.getSession(id);
  }

  private async exists(id: string): Promise<boolean> {
    const hot = this.lookupHot(id);
    if (hot !== undefined) return hot !== null;
    return (await this.store.getSession(id)) !== undefined;
  }

  /** True when a session other than `exceptId` holds `name` in `namespace` (memory first, then the store). */
  private async nameTaken(name: string, namespace: string, exceptId?: string): Promise<boolean> {
    if (this.hotHolder(name, namespace, exceptId)) return true;
    const ids = await this.store.findSessionIds({ name, namespace, limit: 2 });
    return ids.some((id) => {
      if (id === exceptId) return false;
      // Memory may know better than the row: deleted, renamed or moved since.
      const hot = this.lookupHot(id);
      return hot === undefined || (hot !== null && hot.name === name && nameNamespace(hot.agent_id) === namespace);
    });
  }

  /** A listing takes hot sessions from the pool, as they are, without reading their rows. */
  private readonly held = (id: string): Session | undefined =>
    this.elsewhere(id) ? undefined : this.pool.get(id);

  private listArgs(filter: SessionFilter, page: SessionPageRequest) {
    const f = validate(SessionFilterSchema, filter ?? {}, "filter");
    const p = validate(SessionPageRequestSchema, page ?? {});
    return { f, p: { ...p, limit: p.limit ?? this.config.defaultPageSize } };
  }

  private eventData(data: unknown, field: string): JsonObject {
    if (data === undefined || data === null) return {};
    if (typeof data !== "object" || Array.isArray(data)) throw errors.validation(field, "expected a JSON object");
    return ownJson(data as JsonObject, field, this.config.maxEventBytes);
  }

  private assertVersion(session: Session, options: WriteOptions): void {
    const expected = options.expected_version;
    if (expected !== undefined && expected !== session.version) {
      throw errors.versionConflict(session.name, expected, session.version);
    }
  }

  private assertActive(session: Session, action: string): void {
    if (session.status !== "active") {
      throw new SessiondError("session_not_active", { action, ref: session.name, status: session.status, hint: notActiveHint(session.status) });
    }
  }

  private cleanupCutoff(olderThanDays: number): string {
    // The bound keeps the cutoff a date (about 2700 years back); a larger one would be no date at all.
    if (typeof olderThanDays !== "number" || !Number.isFinite(olderThanDays) || olderThanDays < 0 || olderThanDays > MAX_CLEANUP_DAYS) {
      throw errors.validation("older_than_days", `expected a number of days from 0 to ${MAX_CLEANUP_DAYS}`);
    }
    return new Date(this.clock().getTime() - olderThanDays * DAY_MS).toISOString();
  }

  private syncStore(operation: string): SyncStore {
    this.assertOpen();
    if (!this.store.sync) throw new SessiondError("sync_unavailable", { operation });
    return this.store.sync;
  }

  private assertOpen(): void {
    if (this.closed) throw new SessiondError("closed");
  }

  private now(): string {
    return this.clock().toISOString();
  }
}

/** What the `start` event records: enough to rebuild the state at seq 1. */
function startEventData(s: Session): JsonObject {
  return { kind: s.kind, type: s.type, mode: s.mode, task: s.task, context: s.context };
}

/** True when the scope may see the session (no scope sees every session). */
export function inScope(session: Session, scope: LookupScope | undefined): boolean {
  if (!scope) return true;
  if (scope.agent_id !== undefined && session.agent_id !== scope.agent_id) return false;
  if (scope.user_id !== undefined && session.user_id !== scope.user_id) return false;
  return true;
}

/**
 * What a reference may name: an id (any ref without a '/'), a name (a ref shaped like one, or
 * the part after the '/'), and the namespace that name must be in — the qualified ref's, else a
 * scope's own agent_id, else any.
 */
export function refParts(ref: string, scope: LookupScope | undefined): { id?: string; name?: string; namespace?: string } {
  if (isQualifiedRef(ref)) return parseQualifiedName(ref) ?? {};
  if (!isValidName(ref)) return { id: ref };
  return { id: ref, name: ref, ...(scope?.agent_id !== undefined ? { namespace: nameNamespace(scope.agent_id) } : {}) };
}

export function nameQuery(name: string, namespace: string | undefined, scope: LookupScope | undefined): NameQuery {
  return {
    name,
    ...(namespace !== undefined ? { namespace } : {}),
    ...(scope?.user_id !== undefined ? { user_id: scope.user_id } : {}),
    limit: NAME_CANDIDATES,
  };
}

/**
 * The one session among `candidates` (memory's and the store's, possibly repeated or stale) that
 * holds `name` — in `namespace` when given — and that the scope may see.
 * @throws ambiguous_name when several do
 */
export function pickNamed(name: string, candidates: readonly (Session | undefined)[], scope: LookupScope | undefined, namespace?: string): Session | undefined {
  const holders = new Map<string, Session>();
  for (const s of candidates) {
    if (!s || s.name !== name || !inScope(s, scope)) continue;
    if (namespace !== undefined && nameNamespace(s.agent_id) !== namespace) continue;
    holders.set(s.id, s);
  }
  if (holders.size <= 1) return holders.values().next().value;
  const refs = [...holders.values()].map(qualifiedName).sort();
  const listed = holders.size < NAME_CANDIDATES ? refs.join(", ") : `${refs.join(", ")}, …`;
  throw new SessiondError("ambiguous_name", { count: holders.size < NAME_CANDIDATES ? holders.size : `${NAME_CANDIDATES} or more`, name, candidates: listed });
}

/** The name and namespace an update leaves the session in, when either changes; undefined when neither does. */
function nameAfter(current: Session, update: { name?: string; agent_id?: string | null }): { name: string; namespace: string } | undefined {
  const name = update.name ?? current.name;
  const namespace = nameNamespace(update.agent_id !== undefined ? update.agent_id : current.agent_id);
  return name === current.name && namespace === nameNamespace(current.agent_id) ? undefined : { name, namespace };
}

function conflictWhere(name: string, namespace: string): string {
  return namespace === "" ? `a session named ${name} without an agent_id` : `a session named ${name} of agent_id ${namespace}`;
}

function nameConflict(name: string, namespace: string): SessiondError {
  return errors.conflict(`${conflictWhere(name, namespace)} already exists`, "name");
}

/**
 * What a restore (or a fork's first restore) records beyond the engine's own state: the
 * interpreter a live python or typescript session is rebuilt with (drivers/environment), in the
 * `restore` event's `interpreter`.
 */
export interface RestoreNote {
  readonly interpreter?: JsonObject;
}

/** What a restore puts back, as its event lists it. */
function restoredParts(workspace: boolean, note: RestoreNote): string[] {
  return ["context", "iterations", ...(workspace ? ["workspace"] : []), ...(note.interpreter ? ["interpreter"] : [])];
}
