import { SessiondError, type Session } from "../core/index.js";
import { type Store, type SyncStore, type WriteOp, refusedWriteError, rolledBack } from "../store/index.js";
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
  /** The ownership epoch the write was built under (several nodes on one store); see CommitFence. */
  readonly epoch?: number;
}

interface Waiter {
  readonly sessionId: string;
  readonly resolve: () => void;
  readonly reject: (err: unknown) => void;
}

/** One caller's write and the promise waiting for it. */
interface Entry {
  readonly request: WriteRequest;
  readonly waiter: Waiter;
}

/** Writes committed together in one transaction. */
class Batch {
  readonly ops: WriteOp[] = [];
  readonly changes: SessionChange[] = [];
  /** The writes, in the order they were made. */
  readonly entries: Entry[] = [];
  /** The newest state each write of this batch left its session in (null: deleted). */
  readonly states = new Map<string, Session | null>();
  /**
   * The epoch each session's writes were built under: the oldest, so that a write built under an
   * epoch since lost fences the session's writes in the batch.
   */
  readonly epochs = new Map<string, number>();
  /** Index in `ops` of each session's (coalesced) put. */
  private readonly putIndex = new Map<string, number>();

  /** A batch of these writes, in their order. */
  static of(entries: Iterable<Entry>): Batch {
    const batch = new Batch();
    for (const entry of entries) batch.add(entry);
    return batch;
  }

  add(entry: Entry): void {
    const { request } = entry;
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
    if (request.epoch !== undefined) {
      const earlier = this.epochs.get(request.sessionId);
      if (earlier === undefined || request.epoch < earlier) this.epochs.set(request.sessionId, request.epoch);
    }
    this.entries.push(entry);
  }
}

/** How one commit attempt went: the sessions whose insert was refused, or what the store threw. */
type Attempt = { readonly ok: true; readonly rejected: readonly string[]; readonly fenced: readonly string[] } | Failure;
type Failure = { readonly ok: false; readonly error: unknown };

/** The state of one batch's commit while its refused writes are being found. */
interface Isolation {
  readonly batch: Batch;
  /** Writes already answered (committed, refused, or failed as built on a refused one). */
  readonly settled: Set<Entry>;
  /** Sessions with a refused write in this batch, and the error their later writes in it get. */
  readonly refused: Map<string, SessiondError>;
}

/** What the committer tells its owner about commits. */
export interface GroupCommitHooks {
  /** After a batch is durable: publish its changes. */
  readonly committed: (changes: readonly SessionChange[]) => void;
  /**
   * After a batch failed (rolled back) or some of its sessions' writes were refused: memory holds
   * state the store does not, so these sessions must be dropped from memory and reloaded.
   */
  readonly discarded: (sessionIds: ReadonlySet<string>) => void;
  /** After the store refused a session's writes as built under an epoch no longer this node's. */
  readonly fenced?: (sessionId: string) => void;
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
 *
 * One caller's bad write does not fail the others': when the store refuses a batch for a value a
 * write carried (refusedWriteError), the batch is committed again in parts until the refused
 * writes are found (see isolate); the others are committed. When the store itself fails (a lost
 * connection), no write is to blame and the batch fails whole, with every batch behind it.
 */
export class GroupCommitter {
  private open = new Batch();
  private readonly sealed: Batch[] = [];
  /** The newest state of every session with a put not yet committed; null marks a pending delete. */
  private readonly pending = new Map<string, Session | null>();
  private scheduled = false;
  private flushing: Promise<void> | undefined;

  /**
   * @param nodeId the node whose ownership epochs writes carry (several nodes on one store);
   *   undefined: the store has one writer, and no write is fenced
   */
  constructor(
    private readonly store: Store,
    private readonly maxBatchOps: number,
    private readonly hooks: GroupCommitHooks,
    private readonly nodeId?: string,
  ) {}

