import { isDeepStrictEqual } from "node:util";
import type { RunnableConfig } from "@langchain/core/runnables";
import {
  BaseCheckpointSaver,
  type ChannelVersions,
  type Checkpoint,
  type CheckpointListOptions,
  type CheckpointMetadata,
  type CheckpointPendingWrite,
  type CheckpointTuple,
  type PendingWrite,
  type SerializerProtocol,
  TASKS,
  WRITES_IDX_MAP,
  JsonPlusSerializer,
  copyCheckpoint,
  getCheckpointId,
  maxChannelVersion,
} from "@langchain/langgraph-checkpoint";
import { LRUCache } from "lru-cache";
import { type JsonObject, type Session, type SessionEvent, isSessiondError } from "../../core/index.js";
import type { SessionManager } from "../../engine/index.js";
import type { SessiondClient } from "../../sdk/client/index.js";
import { type CheckpointRecord, CHECKPOINT_EVENT, type HeldValue, THREAD_EVENT_TYPES, WRITES_EVENT, type WritesRecord, eventText, heldEvent, holdJsonText, holdValue, isHeld, isObject, loadable, recordSize } from "./records.js";
import { parsesPlain, plainJsonText } from "./plain-json.js";
import { type CheckpointEntry, ThreadIndex, type WriteEntry } from "./thread-index.js";
import { type Timeline, clientTimeline, embeddedTimeline, engineTimeline } from "./timeline.js";
import { threadSessionName } from "./thread-names.js";

/** Where the saver keeps threads, and how much it remembers of them. */
export interface SessiondSaverOptions {
  /**
   * A sessiond server, through `sessiond/client` (its Unix socket, or a URL and token). Without
   * it (and without `manager`), the embedded sessiond of `import … from "sessiond"`: SESSIOND_HOME,
   * or the owner of that data dir when another process holds it.
   */
  client?: Pick<SessiondClient, "sessions">;
  /** An engine you built (on SQLite or PostgreSQL), used in this process. */
  manager?: SessionManager;
  /**
   * The agent_id the threads' sessions are created under: a thread is the session
   * `<agentId>/<thread name>`, and `list()` without a thread_id lists this agent's threads. With
   * an agent token, use the token's agent_id.
   * @default "langgraph"
   */
  agentId?: string;
  /** The serializer of checkpoints and writes. @default LangGraph's JsonPlusSerializer */
  serde?: SerializerProtocol;
  /** The most event payload the saver keeps in memory to answer reads without the store. @default 33554432 (32 MiB) */
  cacheBytes?: number;
  /** How many threads' indexes (which event holds which checkpoint) are kept in memory. @default 1000 */
  cachedThreads?: number;
}

const DEFAULT_AGENT_ID = "langgraph";
const DEFAULT_CACHE_BYTES = 32 * 1024 * 1024;
const DEFAULT_CACHED_THREADS = 1000;
/** Up to this many events a read lacks are fetched each on its own (in parallel); more, as a range. */
const FETCHED_ONE_BY_ONE = 8;
/** Events read per request while catching up with a thread (the events route's page bound is higher). */
const CATCH_UP_PAGE = 1000;
/** The sessions' type, so that `sessiond list --type langgraph` finds the threads. */
export const THREAD_SESSION_TYPE = "langgraph";

/**
 * A LangGraph.js checkpoint saver on sessiond. Each thread is a session
 * (`<agentId>/<thread name>`, type `langgraph`); each `put` appends one `langgraph.checkpoint`
 * event (the checkpoint, its metadata and the channel values it changed) and each `putWrites` one
 * `langgraph.writes` event, so the run is on the session's timeline (`sessiond trace`), durable
 * when the call returns, and can be read, checkpointed and forked like any session.
 *
 * @example
 * import { SessiondSaver } from "sessiond/langgraph";
 * const graph = workflow.compile({ checkpointer: new SessiondSaver() });          // embedded
 * const remote = new SessiondSaver({ client: createClient({ baseUrl, token }) });  // a server
 */
