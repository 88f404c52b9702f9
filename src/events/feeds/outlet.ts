/** One message for a subscriber: its type, its JSON text, and (for SSE) its resume id. */
export interface OutletMessage {
  readonly type: string;
  readonly json: string;
  readonly id?: string;
}

/**
 * Where a subscriber's messages go: a WebSocket or an SSE response. `bufferedBytes` is what the
 * transport holds unsent; `drained` resolves once it has written out everything given so far.
 */
export interface Sink {
  write(messages: readonly OutletMessage[]): void;
  readonly bufferedBytes: number;
  drained(): Promise<void>;
  /** Ends the subscription: a normal end, or a cut-off (`slow_consumer`) with the cursor to resume from. */
  end(reason: EndReason): void;
  /** Called once when the client goes away (or `end` completes). */
  onClose(listener: () => void): void;
}

/** Why a subscription ended, as the client is told (docs/streams.md, close codes). */
export interface EndReason {
  /** WebSocket close code. */
  readonly code: number;
  /** Close reason (WebSocket) and the `reason` of the final SSE `cutoff`/`end` event. */
  readonly reason: string;
  /** The cursor the client stands at, for a cut-off. */
  readonly cursor?: string;
}

/** WebSocket close code for a client that fell too far behind (docs/streams.md). */
export const SLOW_CONSUMER_CODE = 4008;

/**
 * A subscriber's outgoing side. Messages pushed in one turn of the event loop go out together (one
 * WebSocket frame, one SSE write). Pushing never blocks and never waits: when what the transport
 * holds unsent plus what is queued here passes `maxBufferedBytes`, the subscriber is cut off as a
 * slow consumer (it resumes from its cursor), so a slow reader costs bounded memory and the
 * writers that feed it nothing.
 */
export class Outlet {
  private batch: OutletMessage[] = [];
  private batchBytes = 0;
  private scheduled = false;
  private ended = false;

  constructor(
    private readonly sink: Sink,
    private readonly maxBufferedBytes: number,
    /** Where the client stands before any message: named in a cut-off that comes first. */
    private lastSentId: string,
    /** false: the owner calls {@link flush} (the feed hub flushes all its clients together). */
    private readonly autoFlush = true,
  ) {
    sink.onClose(() => {
      this.ended = true;
    });
  }

  get closed(): boolean {
    return this.ended;
  }

  /** Queues a message. @returns false when the subscriber is (now) closed */
  push(message: OutletMessage): boolean {
    if (this.ended) return false;
    this.batch.push(message);
    this.batchBytes += message.json.length;
    // A batch this big goes to the transport now: only what the transport cannot send counts
    // against the client, not what a flush interval collected.
    if (this.batchBytes > this.maxBufferedBytes / 4) this.flush();
    if (this.batchBytes + this.sink.bufferedBytes > this.maxBufferedBytes) {
      this.cutOff();
      return false;
    }
    if (this.autoFlush && !this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.flush());
    }
    return true;
  }

  /** True when a backlog reader should wait for {@link room} before pushing more. */
  get full(): boolean {
    return this.batchBytes + this.sink.bufferedBytes > this.maxBufferedBytes / 2;
  }

  /**
   * For a backlog reader: resolves once the transport has room again (below half the limit), so
   * replaying a long history is paced by the client instead of cutting it off.
   */
  async room(): Promise<void> {
    this.flush();
    while (!this.ended && this.sink.bufferedBytes > this.maxBufferedBytes / 2) await this.sink.drained();
  }

  /** Sends what is queued now. */
  flush(): void {
    this.scheduled = false;
    if (this.ended || this.batch.length === 0) return;
    const batch = this.batch;
    this.batch = [];
    this.batchBytes = 0;
    for (let i = batch.length - 1; i >= 0; i--) {
      const id = batch[i]!.id;
      if (id !== undefined) {
        this.lastSentId = id;
        break;
      }
    }
    this.sink.write(batch);
  }

  /** Sends what is queued, then ends the subscription. */
  end(reason: EndReason): void {
    if (this.ended) return;
    this.flush();
    this.ended = true;
    this.sink.end(reason);
  }

  private cutOff(): void {
    // What is queued here is dropped, not sent: the client resumes from the cursor of the last
    // message handed to the transport (which still delivers what it holds, then the close).
    this.batch = [];
    this.batchBytes = 0;
    this.ended = true;
    this.sink.end({ code: SLOW_CONSUMER_CODE, reason: "slow_consumer", cursor: this.lastSentId });
  }
}
