import type { OutputRecord, OutputStreamName, Store, StoredOutput } from "../store/index.js";

/** A chunk of a running exec's output, as the live sessions emit it. */
export interface OutputPiece {
  readonly session_id: string;
  readonly exec_id: string;
  readonly stream: OutputStreamName;
  readonly offset: number;
  readonly data: Buffer;
}

/** A record being collected: contiguous chunks kept apart until the batch is written. */
interface PendingRecord extends Omit<OutputRecord, "data"> {
  readonly parts: Buffer[];
  length: number;
}

/** Called with each batch of output once it is durable, in position order. */
export type OutputListener = (pieces: readonly StoredOutput[]) => void;

/** What an OutputLog needs. */
export interface OutputLogOptions {
  readonly store: Store;
  /** The largest piece kept as one row: contiguous chunks of one exec's stream are joined up to it. */
  readonly maxChunkBytes: number;
  /** Told when a batch could not be written (its output is then lost to resumers, not to live ones). */
  readonly onError?: (err: unknown, pieces: number) => void;
}

/**
 * Exec output, persisted as it arrives: chunks are collected for one turn of the event loop and
 * written in one transaction (contiguous chunks of the same exec and stream joined into one row),
 * and only then published, with their positions, to listeners. The producer (the PTY's data
 * callback) never waits: `append` only queues. Streams read back from the store what a client
 * missed and take the rest from here, so everything a client is sent can be resumed after a
 * restart.
 */
export class OutputLog {
  private pending: PendingRecord[] = [];
  /** The batch being written now. */
  private inflight: readonly OutputRecord[] = [];
  private pendingBytes = 0;
  private scheduled = false;
  private flushing: Promise<void> | undefined;
  private readonly listeners = new Set<OutputListener>();
  private closed = false;
  private published = 0;

  constructor(private readonly options: OutputLogOptions) {}

  /** Queues a chunk; it is written (and published) on the next turn of the event loop. */
  append(piece: OutputPiece): void {
    if (this.closed || piece.data.length === 0) return;
    const last = this.pending.at(-1);
    // Copies: the producer's buffer may be a view of one it reuses. Joined once, when written.
    const data = Buffer.from(piece.data);
    if (
      last &&
      last.exec_id === piece.exec_id &&
      last.stream === piece.stream &&
      last.offset + last.length === piece.offset &&
      last.length + data.length <= this.options.maxChunkBytes
    ) {
      last.parts.push(data);
      last.length += data.length;
    } else {
      this.pending.push({ session_id: piece.session_id, exec_id: piece.exec_id, stream: piece.stream, offset: piece.offset, parts: [data], length: data.length });
    }
    this.pendingBytes += piece.data.length;
    this.schedule();
  }

  /** @returns a function that unsubscribes */
  subscribe(listener: OutputListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** True while output of this session is queued or being written (not yet published). */
  pendingFor(sessionId: string): boolean {
    return this.pending.some((r) => r.session_id === sessionId) || this.inflight.some((r) => r.session_id === sessionId);
  }

  /**
   * The position of the last piece this log published (0 before the first since it started):
   * a listener subscribed now gets only pieces past it.
   */
  get lastPublishedPos(): number {
    return this.published;
  }

  /** Bytes queued and not yet written. */
  get backlogBytes(): number {
    return this.pendingBytes;
  }

  /** Resolves once everything appended so far is written and published. */
  async flush(): Promise<void> {
    while (this.pending.length || this.flushing) {
      if (this.flushing) await this.flushing;
      else await this.write();
    }
  }

  /** Writes what is queued; later appends are ignored. */
  async close(): Promise<void> {
    await this.flush();
    this.closed = true;
    this.listeners.clear();
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    // setImmediate, not a microtask: every chunk read in this turn joins the batch.
    setImmediate(() => {
      this.scheduled = false;
      if (!this.flushing) void this.write();
    });
  }

  private async write(): Promise<void> {
    const batch: OutputRecord[] = this.pending.map(({ parts, length, ...record }) => ({ ...record, data: parts.length === 1 ? parts[0]! : Buffer.concat(parts, length) }));
    if (!batch.length) return;
    this.pending = [];
    this.pendingBytes = 0;
    this.inflight = batch;
    const run = (async () => {
      let stored: StoredOutput[] = [];
      try {
        const positions = await this.options.store.appendOutput(batch);
        stored = batch.map((r, i) => ({ ...r, pos: positions[i]! }));
        this.published = Math.max(this.published, stored.at(-1)!.pos);
      } catch (err) {
        this.options.onError?.(err, batch.length);
        return;
      }
      for (const listener of this.listeners) {
        try {
          listener(stored);
        } catch (err) {
          this.options.onError?.(err, 0);
        }
      }
    })();
    this.flushing = run;
    try {
      await run;
    } finally {
      this.inflight = [];
      this.flushing = undefined;
      if (this.pending.length) this.schedule();
    }
  }
}