export class SessiondSaver extends BaseCheckpointSaver {
  /** The agent_id of the threads' sessions. */
  readonly agentId: string;
  private readonly timeline: Timeline;
  private readonly threads: LRUCache<string, ThreadIndex>;
  private readonly events: LRUCache<string, SessionEvent>;
  /** puts and putWrites under way (from their start to their event's commit): see Timeline.append's `alone`. */
  private writing = 0;
  /** The serde is LangGraph's own JsonPlusSerializer, whose `json` output is JSON.stringify's (see holdValue). */
  private readonly serdeMakesJson: boolean;

  constructor(options: SessiondSaverOptions = {}) {
    super(options.serde);
    this.serdeMakesJson = Object.getPrototypeOf(this.serde) === JsonPlusSerializer.prototype;
    this.agentId = options.agentId ?? DEFAULT_AGENT_ID;
    const manager = options.manager;
    this.timeline = options.client ? clientTimeline(options.client) : manager ? engineTimeline(() => manager) : embeddedTimeline();
    this.threads = new LRUCache({ max: options.cachedThreads ?? DEFAULT_CACHED_THREADS });
    this.events = new LRUCache({ maxSize: options.cacheBytes ?? DEFAULT_CACHE_BYTES, sizeCalculation: (event) => Math.max(1, recordSize(event)) });
  }

  /** The session a thread is kept in, as `agent_id/name`. */
  threadRef(threadId: string): string {
    return `${this.agentId}/${threadSessionName(threadId)}`;
  }

  override async getTuple(config: RunnableConfig): Promise<CheckpointTuple | undefined> {
    const threadId = optionalThreadId(config);
    if (threadId === undefined) return undefined;
    const ns = namespaceOf(config) ?? "";
    const checkpointId = getCheckpointId(config);
    const index = await this.synced(threadId);
    if (!index) return undefined;
    const entry = checkpointId ? index.checkpoint(ns, checkpointId) : index.latest(ns);
    if (!entry) return undefined;
    return this.tuple(threadId, index, entry, checkpointId ? config : undefined);
  }

  override async *list(config: RunnableConfig, options: CheckpointListOptions = {}): AsyncGenerator<CheckpointTuple> {
    const { before, filter } = options;
    let remaining = options.limit;
    if (remaining !== undefined && remaining <= 0) return;
    const threadId = optionalThreadId(config);
    const ns = namespaceOf(config);
    const onlyId = config.configurable?.checkpoint_id as string | undefined;
    const beforeId = before?.configurable?.checkpoint_id as string | undefined;
    for await (const thread of threadId !== undefined ? [threadId] : this.allThreads()) {
      const index = await this.synced(thread);
      if (!index) continue;
      for (const entry of index.newestFirst(ns)) {
        if (onlyId && entry.id !== onlyId) continue;
        if (beforeId !== undefined && entry.id >= beforeId) continue;
        const tuple = await this.tuple(thread, index, entry).catch((err: unknown) => {
          if (threadId === undefined && err instanceof MalformedCheckpoint) return undefined;
          throw err;
        });
        if (!tuple) continue;
        if (filter && !Object.entries(filter).every(([key, value]) => value === undefined || isDeepStrictEqual((tuple.metadata as Record<string, unknown> | undefined)?.[key], value))) continue;
        yield tuple;
        if (remaining !== undefined && --remaining <= 0) return;
      }
    }
  }

  override put(config: RunnableConfig, checkpoint: Checkpoint, metadata: CheckpointMetadata, newVersions: ChannelVersions): Promise<RunnableConfig> {
    return this.counted(() => this.putCheckpoint(config, checkpoint, metadata, newVersions));
  }

  override putWrites(config: RunnableConfig, writes: PendingWrite[], taskId: string, taskPath?: string): Promise<void> {
    return this.counted(() => this.putPendingWrites(config, writes, taskId, taskPath));
  }

  /** Runs one of the saver's writes, counted in `writing` from its start to its end. */
  private async counted<T>(write: () => Promise<T>): Promise<T> {
    this.writing++;
    try {
      return await write();
    } finally {
      this.writing--;
    }
  }

