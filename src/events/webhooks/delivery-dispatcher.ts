import type { Counter } from "prom-client";
import type { Store, WebhookDelivery, WebhookDeliveryUpdate } from "../../store/store.js";
import { type SinkLogger, errorFields } from "../logger.js";
import { type BackoffOptions, retryDelayMs } from "./backoff.js";
import type { AttemptOutcome, HttpAttempts } from "./http-attempt.js";
import type { WebhookRegistration } from "./registrations.js";
import { WEBHOOK_HEADERS, signWebhook } from "./signature.js";

/** What a DeliveryDispatcher needs. */
export interface DeliveryDispatcherOptions {
  readonly store: Pick<Store, "claimDueWebhookDeliveries" | "nextWebhookDeliveryAt" | "updateWebhookDelivery">;
  readonly registrations: () => Promise<ReadonlyMap<string, WebhookRegistration>>;
  readonly http: HttpAttempts;
  /** Attempts in flight at once. */
  readonly maxConcurrency: number;
  /** Attempts per delivery, the first included. */
  readonly maxAttempts: number;
  readonly backoff: BackoffOptions;
  /** One attempt's time limit; a claim's lease is twice that, so it outlives the attempt. */
  readonly attemptTimeoutMs: number;
  /** The longest it sleeps before looking for due deliveries again. */
  readonly pollIntervalMs: number;
  readonly logger: SinkLogger;
  readonly clock: () => number;
  readonly metrics: {
    /** Attempts by outcome (delivered, failed, refused by the target policy). */
    readonly attempts: Counter<"outcome">;
    /** Deliveries finished, by status (delivered, failed). */
    readonly finished: Counter<"status">;
  };
}

/**
 * Sends due deliveries from the store with bounded concurrency. The store is the queue: each
 * round claims (leases) as many due deliveries as there are free slots (only the head of each
 * webhook's queue of one session's events, so those go out one at a time, in seq order; see
 * `Store.claimDueWebhookDeliveries`), attempts each once, and
 * writes the outcome back: delivered, failed for good after `maxAttempts`, or pending again with
 * `next_attempt_at` pushed out by the backoff; an attempt the target policy refused fails the
 * delivery at once (trying again would be refused again). It wakes when deliveries are recorded,
 * when an attempt ends, and when the soonest pending one falls due (at most `pollIntervalMs`
 * later), so a restart picks up exactly where the store says.
 *
 * Several nodes on one store each run one: any of them may send any due delivery, whichever node
 * recorded it. The claim leases each delivery to one claimer atomically (PostgreSQL: FOR UPDATE
 * SKIP LOCKED), so each attempt is made by one node; a node learns of deliveries another recorded
 * (a retry falling due, or those of a node that stopped) from the store, within `pollIntervalMs`.
 * Leases are measured with the nodes' clocks, which must agree to well within an attempt's timeout.
 */
export class DeliveryDispatcher {
  private readonly inFlight = new Set<Promise<void>>();
  private readonly shutdown = new AbortController();
  private pumping: Promise<void> | undefined;
  private wakeAgain = false;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(private readonly options: DeliveryDispatcherOptions) {}

  /** Attempts running now. */
  get inFlightCount(): number {
    return this.inFlight.size;
  }

  /** Looks for due deliveries now. */
  wake(): void {
    if (this.closed) return;
    if (this.pumping) {
      this.wakeAgain = true;
      return;
    }
    this.pumping = this.pump().finally(() => {
      this.pumping = undefined;
      if (this.wakeAgain) {
        this.wakeAgain = false;
        this.wake();
      }
    });
  }

  /**
   * Sends what is due for up to `drainTimeoutMs` (see `drain`), then stops claiming, interrupts
   * attempts still in flight and hands their deliveries back to the store as due, the attempt
   * not counted (the next process with a sender sends them again, under the same delivery id).
   * Deliveries backing off into the future stay pending as they are.
   */
  async close(drainTimeoutMs = 0): Promise<void> {
    if (drainTimeoutMs > 0 && !this.closed) {
      let expire: NodeJS.Timeout | undefined;
      // Not unref'd: a process ending while it drains would leave attempts leased, not handed back.
      const expired = new Promise<void>((resolve) => (expire = setTimeout(resolve, drainTimeoutMs)));
      try {
        await Promise.race([this.drain(), expired]);
      } finally {
        clearTimeout(expire);
      }
    }
    this.closed = true;
    clearTimeout(this.timer);
    this.shutdown.abort();
    await this.pumping;
    await Promise.all(this.inFlight);
  }

  /**
   * Resolves once nothing is due: no attempt in flight, and a fresh look at the store claims
   * nothing. An attempt that ends wakes the dispatcher, which claims the next due delivery (the
   * next event of the same session included), so this sends queues through to their end; a
   * delivery whose attempt failed is backing off into the future and is not waited for, nor are
   * the later events queued behind it.
   */
  private async drain(): Promise<void> {
    for (;;) {
      if (this.inFlight.size) {
        await Promise.race(this.inFlight);
      } else if (this.pumping) {
        await this.pumping;
      } else {
        this.wake();
        await this.pumping;
        if (!this.inFlight.size && !this.pumping) return;
      }
    }
  }

