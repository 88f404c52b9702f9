import type { ProcessExit } from "./driver.js";
import type { DriverLog } from "./log.js";

/**
 * How a live process (a shell, an interpreter helper) tells of its exit, once. The exit is known
 * as soon as the process is gone (`record`); the owner then cleans up (drains output, kills
 * what the process left behind) and `announce`s it, which settles `settled` and calls the
 * listeners. A listener added once the exit is recorded is called on the next microtask.
 */
export class ExitNotice {
  private recorded: ProcessExit | undefined;
  private readonly listeners = new Set<(exit: ProcessExit) => void>();
  /** Settles when the exit is announced, the owner's cleanup done. */
  readonly settled: Promise<ProcessExit>;
  private settle!: (exit: ProcessExit) => void;

  constructor(private readonly log: DriverLog) {
    this.settled = new Promise((resolve) => (this.settle = resolve));
  }

  /** The exit, once recorded. */
  get exit(): ProcessExit | undefined {
    return this.recorded;
  }

  /** Records the exit. @returns false when one was recorded already (the process exits once) */
  record(exit: ProcessExit): boolean {
    if (this.recorded) return false;
    this.recorded = exit;
    return true;
  }

  /** Settles `settled` and calls every listener with the recorded exit; a failing listener is logged. */
  announce(): void {
    const exit = this.recorded;
    if (!exit) throw new Error("announce() before record()");
    this.settle(exit);
    for (const listener of this.listeners) {
      try {
        listener(exit);
      } catch (err) {
        this.log.warn({ err }, "an exit listener failed");
      }
    }
    this.listeners.clear();
  }

  /** Calls `listener` at the exit. @returns a function that removes it */
  onExit(listener: (exit: ProcessExit) => void): () => void {
    const exit = this.recorded;
    if (exit) {
      queueMicrotask(() => listener(exit));
      return () => {};
    }
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}