  private async putCheckpoint(config: RunnableConfig, checkpoint: Checkpoint, metadata: CheckpointMetadata, newVersions: ChannelVersions): Promise<RunnableConfig> {
    if (!config.configurable) throw new Error('Failed to put checkpoint: the config has no "configurable" (it needs at least a thread_id).');
    const threadId = requiredThreadId(config, "put checkpoint");
    const ns = namespaceOf(config) ?? "";
    const parentId = parentIdOf(config);
    if (typeof checkpoint?.id !== "string" || checkpoint.id === "") throw new Error("Failed to put checkpoint: the checkpoint has no id.");
    const prepared = copyCheckpoint(checkpoint);
    const channelValues = prepared.channel_values ?? {};
    prepared.channel_values = {};
    const changed = Object.keys(newVersions ?? {}).filter((channel) => Object.hasOwn(channelValues, channel));
    const [heldCheckpoint, heldMetadata, ...heldValues] = await Promise.all([this.dump(prepared), this.dump(metadata), ...changed.map((channel) => this.dump(channelValues[channel]))]);
    const values: Record<string, HeldValue> = {};
    changed.forEach((channel, i) => (values[channel] = heldValues[i]!));
    const carried = Object.keys(channelValues).filter((channel) => !Object.hasOwn(values, channel));
    const step = metadata?.step;
    const record = (refs: Record<string, number>): CheckpointRecord => ({
      // Finite only: the event data is handed over as built (Timeline.append), and JSON has no NaN.
      step: typeof step === "number" && Number.isFinite(step) ? step : null,
      source: typeof metadata?.source === "string" ? metadata.source : null,
      checkpoint_ns: ns,
      checkpoint_id: checkpoint.id,
      parent_checkpoint_id: parentId,
      checkpoint: heldCheckpoint!,
      metadata: heldMetadata!,
      values,
      refs,
    });
    await this.appendToThread(threadId, CHECKPOINT_EVENT, async (index) => record(await this.carriedRefs(index, ns, parentId, carried)), {
      // The refs point into the parent's session: known only once the parent is.
      needs: parentId ? (index) => index.checkpoint(ns, parentId) !== undefined : undefined,
    });
    return { configurable: { thread_id: threadId, checkpoint_ns: ns, checkpoint_id: checkpoint.id } };
  }

  private async putPendingWrites(config: RunnableConfig, writes: PendingWrite[], taskId: string, taskPath?: string): Promise<void> {
    if (!config.configurable) throw new Error('Failed to put writes: the config has no "configurable" (it needs a thread_id and a checkpoint_id).');
    const threadId = requiredThreadId(config, "put writes");
    const checkpointId = config.configurable.checkpoint_id as unknown;
    if (typeof checkpointId !== "string" || checkpointId === "") throw new Error('Failed to put writes: the config has no "checkpoint_id" in its "configurable".');
    if (typeof taskId !== "string" || taskId === "") throw new Error("Failed to put writes: the task id must be a non-empty string.");
    if (!Array.isArray(writes)) throw new Error("Failed to put writes: expected an array of [channel, value] writes.");
    if (!writes.length) return;
    const held = await Promise.all(writes.map(([, value]) => this.dump(value)));
    const record: WritesRecord = {
      task_path: typeof taskPath === "string" ? taskPath : "",
      checkpoint_ns: namespaceOf(config) ?? "",
      checkpoint_id: checkpointId,
      task_id: taskId,
      writes: writes.map(([channel], i) => {
        if (typeof channel !== "string") throw new Error(`Failed to put writes: write ${i} has no channel name.`);
        return { channel, idx: WRITES_IDX_MAP[channel] ?? i, value: held[i]! };
      }),
    };
    await this.appendToThread(threadId, WRITES_EVENT, async () => record);
  }

  /** A value as the serde writes it, held (see plain-json.ts for the shortcut). */
  private dump(value: unknown): HeldValue | Promise<HeldValue> {
    const text = this.serdeMakesJson ? plainJsonText(value) : undefined;
    if (text !== undefined) return holdJsonText(text);
    return this.serde.dumpsTyped(value).then((output) => holdValue(output, this.serdeMakesJson));
  }

