import { ExponentialBackoff } from "cockatiel";

/** The retry schedule of webhook deliveries. */
export interface BackoffOptions {
  /** The scale of the first delay. */
  readonly baseMs: number;
  /** No delay is longer. */
  readonly maxMs: number;
}

/**
 * How long to wait after the `attempts`-th failed attempt before the next: cockatiel's
 * exponential backoff with decorrelated jitter (its default generator, from Polly), so retries
 * of many deliveries spread out instead of arriving together.
 *
 * The schedule lives in the store (each pending delivery's `next_attempt_at`), not in a retry
 * loop held in memory, so that it survives a restart and a receiver that is down for hours costs
 * no memory. cockatiel's backoffs are immutable chains, so the delay for attempt n is the n-th
 * link of a fresh chain: a fresh sample of the same jittered distribution.
 */
export function retryDelayMs(attempts: number, options: BackoffOptions): number {
  let backoff = new ExponentialBackoff({ initialDelay: options.baseMs, maxDelay: options.maxMs }).next();
  for (let i = 1; i < attempts; i++) backoff = backoff.next(undefined);
  return Math.round(backoff.duration);
}
