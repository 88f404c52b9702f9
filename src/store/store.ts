import type {
  Checkpoint,
  EventQuery,
  Page,
  PageRequest,
  Session,
  SessionEvent,
  SessionFilter,
  SessionPageRequest,
  SessionStats,
  SessionStatus,
} from "../core/index.js";
import type { ListPosition } from "./list-order.js";

/**
 * One write in a group commit. A batch is applied in order, in one transaction: all of it or
 * none of it. The engine never sees a connection or a transaction; it hands the store batches.
 */
export type WriteOp =
  | {
      readonly op: "put_session";
      readonly session: Session;
      /** A new session: insert, and refuse if its id or name is taken. */
      readonly insert: boolean;
      /**
       * Only the small scalar columns changed (status, counters, timestamps, version), so the
       * store may skip rewriting the JSON columns and labels.
       */
      readonly scalarsOnly: boolean;
    }
  | {
      readonly op: "append_event";
      readonly session_id: string;
      readonly event: SessionEvent;
      /** The JSON text of the event's data, when its writer built it as text: written as it is, and the data is parsed only if read. */
      readonly text?: string;
    }
  | { readonly op: "put_checkpoint"; readonly checkpoint: Checkpoint }
  | { readonly op: "delete_session"; readonly session_id: string };

/** What a commit did not apply although the rest of the batch was committed. */
export interface CommitResult {
  /**
   * Sessions whose insert was refused because their id or name already exists in the store
   * (another node won the race); every other op of those sessions in the batch was skipped.
   */
  readonly rejected: readonly string[];
  /**
   * Sessions whose writes were refused because the epoch they were built under is no longer the
   * one this node holds (see CommitFence): another node took them over. Every op of those sessions
   * in the batch was skipped.
   */
  readonly fenced?: readonly string[];
}

/**
 * Who commits, and under which ownership epoch each session's writes were built (stores with
 * `cluster` only). The store refuses, in the commit's own transaction, the writes of a session
 * whose owner row no longer names this node at this epoch.
 */
export interface CommitFence {
  readonly nodeId: string;
  readonly epochs: ReadonlyMap<string, number>;
}

/** A node serving a schema shared by several nodes, as the store records it. */
export interface ClusterNodeRecord {
  /** New for every process start. */
  readonly id: string;
  readonly name: string;
  /** Where other nodes forward requests for its sessions; null when it takes none. */
  readonly url: string | null;
  /** A digest of the tokens it accepts; live nodes must agree. */
  readonly auth_fingerprint: string;
}

/** A session's owner as the store records it. */
export interface SessionOwnerRecord {
  readonly node: ClusterNodeRecord;
  readonly epoch: number;
  /** How long its lease still runs, by the database's clock; 0 or less: it ran out. */
  readonly lease_ms_left: number;
}

/** The outcome of claiming a session: held by the claimer (at `epoch`), or by a live other node. */
export type ClaimResult =
  | {
      readonly held: true;
      readonly epoch: number;
      /** The node the claim took the session from (its lease had run out); absent when it had no owner or was the claimer's. */
      readonly from?: { readonly id: string; readonly name: string };
    }
  | { readonly held: false; readonly owner: SessionOwnerRecord };

/** A live session whose owner's lease ran out (or that has no owner): to be marked crashed. */
export interface OrphanedSession {
  readonly session_id: string;
  /** The owner whose lease ran out; null when it never had one. */
  readonly node_name: string | null;
}

/**
 * Ownership of sessions among the nodes sharing one schema (PostgreSQL only; docs/scale-out.md).
 * Every lease is measured with the database's clock, so nodes' clocks need not agree.
 */
export interface ClusterStore {
  /**
   * Records this node with a lease of `ttlMs`.
   * @throws when a live node accepts another token set (naming it), or the node's id is taken
   */
  join(node: ClusterNodeRecord, ttlMs: number): Promise<void>;
  /**
   * Renews the node's lease to `ttlMs` from now (re-joining when its row is gone).
   * @returns lapsed: whether its lease had run out before this renewal (other nodes may have
   *   taken some of its sessions over)
   */
  renew(node: ClusterNodeRecord, ttlMs: number): Promise<{ readonly lapsed: boolean }>;
  /** Ends the node's lease now: other nodes may take its sessions over at once. */
  leave(nodeId: string): Promise<void>;
  /**
   * Takes `sessionId` for `nodeId` unless a live other node holds it: a session with no owner, or
   * whose owner's lease ran out, gets this node at the next epoch; one this node holds keeps its
   * epoch. Refused (held: false, with the owner) while another node's lease runs, and while this
   * node's own lease has run out.
   */
  claim(sessionId: string, nodeId: string): Promise<ClaimResult>;
  /** The session's owner, or undefined when it has none. */
  owner(sessionId: string): Promise<SessionOwnerRecord | undefined>;
  /**
   * Sessions of these kinds, active or paused, whose owner's lease ran out or that have no owner,
   * oldest first: their processes died with their node.
   */
  orphaned(kinds: readonly string[], limit: number): Promise<OrphanedSession[]>;
  /** The nodes whose lease runs now, by name. */
  liveNodes(): Promise<ClusterNodeRecord[]>;
  /** Forgets the rows of nodes whose lease ran out more than `olderThanMs` ago and that own nothing. */
  pruneNodes(olderThanMs: number): Promise<number>;
}