  /** A held value as the serde reads it back (see plain-json.ts for the shortcut). */
  private load(value: HeldValue): unknown {
    try {
      if (this.serdeMakesJson && value.type === "json" && "text" in value && parsesPlain(value.text)) return JSON.parse(value.text) as unknown;
      return this.serde.loadsTyped(...loadable(value));
    } catch (err) {
      // As the serde's own failures come: rejected, for the caller's one wait on every value.
      return Promise.reject(err);
    }
  }

  /** Deletes the thread's session; a session of that name that is no thread of this saver's is left alone. */
  override async deleteThread(threadId: string): Promise<void> {
    const id = requiredThreadIdValue(threadId, "delete thread");
    this.threads.delete(id);
    const session = await this.timeline.find(this.threadRef(id));
    if (!session || session.type !== THREAD_SESSION_TYPE || threadIdOf(session) !== id || session.agent_id !== this.agentId) return;
    await this.timeline.remove(session.id);
  }

  // ---- reads ---------------------------------------------------------------------------------

  /**
   * The thread's index, brought up to date: the session is read (from memory, embedded) and only
   * the thread events after what is known are fetched. Undefined when the thread has no session.
   */
  private async synced(threadId: string): Promise<ThreadIndex | undefined> {
    // By the id the thread was last seen under first: the engine answers an id from memory, where
    // a name costs a lookup in every namespace. Deleted, or no longer the thread's (renamed): by name.
    const known = this.threads.get(threadId);
    let session = known ? await this.timeline.find(known.sessionId) : undefined;
    if (!session || !this.holdsThread(session, threadId)) session = await this.timeline.find(this.threadRef(threadId));
    if (!session || !this.isThread(session, threadId)) {
      this.threads.delete(threadId);
      return undefined;
    }
    return this.upTo(threadId, session);
  }

  /** The thread's index, with every event of the session up to `session.last_seq` in it. */
  private upTo(threadId: string, session: Session): ThreadIndex | Promise<ThreadIndex> {
    let index = this.threads.get(threadId);
    if (!index || index.sessionId !== session.id) {
      index = new ThreadIndex(session.id, 0);
      this.threads.set(threadId, index);
    }
    // Most reads follow this saver's own writes, which the index holds already: no await then.
    return session.last_seq > index.scannedTo ? this.catchUpTo(index, session.last_seq) : index;
  }

  private async catchUpTo(index: ThreadIndex, lastSeq: number): Promise<ThreadIndex> {
    while (lastSeq > index.scannedTo) {
      if (!index.catchingUp) {
        const running = this.catchUp(index, lastSeq).finally(() => {
          if (index.catchingUp === running) index.catchingUp = undefined;
        });
        index.catchingUp = running;
      }
      await index.catchingUp;
    }
    return index;
  }

  private async catchUp(index: ThreadIndex, lastSeq: number): Promise<void> {
    let after = index.scannedTo;
    for (;;) {
      const page = await this.timeline.events(index.sessionId, { after_seq: after, types: THREAD_EVENT_TYPES, limit: CATCH_UP_PAGE });
      for (const stored of page) {
        const event = heldEvent(stored);
        index.add(event);
        this.events.set(eventKey(index.sessionId, event.seq), event);
      }
      if (page.length < CATCH_UP_PAGE) break;
      after = page.at(-1)!.seq;
    }
    // The read began after the session showed lastSeq: every event up to it was in the answer.
    index.caughtUp(lastSeq);
  }