  /** Queues a write; resolves once it is committed, rejects if the commit failed. */
  write(request: WriteRequest): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.add({ request, waiter: { sessionId: request.sessionId, resolve, reject } });
      this.schedule();
    });
  }

  /**
   * Commits a write and everything queued before it, synchronously (embedded SQLite only).
   * @throws whatever the store threw; the write is then not applied
   */
  writeSync(request: WriteRequest): void {
    let failure: unknown;
    this.add({
      request,
      waiter: {
        sessionId: request.sessionId,
        resolve: () => {},
        reject: (err) => (failure = err),
      },
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

  /**
   * The unwritten sessions named `name`, in any namespace (for sessions evicted before their
   * commit). A linear scan: only the writes of the batches in flight are pending.
   */
  unwrittenNamed(name: string): Session[] {
    const found: Session[] = [];
    for (const session of this.pending.values()) if (session?.name === name) found.push(session);
    return found;
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
      const steps = this.commitBatch(this.sealed.shift()!);
      for (let step = steps.next(); !step.done; ) step = steps.next(this.attemptSync(sync, step.value));
    }
  }

  private add(entry: Entry): void {
    if (this.open.ops.length >= this.maxBatchOps) this.seal();
    this.open.add(entry);
    this.pending.set(entry.request.sessionId, entry.request.session);
  }

  private seal(): void {
    if (this.open.ops.length === 0 && this.open.entries.length === 0) return;
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
        const steps = this.commitBatch(this.sealed.shift()!);
        for (let step = steps.next(); !step.done; ) step = steps.next(await this.attempt(step.value));
      }
    })();
    this.flushing = run;
    try {
      await run;
    } finally {
      this.flushing = undefined;
      if (this.open.ops.length || this.open.entries.length) this.schedule();
    }
  }

  private attemptSync(sync: SyncStore, part: Batch): Attempt {
    const started = performance.now();
    try {
      const { rejected } = sync.commit(part.ops);
      this.observe(part, started, true);
      return { ok: true, rejected, fenced: [] };
    } catch (error) {
      this.observe(part, started, false);
      return { ok: false, error };
    }
  }

  private async attempt(part: Batch): Promise<Attempt> {
    const started = performance.now();
    try {
      const fence = this.nodeId === undefined ? undefined : { nodeId: this.nodeId, epochs: part.epochs };
      const { rejected, fenced = [] } = await this.store.commit(part.ops, fence);
      this.observe(part, started, true);
      return { ok: true, rejected, fenced };
    } catch (error) {
      this.observe(part, started, false);
      return { ok: false, error };
    }
  }

  private observe(batch: Batch, started: number, ok: boolean): void {
    this.hooks.observed?.({ ops: batch.ops.length, writers: batch.entries.length, durationMs: performance.now() - started, ok });
  }

  /**
   * Commits one batch: yields each part to commit (the whole batch first) and takes how the
   * attempt went, so the synchronous and the asynchronous flush drive the same steps.
   */
  private *commitBatch(batch: Batch): Generator<Batch, void, Attempt> {
    const attempt = yield batch;
    if (attempt.ok) return this.settle(batch, attempt);
    if (!refusedWriteError(attempt.error)) return this.fail(batch.entries, attempt.error);
    // Refused for what a write carried: commit it again in parts, without the writes to blame.
    const run: Isolation = { batch, settled: new Set(), refused: new Map() };
    yield* this.isolate(batch.entries, run, attempt);
  }

  /**
   * Finds the writes that made the store refuse `entries`, by halving: a part that commits is
   * settled, a refused part is halved again, and a write refused on its own is a culprit (see
   * refuse). Parts commit in the batch's order, so each session's writes still commit in order,
   * and with k culprits among n writes it takes about 2k·log2(n) commits.
   * @param refusal the attempt that already refused exactly these entries, if any
   * @returns false when the store itself failed meanwhile; every write not yet settled is then failed
   */
  private *isolate(entries: readonly Entry[], run: Isolation, refusal?: Failure): Generator<Batch, boolean, Attempt> {
    const live: Entry[] = [];
    for (const entry of entries) {
      const why = run.refused.get(entry.request.sessionId);
      if (why === undefined) live.push(entry);
      else {
        // Built on the session's refused write: the store has nothing to build it on.
        run.settled.add(entry);
        entry.waiter.reject(why);
      }
    }
    if (!live.length) return true;
    let refused = refusal;
    if (!refused) {
      const part = Batch.of(live);
      const attempt = yield part;
      if (attempt.ok) {
        this.settle(part, attempt, run);
        return true;
      }
      if (!refusedWriteError(attempt.error)) {
        this.fail(run.batch.entries.filter((e) => !run.settled.has(e)), attempt.error);
        return false;
      }
      refused = attempt;
    }
    if (live.length === 1) {
      this.refuse(live[0]!, refused, run);
      return true;
    }
    const half = Math.ceil(live.length / 2);
    return (yield* this.isolate(live.slice(0, half), run)) && (yield* this.isolate(live.slice(half), run));
  }

  /**
   * A write the store refused on its own. Its caller gets the store's refusal; the session is
   * rolled back to what is committed: dropped from memory (the next write reloads it), and its
   * later writes, all built on the refused one, fail without being tried.
   */
  private refuse(entry: Entry, attempt: Failure, run: Isolation): void {
    const sessionId = entry.request.sessionId;
    const after = new SessiondError("conflict", {
      reason: `not applied: it came after a write to session ${sessionId} that the store refused, and was built on it; retry it`,
    });
    run.settled.add(entry);
    run.refused.set(sessionId, after);
    this.rollBack(sessionId, after);
    entry.waiter.reject(refusedWriteError(attempt.error));
  }

  /**
   * Forgets a session's unwritten state: its writes queued in later batches fail with `err`, and
   * it is dropped from memory, so the next write builds on what the store holds.
   */
  private rollBack(sessionId: string, err: SessiondError): void {
    const without = (batch: Batch): Batch => {
      if (!batch.states.has(sessionId)) return batch;
      const kept: Entry[] = [];
      for (const entry of batch.entries) {
        if (entry.request.sessionId === sessionId) entry.waiter.reject(err);
        else kept.push(entry);
      }
      return Batch.of(kept);
    };
    for (let i = 0; i < this.sealed.length; i++) this.sealed[i] = without(this.sealed[i]!);
    this.open = without(this.open);
    this.pending.delete(sessionId);
    this.hooks.discarded(new Set([sessionId]));
  }

  /**
   * A committed batch (or part of one). A session whose insert was refused (its id or name is
   * taken) is rolled back: its writes in this batch and behind it fail with the conflict.
   */
  private settle(batch: Batch, outcome: { readonly rejected: readonly string[]; readonly fenced: readonly string[] }, run?: Isolation): void {
    this.release(batch);
    const refusals = new Map<string, SessiondError>();
    if (outcome.rejected.length) {
      const taken = new SessiondError("conflict", { reason: "a session with this id or name already exists" }, { field: "name" });
      for (const id of outcome.rejected) refusals.set(id, taken);
    }
    for (const id of outcome.fenced) {
      refusals.set(id, new SessiondError("session_moved", { ref: id, node: "another node" }));
      this.hooks.fenced?.(id);
    }
    this.hooks.committed(refusals.size ? batch.changes.filter((c) => !refusals.has(c.session.id)) : batch.changes);
    for (const [id, why] of refusals) {
      run?.refused.set(id, why);
      this.rollBack(id, why);
    }
    for (const entry of batch.entries) {
      run?.settled.add(entry);
      const why = refusals.get(entry.waiter.sessionId);
      if (why) entry.waiter.reject(why);
      else entry.waiter.resolve();
    }
  }

  /**
   * The store failed (not a write it refused): the writes were rolled back. The batches queued
   * behind were built on their state, so they are failed too, and every session they touched is
   * dropped from memory.
   */
  private fail(entries: readonly Entry[], err: unknown): void {
    const failed = [Batch.of(entries), ...this.sealed.splice(0), this.open];
    this.open = new Batch();
    const touched = new Set<string>();
    for (const b of failed) for (const id of b.states.keys()) touched.add(id);
    for (const b of failed) this.release(b);
    this.hooks.discarded(touched);
    const reason = String((err as Error)?.message ?? err);
    const failure =
      err instanceof SessiondError
        ? err
        : rolledBack(err)
          ? new SessiondError("commit_rolled_back", { reason }, { cause: err })
          : new SessiondError("store_failure", { reason }, { cause: err });
    for (const b of failed) for (const entry of b.entries) entry.waiter.reject(failure);
  }

  /** Forgets the pending state a batch carried, unless a later write replaced it since. */
  private release(batch: Batch): void {
    for (const [id, state] of batch.states) {
      if (this.pending.get(id) === state) this.pending.delete(id);
    }
  }
}