/** Per-session activity counts (seed 003's "session metrics"). */
export interface SessionActivity {
  readonly events_by_type: Readonly<Record<string, number>>;
  readonly checkpoints: number;
}

/** A webhook registration (seed 004 `configureWebhook`); delivery is the events layer's job. */
export interface WebhookRecord {
  readonly id: string;
  readonly url: string;
  /** Event names to deliver; empty means all. */
  readonly events: readonly string[];
  readonly secret: string | null;
  readonly created_at: string;
}

/** Where a webhook delivery stands: still to be (re)tried, accepted by the receiver, or given up on. */
export type WebhookDeliveryStatus = "pending" | "delivered" | "failed";

/**
 * One webhook delivery: one session event sent to one registration, with its attempt log. The
 * events layer creates them, the store keeps them, so pending ones survive a restart.
 */
export interface WebhookDelivery {
  /** UUID v7, so ids sort by creation. */
  readonly id: string;
  readonly webhook_id: string;
  /** The seed 004 event name (start, pause, resume, complete, error, timeout). */
  readonly event: string;
  readonly session_id: string;
  /** The seq of the session event it reports; (webhook_id, session_id, seq) is unique. */
  readonly seq: number;
  readonly status: WebhookDeliveryStatus;
  /** Attempts made so far. */
  readonly attempts: number;
  /** The HTTP status of the last attempt; null when it got no response. */
  readonly last_status_code: number | null;
  readonly last_error: string | null;
  /** When a pending delivery is next due (ISO); null once delivered or failed. */
  readonly next_attempt_at: string | null;
  readonly created_at: string;
  readonly delivered_at: string | null;
  /** The exact JSON body sent (and signed) on every attempt. */
  readonly body: string;
}

/** The outcome of an attempt, or a claim released: the mutable part of a delivery. */
export type WebhookDeliveryUpdate = Pick<
  WebhookDelivery,
  "id" | "status" | "attempts" | "last_status_code" | "last_error" | "next_attempt_at" | "delivered_at"
>;

/** A stream of an exec's output. */
export type OutputStreamName = "stdout" | "stderr";

/** A piece of an exec's output to keep; the engine's output log writes them in batches. */
export interface OutputRecord {
  readonly session_id: string;
  readonly exec_id: string;
  readonly stream: OutputStreamName;
  /** The first byte's offset within that exec's stream. */
  readonly offset: number;
  readonly data: Buffer;
}

/** A kept piece of output with its position in the output log (increasing, never reused). */
export interface StoredOutput extends OutputRecord {
  readonly pos: number;
}

/** What the output log holds of one exec. */
export interface ExecOutputExtent {
  readonly session_id: string;
  /** The positions of its first and last kept pieces. */
  readonly first_pos: number;
  readonly last_pos: number;
  /** Bytes kept per stream: the valid resume offsets are 0 to these. */
  readonly stdout_bytes: number;
  readonly stderr_bytes: number;
}

/** One event in the global feed order, with the owner fields feeds filter on. */
export interface FeedEntry {
  /** The event's global position: increasing in commit order, never reused. */
  readonly pos: number;
  readonly session_id: string;
  readonly kind: string;
  readonly agent_id: string | null;
  readonly user_id: string | null;
  readonly event: SessionEvent;
}

/** Which sessions a lookup by name considers (see SyncStore.findSessionIds). */
export interface NameQuery {
  readonly name: string;
  /**
   * Only this agent_id's namespace; "" is the namespace of the sessions without an agent_id
   * (null or ""), see nameNamespace.
   */
  readonly namespace?: string;
  /** Only sessions with this user_id. */
  readonly user_id?: string;
  /** At most this many ids. */
  readonly limit: number;
}