  /** Events by seq, from the cache, and those it lacks from the store (in parallel). */
  private async eventsAt(index: ThreadIndex, seqs: readonly number[]): Promise<Map<number, SessionEvent>> {
    const found = new Map<number, SessionEvent>();
    const missing = new Set<number>();
    for (const seq of seqs) {
      const event = this.events.get(eventKey(index.sessionId, seq));
      if (event) found.set(seq, event);
      else missing.add(seq);
    }
    if (!missing.size) return found;
    const keep = (stored: SessionEvent) => {
      const event = heldEvent(stored);
      this.events.set(eventKey(index.sessionId, event.seq), event);
      found.set(event.seq, event);
    };
    if (missing.size <= FETCHED_ONE_BY_ONE) {
      await Promise.all(
        [...missing].map(async (seq) => {
          const [stored] = await this.timeline.events(index.sessionId, { after_seq: seq - 1, to_seq: seq, limit: 1 });
          if (stored) keep(stored);
        }),
      );
      return found;
    }
    // Many (a checkpoint whose channels were each last written long ago, once the cache let them
    // go): the thread's events from the first to the last, a page at a time, not a request each.
    const sorted = [...missing].sort((a, b) => a - b);
    const last = sorted.at(-1)!;
    for (let after = sorted[0]! - 1; ; ) {
      const page = await this.timeline.events(index.sessionId, { after_seq: after, to_seq: last, types: THREAD_EVENT_TYPES, limit: CATCH_UP_PAGE });
      for (const stored of page) if (missing.has(stored.seq)) keep(stored);
      if (page.length < CATCH_UP_PAGE) break;
      after = page.at(-1)!.seq;
    }
    return found;
  }

  private async tuple(threadId: string, index: ThreadIndex, entry: CheckpointEntry, asked?: RunnableConfig): Promise<CheckpointTuple | undefined> {
    const record = (await this.eventsAt(index, [entry.seq])).get(entry.seq)?.data as unknown as CheckpointRecord | undefined;
    // Deleted under us (the thread was deleted while this read ran): as if it were not there.
    if (!record) return undefined;
    if (!isHeld(record.checkpoint) || !isHeld(record.metadata)) throw new MalformedCheckpoint(threadId, index, entry, "no checkpoint or metadata the serde wrote");
    const writes = index.writes(entry.ns, entry.id);
    // Only refs to the thread's own checkpoint events: anything else (another session's seq, one
    // that does not exist, no number at all) holds no value, and is not fetched.
    const refs = Object.entries(isObject(record.refs) ? record.refs : {}).filter((ref): ref is [string, number] => index.holdsCheckpointAt(ref[1]));
    const held = await this.eventsAt(index, [...new Set(refs.map(([, seq]) => seq)), ...writes.map((w) => w.seq)]);

    // Every value is loaded at once: one wait for them all, not one per value.
    const channels: string[] = [];
    const loading: unknown[] = [this.load(record.checkpoint), this.load(record.metadata)];
    for (const [channel, value] of Object.entries(isObject(record.values) ? record.values : {})) {
      if (!isHeld(value)) continue;
      channels.push(channel);
      loading.push(this.load(value));
    }
    for (const [channel, seq] of refs) {
      const values = (held.get(seq)?.data as unknown as CheckpointRecord | undefined)?.values;
      const value = isObject(values) && Object.hasOwn(values, channel) ? values[channel] : undefined;
      if (!isHeld(value)) continue;
      channels.push(channel);
      loading.push(this.load(value));
    }
    const writesHeld: WriteEntry[] = [];
    for (const write of writes) {
      const value = (held.get(write.seq)?.data as unknown as WritesRecord | undefined)?.writes[write.pos]?.value;
      if (!isHeld(value)) continue;
      writesHeld.push(write);
      loading.push(this.load(value));
    }
    const [checkpoint, metadata, ...loaded] = (await Promise.all(loading).catch((err: unknown) => {
      throw new MalformedCheckpoint(threadId, index, entry, `the serde could not read it back (${err instanceof Error ? err.message : String(err)})`, err);
    })) as [Checkpoint, CheckpointMetadata, ...unknown[]];
    if (!isObject(checkpoint)) throw new MalformedCheckpoint(threadId, index, entry, "its checkpoint is no object");
    const channelValues: Record<string, unknown> = {};
    channels.forEach((channel, i) => (channelValues[channel] = loaded[i]));
    checkpoint.channel_values = channelValues;
    const pendingWrites: CheckpointPendingWrite[] = writesHeld.map((write, i) => [write.taskId, write.channel, loaded[channels.length + i]]);
    if (checkpoint.v < 4 && entry.parentId !== null) await this.migratePendingSends(index, entry, checkpoint);

    const tuple: CheckpointTuple = {
      config: asked ?? { configurable: { thread_id: threadId, checkpoint_ns: entry.ns, checkpoint_id: entry.id } },
      checkpoint,
      metadata,
      pendingWrites,
    };
    if (entry.parentId !== null) tuple.parentConfig = { configurable: { thread_id: threadId, checkpoint_ns: entry.ns, checkpoint_id: entry.parentId } };
    return tuple;
  }

