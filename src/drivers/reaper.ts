import type { Config } from "../core/index.js";

/** What the reaper looks at in a live session. */
export interface ReapCandidate {
  /** When the process (re)started, ms since the epoch. */
  readonly startedAt: number;
  /** The end of the last exec (or the start), ms since the epoch. */
  readonly lastActivity: number;
  /** An exec is running now (a running exec is activity). */
  readonly busy: boolean;
}

/** Why a live session is over its limits, or undefined when it is not. */
export function overLimit(candidate: ReapCandidate, now: number, limits: Pick<Config, "idleTimeoutMs" | "maxLifetimeMs">): string | undefined {
  const idle = candidate.busy ? 0 : now - candidate.lastActivity;
  if (limits.idleTimeoutMs > 0 && idle >= limits.idleTimeoutMs) {
    return `idle_timeout: no exec for ${idle} ms (idleTimeoutMs is ${limits.idleTimeoutMs})`;
  }
  const age = now - candidate.startedAt;
  if (limits.maxLifetimeMs > 0 && age >= limits.maxLifetimeMs) {
    return `max_lifetime: running for ${age} ms (maxLifetimeMs is ${limits.maxLifetimeMs})`;
  }
  return undefined;
}

/**
 * Runs `sweep` every `intervalMs` while started; the timer does not keep the process alive, and a
 * sweep never overlaps the previous one.
 */
export class Reaper {
  private timer: NodeJS.Timeout | undefined;
  private sweeping = false;

  constructor(
    private readonly intervalMs: number,
    private readonly sweep: () => Promise<void>,
  ) {}

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => {
      if (this.sweeping) return;
      this.sweeping = true;
      void this.sweep().finally(() => (this.sweeping = false));
    }, this.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  get running(): boolean {
    return this.timer !== undefined;
  }
}