/** The caller's current copy of a session, if it holds one. */
export type HeldSessions = (id: string) => Session | undefined;

/** A page of a session listing (see SyncStore.listSessions). */
export interface SessionPage extends Page<Session> {
  /**
   * Where each item stands in the listing's order, as the store compared it: `listCursor` of
   * `positions[i]` continues the listing after `items[i]` (a page cut short uses it). Taken from
   * the row the store ordered by, not from the item, which may be a newer copy the caller holds.
   */
  readonly positions: readonly ListPosition[];
}

/**
 * The storage contract, synchronous form. The SQLite store implements it directly; every store
 * offers it in the asynchronous form `Store` below.
 */
export interface SyncStore {
  /** Applies a batch in one transaction; `fence` is honoured by stores with `cluster` only. */
  commit(ops: readonly WriteOp[], fence?: CommitFence): CommitResult;
  /** A session by id, with `last_seq` and `last_activity_at` taken from its newest event. */
  getSession(id: string): Session | undefined;
  /**
   * Ids of the sessions named `query.name`, narrowed to one name namespace and one user_id when
   * the query gives them, oldest first (created_at, then id). Names are unique per namespace, so
   * a query with a namespace finds at most one.
   */
  findSessionIds(query: NameQuery): string[];
  /**
   * Filtered, in the page's order (newest first by default: created_at, then id); `next_cursor`
   * continues the listing in that order only. A session `held` returns is listed as that object
   * and its row is not read (the engine holds current copies of its hot sessions); its place in
   * the order is its row's. A search (`filter.q`) examines at most the store's listScanRows
   * sessions: the page then holds what it found, fewer than `limit` or none, and its
   * `next_cursor` continues after the last session examined.
   * @throws validation naming cursor when the cursor is not one a page of this order returned
   */
  listSessions(filter: SessionFilter, page: Required<Pick<PageRequest, "limit">> & SessionPageRequest, held?: HeldSessions): SessionPage;
  listEvents(sessionId: string, query: EventQuery): SessionEvent[];
  getCheckpoint(sessionId: string, checkpointId: string): Checkpoint | undefined;
  /** Oldest first. */
  listCheckpoints(sessionId: string, limit: number): Checkpoint[];
  /** The newest checkpoint recorded at or before `seq`. */
  checkpointAtOrBefore(sessionId: string, seq: number): Checkpoint | undefined;
  /**
   * Aggregates over the sessions the filter selects.
   * @throws validation naming q when the filter has a search and selects, without it, more than
   *   the store's listScanRows sessions: counts need every match, and a search reads that many at most
   */
  stats(filter: SessionFilter): SessionStats;
  /**
   * How many sessions there are of each status (a status with none may be left out): what
   * /metrics reads at every scrape, so one pass over the status index, not stats()'s aggregates.
   */
  countByStatus(): Partial<Record<SessionStatus, number>>;
  /** How many events of each type a session has, and how many checkpoints. */
  activity(sessionId: string): SessionActivity;
  /** Ids of sessions in a terminal status that ended at or before `endedBy` (ISO), oldest first. */
  listExpired(endedBy: string, limit: number): string[];
  putWebhook(webhook: WebhookRecord): void;
  listWebhooks(): WebhookRecord[];
  deleteWebhook(id: string): boolean;
  /**
   * Records new deliveries, skipping any whose (webhook_id, session_id, seq) is already recorded.
   * @returns how many were inserted
   */
  putWebhookDeliveries(deliveries: readonly WebhookDelivery[]): number;
  /**
   * Atomically takes up to `limit` of the soonest pending deliveries due at `now` (returned oldest
   * first) and moves their `next_attempt_at` to `leaseUntil`, so no other claim takes them while
   * they are attempted; a claimer that dies leaves them due again once the lease runs out.
   *
   * Only a delivery that heads its (webhook_id, session_id) queue is taken: one with no pending
   * delivery of a lower seq for the same webhook and session (claimed, backing off or due). So a
   * session's deliveries to one webhook go out one at a time in seq order, across processes and
   * restarts, while other sessions' queues are not held up.
   */
  claimDueWebhookDeliveries(now: string, leaseUntil: string, limit: number): WebhookDelivery[];
  /**
   * When the soonest pending delivery that heads its queue (as a claim takes them) is due (ISO),
   * or undefined when none is pending.
   */
  nextWebhookDeliveryAt(): string | undefined;
  updateWebhookDelivery(update: WebhookDeliveryUpdate): void;
  getWebhookDelivery(id: string): WebhookDelivery | undefined;
  /** A webhook's deliveries, newest first; `next_cursor` continues the listing. */
  listWebhookDeliveries(webhookId: string, page: Required<Pick<PageRequest, "limit">> & PageRequest): Page<WebhookDelivery>;
  /**
   * Deletes delivered and failed deliveries created before `createdBefore` (ISO); pending ones
   * are kept whatever their age. @returns how many were deleted
   */
  pruneWebhookDeliveries(createdBefore: string): number;
  /** Keeps pieces of exec output in one transaction. @returns their positions, in order */
  appendOutput(records: readonly OutputRecord[]): number[];
  /** A session's kept output with `pos > afterPos`, in position order. */
  listOutput(sessionId: string, afterPos: number, limit: number): StoredOutput[];
  /** What is kept of an exec's output, or undefined when nothing is. */
  execOutputExtent(execId: string): ExecOutputExtent | undefined;
  /** The position of the kept piece of an exec's stream that holds byte `offset`, if any. */
  outputPosAt(execId: string, stream: OutputStreamName, offset: number): number | undefined;
  /** Events of existing sessions with a global position `> afterPos`, in position order. */
  listFeed(afterPos: number, limit: number): FeedEntry[];
  /** The newest global event position (0 when there is none). */
  feedHead(): number;
  close(): void;
}