  private async pump(): Promise<void> {
    clearTimeout(this.timer);
    try {
      for (;;) {
        const free = this.options.maxConcurrency - this.inFlight.size;
        // Full: an attempt that ends wakes the dispatcher.
        if (free <= 0) return;
        const now = this.options.clock();
        const leaseUntil = iso(now + 2 * this.options.attemptTimeoutMs);
        const claimed = await this.options.store.claimDueWebhookDeliveries(iso(now), leaseUntil, free);
        if (claimed.length) {
          const registrations = await this.options.registrations();
          for (const delivery of claimed) this.start(delivery, registrations.get(delivery.webhook_id));
        }
        if (claimed.length < free || this.closed) break;
      }
      if (!this.closed) this.sleepUntil(await this.options.store.nextWebhookDeliveryAt());
    } catch (err) {
      this.options.logger.error(errorFields(err), "could not read due webhook deliveries; trying again later");
      this.sleepUntil(undefined);
    }
  }

  private sleepUntil(next: string | undefined): void {
    if (this.closed) return;
    const wait = next === undefined ? this.options.pollIntervalMs : Date.parse(next) - this.options.clock();
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.wake(), Math.max(0, Math.min(wait, this.options.pollIntervalMs)));
    // The server keeps the process alive; a sleeping dispatcher alone should not.
    this.timer.unref();
  }

  private start(delivery: WebhookDelivery, registration: WebhookRegistration | undefined): void {
    const task = this.attempt(delivery, registration)
      .catch((err: unknown) => {
        this.options.logger.error({ ...errorFields(err), delivery: delivery.id }, "could not record a webhook attempt");
      })
      .finally(() => {
        this.inFlight.delete(task);
        this.wake();
      });
    this.inFlight.add(task);
  }

  private async attempt(d: WebhookDelivery, registration: WebhookRegistration | undefined): Promise<void> {
    const { store, clock, logger } = this.options;
    if (!registration) {
      await store.updateWebhookDelivery({
        ...unchanged(d),
        status: "failed",
        next_attempt_at: null,
        last_error: `webhook ${d.webhook_id} is no longer registered`,
      });
      this.options.metrics.finished.inc({ status: "failed" });
      return;
    }
    const attempt = d.attempts + 1;
    const outcome = await this.options.http.send(
      { url: registration.url, body: d.body, headers: headers(d, attempt, registration, clock()) },
      this.shutdown.signal,
    );
    if (outcome.kind === "cancelled") {
      await store.updateWebhookDelivery({ ...unchanged(d), next_attempt_at: iso(clock()) });
      return;
    }
    this.options.metrics.attempts.inc({ outcome: outcome.kind });
    const update = this.outcomeUpdate(d, attempt, outcome);
    await store.updateWebhookDelivery(update);
    if (update.status !== "pending") this.options.metrics.finished.inc({ status: update.status });
    if (update.status === "failed") {
      logger.warn(
        { delivery: d.id, webhook: d.webhook_id, url: registration.url, attempts: attempt, error: update.last_error },
        "gave up on a webhook delivery",
      );
    } else if (update.status === "pending") {
      logger.debug({ delivery: d.id, webhook: d.webhook_id, attempt, error: update.last_error, next: update.next_attempt_at }, "webhook attempt failed; will retry");
    }
  }

  private outcomeUpdate(d: WebhookDelivery, attempts: number, outcome: Exclude<AttemptOutcome, { kind: "cancelled" }>): WebhookDeliveryUpdate {
    const now = this.options.clock();
    if (outcome.kind === "delivered") {
      return { id: d.id, status: "delivered", attempts, last_status_code: outcome.statusCode, last_error: null, next_attempt_at: null, delivered_at: iso(now) };
    }
    const base = { id: d.id, attempts, last_status_code: outcome.kind === "failed" ? outcome.statusCode : null, last_error: outcome.error, delivered_at: null };
    if (outcome.kind === "refused" || attempts >= this.options.maxAttempts) return { ...base, status: "failed", next_attempt_at: null };
    return { ...base, status: "pending", next_attempt_at: iso(now + retryDelayMs(attempts, this.options.backoff)) };
  }
}

/** The request headers of one attempt; signed when the registration has a secret. */
function headers(d: WebhookDelivery, attempt: number, registration: WebhookRegistration, now: number): Record<string, string> {
  const timestamp = String(Math.floor(now / 1000));
  return {
    "content-type": "application/json",
    "user-agent": "sessiond-webhooks",
    [WEBHOOK_HEADERS.event]: d.event,
    [WEBHOOK_HEADERS.delivery]: d.id,
    [WEBHOOK_HEADERS.attempt]: String(attempt),
    [WEBHOOK_HEADERS.timestamp]: timestamp,
    ...(registration.secret ? { [WEBHOOK_HEADERS.signature]: signWebhook(registration.secret, timestamp, d.body) } : {}),
  };
}

function unchanged(d: WebhookDelivery): WebhookDeliveryUpdate {
  const { id, status, attempts, last_status_code, last_error, next_attempt_at, delivered_at } = d;
  return { id, status, attempts, last_status_code, last_error, next_attempt_at, delivered_at };
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}
