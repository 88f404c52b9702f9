import { setImmediate as nextTurn } from "node:timers/promises";

/**
 * How long a run of synchronous file work may hold the event loop before it lets other work in.
 * Snapshots and restores handle thousands of small files with synchronous calls (an
 * asynchronous call per file pays a thread-pool round trip that costs more than the call), in
 * slices this long, so a server keeps answering while one runs.
 */
const SLICE_MS = 8;

/** Tracks one slice: `check()` yields to the event loop once the slice has run its time. */
export class TimeSlice {
  private started = performance.now();

  /** Yields (one turn of the event loop) when this slice is used up; otherwise returns at once. */
  async check(): Promise<void> {
    if (performance.now() - this.started < SLICE_MS) return;
    await nextTurn();
    this.started = performance.now();
  }
}
