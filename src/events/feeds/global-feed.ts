import { errors } from "../../core/index.js";
import { carriesExecIo } from "../../drivers/exec-io.js";
import type { SessionManager } from "../../engine/index.js";
import type { FeedEntry, Store } from "../../store/index.js";
import { deletedMessage, feedMessage, readyMessage } from "./messages.js";
import { Outlet, type OutletMessage, type Sink } from "./outlet.js";
import { optionalInt } from "./session-stream.js";

/** What a feed subscriber wants (docs/streams.md, "Global feed"); every set is optional. */
export interface FeedFilter {
  readonly sessions?: ReadonlySet<string>;
  readonly types?: ReadonlySet<string>;
  readonly kinds?: ReadonlySet<string>;
  readonly agentIds?: ReadonlySet<string>;
  /** The principal's scope: an agent token sees only sessions with its agent_id / user_id. */
  readonly scope?: { readonly agent_id?: string; readonly user_id?: string };
  /**
   * Whether the subscriber may read the exec input and output of a session with these owner
   * fields (the server's rule); when it may not, events that carry them come cut (withoutExecIo).
   * Absent: it may read all.
   */
  readonly execIo?: (owner: { readonly agent_id: string | null; readonly user_id: string | null }) => boolean;
  /** Also tell of each deletion of a session the filter lets through (a `deleted` message; query `deletions=1`). */
  readonly deletions?: boolean;
}

/** What the filter knows of a session, beside its events. */
interface SessionFields {
  readonly session_id: string;
  readonly kind: string;
  readonly agent_id: string | null;
  readonly user_id: string | null;
}

/** Rows read from the store per round. */
const PAGE = 1000;

/** True when the entry passes the filter. */
export function matches(filter: FeedFilter, e: FeedEntry): boolean {
  if (filter.types && !filter.types.has(e.event.type)) return false;
  return matchesSession(filter, e);
}

/** True when the filter lets this session's messages through, whatever their event type. */
function matchesSession(filter: FeedFilter, e: SessionFields): boolean {
  if (filter.sessions && !filter.sessions.has(e.session_id)) return false;
  if (filter.kinds && !filter.kinds.has(e.kind)) return false;
  if (filter.agentIds && (e.agent_id === null || !filter.agentIds.has(e.agent_id))) return false;
  const scope = filter.scope;
  if (scope) {
    if (scope.agent_id !== undefined && e.agent_id !== scope.agent_id) return false;
    if (scope.user_id !== undefined && e.user_id !== scope.user_id) return false;
  }
  return true;
}

/** One global feed client. */
class FeedSubscriber {
  readonly outlet: Outlet;
  /** The global position of the last event this subscriber has passed (sent or filtered out). */
  cursor: number;
  live = false;

  constructor(
    sink: Sink,
    readonly filter: FeedFilter,
    after: number,
    maxBufferedBytes: number,
  ) {
    this.cursor = after;
    this.outlet = new Outlet(sink, maxBufferedBytes, String(after), false);
  }

  /** `message(cut)`: the entry's message, with its exec input and output cut out when `cut`. */
  offer(entry: FeedEntry, message: (cut: boolean) => OutletMessage): void {
    if (entry.pos <= this.cursor) return;
    this.cursor = entry.pos;
    if (!matches(this.filter, entry)) return;
    const { execIo } = this.filter;
    this.outlet.push(message(execIo !== undefined && carriesExecIo(entry.kind, entry.event) && !execIo(entry)));
  }

  /** A session was deleted: told when the subscriber asked for deletions and may see that session. */
  offerDeletion(session: SessionFields, message: () => OutletMessage): boolean {
    if (!this.filter.deletions || !matchesSession(this.filter, session)) return false;
    return this.outlet.push(message());
  }
}

