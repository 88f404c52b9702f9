/**
 * A budget of bytes per second, as a token bucket: up to `burstBytes` at once, refilled at
 * `bytesPerSecond`. A reader that overspends rests until the bucket is back to zero, as a slow
 * terminal would make a writer wait.
 */
export class ReadBudget {
  private tokens: number;
  private at: number;

  constructor(
    private readonly bytesPerSecond: number,
    private readonly burstBytes: number = bytesPerSecond,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.tokens = burstBytes;
    this.at = now();
  }

  /** Takes `bytes` out. @returns how long to rest (ms) before reading more: 0 within the budget */
  spend(bytes: number): number {
    const now = this.now();
    this.tokens = Math.min(this.burstBytes, this.tokens + ((now - this.at) * this.bytesPerSecond) / 1000);
    this.at = now;
    this.tokens -= bytes;
    return this.tokens >= 0 ? 0 : Math.ceil((-this.tokens * 1000) / this.bytesPerSecond);
  }
}
