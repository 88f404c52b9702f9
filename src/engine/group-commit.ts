import { SessiondError, type Session } from "../core/index.js";
import type { Store, WriteOp } from "../store/index.js";
import type { SessionChange } from "./event-bus.js";

/** One caller's write: its ops, and the changes to publish once they are durable. */
export interface WriteRequest {
  readonly sessionId: string;
  /**
   * The session's state once this write is applied, or null when the write deletes it. Held as
   * unwritten until the commit, whatever the ops are: an append writes no session row, yet the
   * store cannot give its new last_seq until the event is in.
   */
  readonly session: Session | null;
  readonly ops: readonly WriteOp[];
  readonly changes: readonly SessionChange[];
}

interface Waiter {
  readonly sessionId: string;
  readonly resolve: () => void;
  readonly reject: (err: unknown) => void;
}

/** Writes committed together in one transaction. */
class Batch {
  readonly ops: WriteOp[] = [];
  readonly changes: SessionChange[] = [];
  readonly waiters: Waiter[] = [];
  /** The newest state each write of this batch left its session in (null: deleted). */
  readonly states = new Map<string, Session | null>();
  /** Index in `ops` of each session's (coalesced) put. */
  private readonly putIndex = new Map<string, number>();

  add(request: WriteRequest, waiter: Waiter | undefined): void {
    for (const op of request.ops) {
      if (op.op === "put_session") {
        const at = this.putIndex.get(op.session.id);
        const earlier = at === undefined ? undefined : this.ops[at];
        if (earlier?.op === "put_session") {
          // A session written several times in one batch is written once, with its newest state.
          this.ops[at!] = {
            op: "put_session",
            session: op.session,
            insert: earlier.insert,
            scalarsOnly: earlier.scalarsOnly && op.scalarsOnly,
          };
          continue;
        }
        this.putIndex.set(op.session.id, this.ops.length);
      } else if (op.op === "delete_session") {
        this.putIndex.delete(op.session_id);
      }
      this.ops.push(op);
    }
    this.changes.push(...request.changes);
    this.states.set(request.sessionId, request.session);
    if (waiter) this.waiters.push(waiter);
  }
}

/** What the committer tells its owner about commits. */
export interface GroupCommitHooks {
  /** After a batch is durable: publish its changes. */
  readonly committed: (changes: readonly SessionChange[]) => void;
  /**
   * After a batch failed (rolled back) or some of its sessions were refused: memory holds state
   * the store does not, so these sessions must be dropped from memory and reloaded.
   */
  readonly discarded: (sessionIds: ReadonlySet<string>) => void;
  /** After every commit attempt: for metrics. */
  readonly observed?: (commit: CommitObservation) => void;
}

/** What one commit carried and how long the store took. */
export interface CommitObservation {
  /** Store writes in the transaction (after coalescing). */
  readonly ops: number;
  /** Callers whose writes it carried. */
  readonly writers: number;
  readonly durationMs: number;
  readonly ok: boolean;
}

/**
 * Group commit: every caller's write joins the open batch; one flush, scheduled on the next turn
 * of the event loop, commits the batch in a single transaction, and only then are the callers'
 * promises resolved. Concurrent callers thus share one fsync, and an acknowledged write is on
 * disk. Batches commit strictly in order, one at a time.
 */
export class GroupCommitter {
  private open = new Batch();
  private readonly sealed: Batch[] = [];
  /** The newest state of every session with a put not yet committed; null marks a pending delete. */
  private readonly pending = new Map<string, Session | null>();
  private scheduled = false;
  private flushing: Promise<void> | undefined;

  constructor(
    private readonly store: Store,
    private readonly maxBatchOps: number,
    private readonly hooks: GroupCommitHooks,
  ) {}