/**
 * The global feed: every session's events in one order, the store's global position. After each
 * commit that appended events (the bus says so, synchronously, in the writer's path), the hub
 * schedules one read of the new rows for the next turn and hands each row — serialized once — to
 * every matching subscriber's bounded outlet. The writer's only cost is the scheduling.
 *
 * A subscriber that resumes from a position reads its backlog from the store page by page (paced
 * by its client) and joins the live hand-out once it has caught up with the hub; positions at or
 * before its cursor are skipped, so it sees each event once.
 *
 * On a store other processes write too (PostgreSQL, several nodes), events committed elsewhere
 * reach the same read: the store's `onCommitted` notice schedules it, and while anyone
 * subscribes so does a poll every `clusterPollMs`, since a notice can be lost. The store makes
 * positions visible strictly in order, so reading after the newest position handed out gets
 * every node's events once each, in position order, whichever wake-up came first.
 */
export class FeedHub {
  private readonly subscribers = new Set<FeedSubscriber>();
  /** The newest position handed out (or known to exist when the hub went active). */
  private head = 0;
  private active = false;
  private scheduled = false;
  private flushTimer: NodeJS.Timeout | undefined;
  private tailing: Promise<void> | undefined;
  /** A read was asked for while one ran: it may have missed rows committed meanwhile. */
  private tailAgain = false;
  /** The read of the store's head when the hub last went active. */
  private headRead: Promise<void> | undefined;
  private pollTimer: NodeJS.Timeout | undefined;
  private readonly unsubscribe: () => void;
  private readonly stopNotices: (() => void) | undefined;

  constructor(
    private readonly store: Store,
    manager: SessionManager,
    private readonly maxBufferedBytes: number,
    /** How long live events wait to be sent together (config feedFlushIntervalMs). */
    private readonly flushIntervalMs: number,
    private readonly onError: (err: unknown) => void = () => {},
    /**
     * How often to read while anyone subscribes, on a store other processes write (config
     * clusterPollMs). Undefined: only on commits and notices.
     */
    private readonly clusterPollMs?: number,
  ) {
    this.unsubscribe = manager.bus.subscribe((change) => {
      if (change.type === "event.appended" && this.active) this.schedule();
      else if (change.type === "session.deleted") this.tellDeletion(change.session);
    });
    this.stopNotices = store.onCommitted?.(() => {
      if (this.active) this.schedule();
    });
  }

  /** Feed clients now. */
  get size(): number {
    return this.subscribers.size;
  }

  /**
   * Adds a client: replays events after `after` (undefined: start live), then live ones.
   * @returns once the client is live (or gone)
   */
  async subscribe(sink: Sink, filter: FeedFilter, after: number | undefined): Promise<void> {
    await this.activate();
    const sub = new FeedSubscriber(sink, filter, after ?? this.head, this.maxBufferedBytes);
    this.subscribers.add(sub);
    sink.onClose(() => this.subscribers.delete(sub));
    while (!sub.live && !sub.outlet.closed) {
      const headBefore = this.head;
      const page = await this.store.listFeed(sub.cursor, PAGE);
      for (const entry of page) {
        sub.offer(entry, (cut) => feedMessage(entry, cut));
        if (sub.outlet.full) await sub.outlet.room();
      }
      if (page.length < PAGE) {
        // Every row up to headBefore existed when the page was read: those not returned belong to
        // deleted sessions. Caught up once nothing newer has been handed out since.
        sub.cursor = Math.max(sub.cursor, headBefore);
        if (sub.cursor >= this.head) sub.live = true;
      }
      if (!sub.live) await sub.outlet.room();
    }
    if (!sub.outlet.closed) sub.outlet.push(readyMessage(String(sub.cursor)));
    sub.outlet.flush();
  }

  /** Ends every client (server shutdown) and stops listening. */
  close(code: number, reason: string): void {
    this.unsubscribe();
    this.stopNotices?.();
    this.stopPolling();
    clearTimeout(this.flushTimer);
    for (const sub of this.subscribers) sub.outlet.end({ code, reason });
    this.subscribers.clear();
  }