  /** Checkpoints before format 4 kept pending sends as the parent's TASKS writes; LangGraph reads them as a channel now. */
  private async migratePendingSends(index: ThreadIndex, entry: CheckpointEntry, checkpoint: Checkpoint): Promise<void> {
    const sends = index.writes(entry.ns, entry.parentId!).filter((write) => write.channel === TASKS);
    const held = await this.eventsAt(
      index,
      sends.map((write) => write.seq),
    );
    const values: unknown[] = [];
    for (const write of sends) {
      const value = (held.get(write.seq)?.data as unknown as WritesRecord | undefined)?.writes[write.pos]?.value;
      if (value) values.push(await this.load(value));
    }
    checkpoint.channel_values[TASKS] = values;
    const versions = Object.values(checkpoint.channel_versions);
    checkpoint.channel_versions[TASKS] = versions.length ? maxChannelVersion(...versions) : this.getNextVersion(undefined);
  }

  /**
   * Every thread of this saver's agent_id, newest first. Only sessions named after their thread:
   * a copy made by sessiond's own fork keeps the thread id in its metadata, not the thread.
   */
  private async *allThreads(): AsyncGenerator<string> {
    let cursor: string | undefined;
    do {
      const page = await this.timeline.sessions({ agent_id: this.agentId, type: THREAD_SESSION_TYPE }, { limit: CATCH_UP_PAGE, ...(cursor ? { cursor } : {}) });
      for (const session of page.items) {
        const threadId = threadIdOf(session);
        if (threadId !== undefined && session.name === threadSessionName(threadId)) yield threadId;
      }
      cursor = page.next_cursor ?? undefined;
    } while (cursor);
  }

  // ---- writes --------------------------------------------------------------------------------

  /**
   * Appends one event to the thread's session, creating the session on the thread's first write.
   * `build` makes the data from the thread's index (read again when `needs` says it lacks
   * something); a session deleted meanwhile (deleteThread elsewhere) is created anew, once.
   */
  private async appendToThread(
    threadId: string,
    type: string,
    build: (index: ThreadIndex) => Promise<CheckpointRecord | WritesRecord>,
    options: { needs?: ((index: ThreadIndex) => boolean) | undefined } = {},
  ): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      let index = this.threads.get(threadId);
      if (!index || (options.needs && !options.needs(index))) index = (await this.synced(threadId)) ?? (await this.createThread(threadId));
      const record = await build(index);
      try {
        const { seq, ts } = await this.timeline.append(index.sessionId, type, eventText(type, record), { alone: this.writing === 1 });
        // Held as built (its values as text): the event's own data is parsed only if read.
        const held = { seq, ts, type, data: record as unknown as JsonObject };
        this.events.set(eventKey(index.sessionId, seq), held);
        index.addOwn(held);
        return;
      } catch (err) {
        if (!isSessiondError(err, "not_found") || attempt > 1) throw err;
        this.threads.delete(threadId);
      }
    }
  }

  /** Where the channels this put did not change are held: wherever the parent's were. */
  private async carriedRefs(index: ThreadIndex, ns: string, parentId: string | null, channels: string[]): Promise<Record<string, number>> {
    const refs: Record<string, number> = {};
    const parent = parentId === null ? undefined : index.checkpoint(ns, parentId);
    if (!parent || !channels.length) return refs;
    const record = (await this.eventsAt(index, [parent.seq])).get(parent.seq)?.data as unknown as CheckpointRecord | undefined;
    if (!record) return refs;
    for (const channel of channels) {
      if (isObject(record.values) && Object.hasOwn(record.values, channel)) refs[channel] = parent.seq;
      else if (isObject(record.refs) && Object.hasOwn(record.refs, channel) && index.holdsCheckpointAt(record.refs[channel])) refs[channel] = record.refs[channel];
    }
    return refs;
  }

  private async createThread(threadId: string): Promise<ThreadIndex> {
    let session: Session | undefined;
    try {
      session = await this.timeline.create({
        agent_id: this.agentId,
        name: threadSessionName(threadId),
        kind: "agent",
        type: THREAD_SESSION_TYPE,
        task: `LangGraph thread ${threadId}`.slice(0, 1000),
        metadata: { langgraph: { thread_id: threadId } },
      });
    } catch (err) {
      // Another saver created it first: use that one.
      if (!isSessiondError(err, "conflict")) throw err;
      session = await this.timeline.find(this.threadRef(threadId));
      if (!session) throw err;
    }
    return this.upTo(threadId, session);
  }

  /** The session is the one `threadRef(threadId)` names now. */
  private holdsThread(session: Session, threadId: string): boolean {
    return session.agent_id === this.agentId && session.name === threadSessionName(threadId) && this.isThread(session, threadId);
  }

  private isThread(session: Session, threadId: string): boolean {
    const recorded = threadIdOf(session);
    return recorded === undefined || recorded === threadId;
  }
}