type Asynchronous<T> = {
  [K in keyof T]: T[K] extends (...args: infer A) => infer R ? (...args: A) => Promise<R> : T[K];
};

/** The storage contract every backend implements (PostgreSQL is asynchronous). */
export interface Store extends Asynchronous<SyncStore> {
  readonly backend: "sqlite" | "postgres";
  /**
   * The same store, synchronously: present for the embedded SQLite store only, where it serves
   * seed 004's synchronous reads.
   */
  readonly sync?: SyncStore;
  /** Present when several nodes may serve the store (PostgreSQL): who owns which session. */
  readonly cluster?: ClusterStore;
  /**
   * Calls `listener` after another process committed events to the store (PostgreSQL: a
   * LISTEN/NOTIFY notice; may come late or be lost, so readers also poll).
   * @returns a function that stops the calls
   */
  onCommitted?(listener: () => void): () => void;
}

/** Wraps a synchronous store in the asynchronous contract, keeping it reachable as `sync`. */
export function asyncStore(backend: Store["backend"], sync: SyncStore): Store {
  const wrap =
    <A extends unknown[], R>(fn: (...args: A) => R) =>
    (...args: A): Promise<R> => {
      try {
        return Promise.resolve(fn.apply(sync, args));
      } catch (err) {
        return Promise.reject(err);
      }
    };
  return {
    backend,
    sync,
    commit: wrap(sync.commit),
    getSession: wrap(sync.getSession),
    findSessionIds: wrap(sync.findSessionIds),
    listSessions: wrap(sync.listSessions),
    listEvents: wrap(sync.listEvents),
    getCheckpoint: wrap(sync.getCheckpoint),
    listCheckpoints: wrap(sync.listCheckpoints),
    checkpointAtOrBefore: wrap(sync.checkpointAtOrBefore),
    stats: wrap(sync.stats),
    countByStatus: wrap(sync.countByStatus),
    activity: wrap(sync.activity),
    listExpired: wrap(sync.listExpired),
    putWebhook: wrap(sync.putWebhook),
    listWebhooks: wrap(sync.listWebhooks),
    deleteWebhook: wrap(sync.deleteWebhook),
    putWebhookDeliveries: wrap(sync.putWebhookDeliveries),
    claimDueWebhookDeliveries: wrap(sync.claimDueWebhookDeliveries),
    nextWebhookDeliveryAt: wrap(sync.nextWebhookDeliveryAt),
    updateWebhookDelivery: wrap(sync.updateWebhookDelivery),
    getWebhookDelivery: wrap(sync.getWebhookDelivery),
    listWebhookDeliveries: wrap(sync.listWebhookDeliveries),
    pruneWebhookDeliveries: wrap(sync.pruneWebhookDeliveries),
    appendOutput: wrap(sync.appendOutput),
    listOutput: wrap(sync.listOutput),
    execOutputExtent: wrap(sync.execOutputExtent),
    outputPosAt: wrap(sync.outputPosAt),
    listFeed: wrap(sync.listFeed),
    feedHead: wrap(sync.feedHead),
    close: wrap(sync.close),
  };
}