  private async activate(): Promise<void> {
    if (this.active) return;
    // Going active: from here on every commit schedules a read, so this head misses nothing.
    this.active = true;
    this.startPolling();
    this.headRead = this.store.feedHead().then(
      (head) => {
        this.head = Math.max(this.head, head);
      },
      (err: unknown) => {
        // The next subscriber tries again.
        this.active = false;
        this.stopPolling();
        throw err;
      },
    );
    await this.headRead;
  }

  /**
   * Hands a deletion (committed: the bus publishes after the write) to the subscribers that asked
   * for deletions. It has no position: a client that was away when it happened does not get it.
   */
  private tellDeletion(session: { readonly id: string; readonly kind: string; readonly agent_id: string | null; readonly user_id: string | null }): void {
    let message: OutletMessage | undefined;
    let told = false;
    const fields = { session_id: session.id, kind: session.kind, agent_id: session.agent_id, user_id: session.user_id };
    for (const sub of this.subscribers) told = sub.offerDeletion(fields, () => (message ??= deletedMessage(fields))) || told;
    if (told) this.scheduleFlush();
  }

  /**
   * Flushes every client at the same moment, so clients with the same filter send the very same
   * batch (encoded once, see sinks.ts), and each gets one frame per interval, not per commit.
   */
  private scheduleFlush(): void {
    this.flushTimer ??= setTimeout(() => {
      this.flushTimer = undefined;
      for (const sub of this.subscribers) sub.outlet.flush();
    }, this.flushIntervalMs);
  }

  /** Polls while active, when other processes write the store (the only writers a notice tells of). */
  private startPolling(): void {
    if (this.pollTimer || this.clusterPollMs === undefined || !this.store.onCommitted) return;
    this.pollTimer = setInterval(() => {
      if (this.active) this.schedule();
      else this.stopPolling();
    }, this.clusterPollMs);
    // The server keeps the process alive; the feed's poll alone should not.
    this.pollTimer.unref();
  }

  private stopPolling(): void {
    clearInterval(this.pollTimer);
    this.pollTimer = undefined;
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      if (this.tailing) {
        // The running read may have passed the store before the rows that woke us: read again after.
        this.tailAgain = true;
        return;
      }
      this.tailing = this.tail().finally(() => {
        this.tailing = undefined;
        if (this.tailAgain) {
          this.tailAgain = false;
          if (this.active) this.schedule();
        }
      });
    });
  }

  private async tail(): Promise<void> {
    try {
      // A read woken while the hub goes active starts from the head it finds, not from the start.
      await this.headRead;
      for (;;) {
        const page = await this.store.listFeed(this.head, PAGE);
        for (const entry of page) {
          this.head = entry.pos;
          // Each form of the entry is built once, for all the subscribers that get it.
          let full: OutletMessage | undefined;
          let cut: OutletMessage | undefined;
          const build = (redacted: boolean) => (redacted ? (cut ??= feedMessage(entry, true)) : (full ??= feedMessage(entry, false)));
          for (const sub of this.subscribers) if (sub.live) sub.offer(entry, build);
        }
        if (page.length < PAGE) break;
      }
    } catch (err) {
      this.onError(err);
    }
    this.scheduleFlush();
    if (this.subscribers.size === 0) this.active = false;
  }
}

/**
 * Where a feed subscriber starts: after the global position in `Last-Event-ID` (`lastEventId`),
 * else after the query's `after`, else live (undefined). The header wins: an SSE client reconnects
 * with the URL it was opened with, whose `after` is where it began, not where it stopped. An empty
 * header is none (SSE sends no empty id).
 * @throws validation naming `after` or `Last-Event-ID` (a per-session stream's cursor too)
 */
export function parseFeedAfter(raw: Record<string, unknown>, lastEventId: string | undefined): number | undefined {
  const after = optionalInt(raw, "after");
  if (!lastEventId) return after;
  if (!/^\d{1,15}$/.test(lastEventId)) throw errors.validation("Last-Event-ID", "expected a feed position (digits), as sent in the id of a feed message");
  return Number(lastEventId);
}