  /** Queues a write; resolves once it is committed, rejects if the commit failed. */
  write(request: WriteRequest): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.add(request, { sessionId: request.sessionId, resolve, reject });
      this.schedule();
    });
  }

  /**
   * Commits a write and everything queued before it, synchronously (embedded SQLite only).
   * @throws whatever the store threw; the write is then not applied
   */
  writeSync(request: WriteRequest): void {
    let failure: unknown;
    this.add(request, {
      sessionId: request.sessionId,
      resolve: () => {},
      reject: (err) => (failure = err),
    });
    this.flushSync();
    if (failure !== undefined) throw failure;
  }

  /**
   * The newest unwritten state of a session: a Session, null when its delete is pending, or
   * undefined when nothing of it is waiting to be written.
   */
  unwritten(sessionId: string): Session | null | undefined {
    return this.pending.get(sessionId);
  }

  /** The unwritten session with this name, if any (for sessions evicted before their commit). */
  unwrittenByName(name: string): Session | undefined {
    for (const session of this.pending.values()) if (session?.name === name) return session;
    return undefined;
  }

  get idle(): boolean {
    return !this.flushing && this.sealed.length === 0 && this.open.ops.length === 0;
  }

  /** Resolves once everything queued so far is committed (or failed). */
  async flush(): Promise<void> {
    while (!this.idle) {
      if (this.flushing) await this.flushing.catch(() => {});
      else await this.runFlush();
    }
  }

  /** Commits everything queued, synchronously. Needs a store with a synchronous path. */
  flushSync(): void {
    const sync = this.store.sync;
    if (!sync) throw new SessiondError("sync_unavailable", { operation: "a synchronous flush" });
    this.seal();
    while (this.sealed.length) {
      const batch = this.sealed.shift()!;
      const started = performance.now();
      try {
        const result = sync.commit(batch.ops);
        this.observe(batch, started, true);
        this.settle(batch, result.rejected);
      } catch (err) {
        this.observe(batch, started, false);
        this.fail(batch, err);
      }
    }
  }

  private add(request: WriteRequest, waiter: Waiter): void {
    if (this.open.ops.length >= this.maxBatchOps) this.seal();
    this.open.add(request, waiter);
    this.pending.set(request.sessionId, request.session);
  }

  private seal(): void {
    if (this.open.ops.length === 0 && this.open.waiters.length === 0) return;
    this.sealed.push(this.open);
    this.open = new Batch();
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    // setImmediate, not a microtask: every caller of this turn joins the batch first.
    setImmediate(() => {
      this.scheduled = false;
      if (!this.flushing) void this.runFlush();
    });
  }

  private async runFlush(): Promise<void> {
    // A store with a synchronous path commits in this turn: no commit is ever left in flight for
    // a synchronous flush to overtake, so changes are published strictly in commit order.
    if (this.store.sync) return this.flushSync();
    const run = (async () => {
      this.seal();
      while (this.sealed.length) {
        const batch = this.sealed.shift()!;
        const started = performance.now();
        try {
          const result = await this.store.commit(batch.ops);
          this.observe(batch, started, true);
          this.settle(batch, result.rejected);
        } catch (err) {
          this.observe(batch, started, false);
          this.fail(batch, err);
        }
      }
    })();
    this.flushing = run;
    try {
      await run;
    } finally {
      this.flushing = undefined;
      if (this.open.ops.length || this.open.waiters.length) this.schedule();
    }
  }

  private observe(batch: Batch, started: number, ok: boolean): void {
    this.hooks.observed?.({ ops: batch.ops.length, writers: batch.waiters.length, durationMs: performance.now() - started, ok });
  }

  private settle(batch: Batch, rejected: readonly string[]): void {
    this.release(batch);
    const refused = new Set(rejected);
    if (refused.size) this.hooks.discarded(refused);
    this.hooks.committed(refused.size ? batch.changes.filter((c) => !refused.has(c.session.id)) : batch.changes);
    for (const waiter of batch.waiters) {
      if (refused.has(waiter.sessionId)) {
        waiter.reject(new SessiondError("conflict", { reason: "a session with this id or name already exists" }, { field: "name" }));
      } else {
        waiter.resolve();
      }
    }
  }

  /**
   * A failed batch was rolled back. The batches queued behind it were built on its state, so
   * they are failed too, and every session they touched is dropped from memory.
   */
  private fail(batch: Batch, err: unknown): void {
    const failed = [batch, ...this.sealed.splice(0), this.open];
    this.open = new Batch();
    const touched = new Set<string>();
    for (const b of failed) for (const id of b.states.keys()) touched.add(id);
    for (const b of failed) this.release(b);
    this.hooks.discarded(touched);
    const failure =
      err instanceof SessiondError ? err : new SessiondError("store_failure", { reason: String((err as Error)?.message ?? err) }, { cause: err });
    for (const b of failed) for (const waiter of b.waiters) waiter.reject(failure);
  }

  /** Forgets the pending state a batch carried, unless a later write replaced it since. */
  private release(batch: Batch): void {
    for (const [id, state] of batch.states) {
      if (this.pending.get(id) === state) this.pending.delete(id);
    }
  }
}
