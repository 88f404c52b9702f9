import type { FastifyBaseLogger } from "fastify";
import type { Config } from "../core/index.js";
import type { SessionManager } from "../engine/index.js";

/**
 * Seed 004's auto-cleanup: every `retentionIntervalMs`, deletes sessions that ended
 * (completed, failed, timeout) more than `retentionDays` ago, and logs how many. Their
 * workspaces go with them: the server deletes a workspace whenever its session is deleted.
 * Off when `retentionDays` is 0.
 */
export class RetentionJob {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<number> | undefined;

  constructor(
    private readonly manager: SessionManager,
    private readonly config: Pick<Config, "retentionDays" | "retentionIntervalMs">,
    private readonly log: FastifyBaseLogger,
  ) {}

  get enabled(): boolean {
    return this.config.retentionDays > 0;
  }

  /** Runs once now, then every interval. The timer does not keep the process alive. */
  start(): void {
    if (!this.enabled || this.timer) return;
    void this.runOnce();
    this.timer = setInterval(() => void this.runOnce(), this.config.retentionIntervalMs);
    this.timer.unref();
  }

  /** Stops the timer and waits for a run in progress. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.running?.catch(() => undefined);
  }

  /** One cleanup pass. @returns how many sessions it deleted (0 when a pass is already running) */
  async runOnce(): Promise<number> {
    if (this.running || this.manager.isClosed) return 0;
    this.running = this.manager.cleanup(this.config.retentionDays);
    try {
      const deleted = await this.running;
      this.log.info({ deleted, retentionDays: this.config.retentionDays }, `retention deleted ${deleted} session(s)`);
      return deleted;
    } catch (err) {
      this.log.error({ err }, "retention cleanup failed");
      return 0;
    } finally {
      this.running = undefined;
    }
  }
}
