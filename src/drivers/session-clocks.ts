import { errors } from "../core/index.js";
import type { LiveProcess } from "./driver.js";

/**
 * The `extend_ms` of a lifetime extension, checked before the session is looked up.
 * @throws validation naming `extend_ms` unless it is an integer from 1 to maxLifetimeMs
 */
export function extendMsOf(value: unknown, maxLifetimeMs: number): number {
  const limit = Math.max(maxLifetimeMs, 1);
  if (typeof value !== "number" || !Number.isInteger(value) || value < 1 || value > limit) {
    throw errors.validation("extend_ms", `expected an integer from 1 to ${limit} (maxLifetimeMs)`);
  }
  return value;
}

/**
 * The idle and lifetime clocks of one live session, in ms since the epoch. While the session is
 * paused (SIGSTOP) both stand still: on resume both move out by the pause. An extension moves the
 * lifetime's end out.
 */
export class SessionClocks {
  private started: number;
  private active: number;
  /** Set while paused: when the pause began. */
  private pausedAt: number | undefined;
  /** Time spent paused, and lifetime added by extend: both push the lifetime's end out. */
  private shiftMs = 0;
  /** Pauses and resumes, in order. */
  private turns: Promise<void> = Promise.resolve();

  constructor(
    private readonly clock: () => number,
    now: number,
  ) {
    this.started = this.active = now;
  }

  /** When the process started. */
  get startedAt(): number {
    return this.started;
  }

  /** The last activity (an exec, stdin, background output), moved out by pauses. */
  get lastActivity(): number {
    return this.active;
  }

  /** When the lifetime began, moved out by pauses and extensions: what the reaper measures it from. */
  get lifetimeStart(): number {
    return this.started + this.shiftMs;
  }

  /** Paused now: both clocks stand still. */
  get paused(): boolean {
    return this.pausedAt !== undefined;
  }

  /** The process came up at `at`: both clocks run from there. */
  start(at: number): void {
    this.started = this.active = at;
  }

  /** Activity at `at`. */
  activeAt(at: number): void {
    this.active = at;
  }

  /** Activity seen now; the idle clock never moves back. */
  activeNow(): void {
    this.active = Math.max(this.active, this.clock());
  }

  /** Moves the lifetime's end out by `ms`. */
  extend(ms: number): void {
    this.shiftMs += ms;
  }

  /** When the lifetime ends (null without a limit; while paused, as if resumed now). */
  lifetimeEnd(maxLifetimeMs: number): string | null {
    if (maxLifetimeMs <= 0) return null;
    const paused = this.pausedAt === undefined ? 0 : this.clock() - this.pausedAt;
    return new Date(this.lifetimeStart + paused + maxLifetimeMs).toISOString();
  }

  /**
   * Pauses (`on`: SIGSTOP) or resumes (SIGCONT) the process and everything it started, after the
   * pauses and resumes asked for before. `process` is asked at that turn; nothing happens when it
   * gives none that can pause, or when the session already is as asked. `resumed` runs once a
   * resume has moved the clocks.
   * @returns settles when this turn is over: rejects when the signal failed (later turns still run)
   */
  suspend(on: boolean, process: () => Pick<LiveProcess, "suspend"> | undefined, resumed: () => void): Promise<void> {
    const turn = this.turns.then(async () => {
      const proc = process();
      if (!proc?.suspend) return;
      if (on) {
        if (this.pausedAt !== undefined) return;
        this.pausedAt = this.clock();
        await proc.suspend(true);
      } else {
        if (this.pausedAt === undefined) return;
        await proc.suspend(false);
        const paused = this.clock() - this.pausedAt;
        this.pausedAt = undefined;
        this.shiftMs += paused;
        this.active += paused;
        resumed();
      }
    });
    this.turns = turn.catch(() => {});
    return turn;
  }
}