/**
 * A checkpoint event the saver cannot read (the timeline is open to any writer with access to the
 * session: one appended by hand, say). getTuple and a thread's list() say so; a list() of all
 * threads leaves that checkpoint out, so that one thread does not hide the others.
 */
export class MalformedCheckpoint extends Error {
  override name = "MalformedCheckpoint";
  constructor(threadId: string, index: ThreadIndex, entry: CheckpointEntry, why: string, cause?: unknown) {
    super(`thread ${threadId}: the langgraph.checkpoint event at seq ${entry.seq} of session ${index.sessionId} (checkpoint ${entry.id}) cannot be read: ${why}`, cause === undefined ? undefined : { cause });
  }
}

function eventKey(sessionId: string, seq: number): string {
  return `${sessionId}:${seq}`;
}

/** The thread id a thread's session was created for. */
function threadIdOf(session: Session): string | undefined {
  const langgraph = (session.metadata as Record<string, unknown> | null)?.langgraph as Record<string, unknown> | undefined;
  return typeof langgraph?.thread_id === "string" ? langgraph.thread_id : undefined;
}

/** The checkpoint a put follows: the config's checkpoint_id, when it names one. */
function parentIdOf(config: RunnableConfig): string | null {
  const id = config.configurable?.checkpoint_id as unknown;
  return typeof id === "string" && id !== "" ? id : null;
}

function namespaceOf(config: RunnableConfig): string | undefined {
  const ns = config.configurable?.checkpoint_ns as unknown;
  if (ns === undefined || ns === null) return undefined;
  if (typeof ns !== "string") throw new Error(`Invalid checkpoint_ns: expected a string, got ${typeof ns}.`);
  return ns;
}

function optionalThreadId(config: RunnableConfig): string | undefined {
  const id = config.configurable?.thread_id as unknown;
  if (id === undefined || id === null || id === "") return undefined;
  return requiredThreadIdValue(id, "read checkpoints");
}

function requiredThreadId(config: RunnableConfig, operation: string): string {
  const id = config.configurable?.thread_id as unknown;
  if (id === undefined || id === null || id === "") {
    throw new Error(`Failed to ${operation}: the config has no "thread_id" in its "configurable". Pass one, e.g. graph.invoke(input, { configurable: { thread_id: "my-thread" } }).`);
  }
  return requiredThreadIdValue(id, operation);
}

function requiredThreadIdValue(id: unknown, operation: string): string {
  if (typeof id === "number" && Number.isFinite(id)) return String(id);
  if (typeof id !== "string" || id === "") throw new Error(`Failed to ${operation}: thread_id must be a non-empty string (got ${id === null ? "null" : typeof id}).`);
  return id;
}
