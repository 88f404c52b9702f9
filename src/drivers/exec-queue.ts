import { SessiondError } from "../core/index.js";

interface Waiting {
  readonly task: () => Promise<unknown>;
  readonly resolve: (value: unknown) => void;
  readonly reject: (err: unknown) => void;
  readonly internal: boolean;
}

/**
 * A session's execs, one at a time, in the order they came: an exec sent while another runs
 * waits its turn. At most `maxWaiting` execs wait (internal work such as a state capture is not
 * counted); one more is refused with rate_limited (429).
 */
export class ExecQueue {
  private readonly waiting: Waiting[] = [];
  private active = false;
  private idleWaiters: (() => void)[] = [];

  constructor(private readonly maxWaiting: number) {}

  /**
   * Runs `task` after everything queued before it (or first, with `front`).
   * @throws rate_limited when `maxWaiting` execs already wait
   */
  run<T>(task: () => Promise<T>, options: { front?: boolean; internal?: boolean } = {}): Promise<T> {
    const internal = options.internal ?? false;
    if (!internal && this.full) return Promise.reject(this.fullError());
    return new Promise<T>((resolve, reject) => {
      const entry: Waiting = { task, resolve: resolve as (value: unknown) => void, reject, internal };
      if (options.front) this.waiting.unshift(entry);
      else this.waiting.push(entry);
      this.pump();
    });
  }

  /**
   * Refuses an exec that would wait past `maxWaiting`, before anything is promised for it (an
   * exec submitted without waiting is answered at once: it must not be told "queued" and dropped).
   * @throws rate_limited
   */
  assertRoom(): void {
    if (this.full) throw this.fullError();
  }

  private get full(): boolean {
    return this.active && this.waitingExecs >= this.maxWaiting;
  }

  private fullError(): SessiondError {
    return new SessiondError("rate_limited", { reason: `${this.maxWaiting} execs already wait in this session (maxQueuedExecs)` });
  }

  /** True while a task runs. */
  get busy(): boolean {
    return this.active;
  }

  /** Execs waiting (internal work not counted). */
  get waitingExecs(): number {
    let n = 0;
    for (const w of this.waiting) if (!w.internal) n++;
    return n;
  }

  /** Rejects everything still waiting with `error` (the running task finishes). */
  clear(error: Error): void {
    for (const w of this.waiting.splice(0)) w.reject(error);
  }

  /** Resolves once nothing runs and nothing waits. */
  idle(): Promise<void> {
    if (!this.active && this.waiting.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private pump(): void {
    if (this.active) return;
    const next = this.waiting.shift();
    if (!next) {
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const resolve of waiters) resolve();
      return;
    }
    this.active = true;
    let settled: Promise<unknown>;
    try {
      settled = next.task();
    } catch (err) {
      settled = Promise.reject(err);
    }
    settled.then(next.resolve, next.reject).finally(() => {
      this.active = false;
      this.pump();
    });
  }
}
