/** Seed 004's webhooks: session lifecycle events POSTed to registered URLs, signed, retried, logged. */
import type { Registry } from "prom-client";
import { Agent } from "undici";
import { type Config, errors } from "../../core/index.js";
import type { EventBus } from "../../engine/index.js";
import type { Store } from "../../store/store.js";
import { type SinkLogger, errorFields, silentLogger } from "../logger.js";
import { counter, gauge } from "../metrics.js";
import { DeliveryDispatcher } from "./delivery-dispatcher.js";
import { DeliveryRecorder } from "./delivery-recorder.js";
import { HttpAttempts } from "./http-attempt.js";
import { type WebhookRegistration, configRegistrations, currentRegistrations } from "./registrations.js";
import { type Resolver, WebhookTargetPolicy } from "./target-policy.js";

export { retryDelayMs } from "./backoff.js";
export { WEBHOOK_EVENTS, type WebhookEvent, type WebhookPayload, isWebhookEvent, webhookPayload } from "./payload.js";
export { type WebhookRegistration, configRegistrations, wants } from "./registrations.js";
export { WEBHOOK_HEADERS, type WebhookVerification, signWebhook, verifyWebhookSignature } from "./signature.js";
export { type Resolver, TargetRefusedError, WebhookTargetPolicy } from "./target-policy.js";

/** What the webhook sink runs on. */
export interface WebhookSinkOptions {
  readonly config: Config;
  readonly bus: EventBus;
  /** Holds the registrations and the delivery log; must stay open until `close()` resolves. */
  readonly store: Store;
  readonly logger?: SinkLogger;
  readonly registry?: Registry;
  /** @default Date.now */
  readonly clock?: () => number;
  /** Resolves webhook host names before each connection (and the policy checks the answer). @default dns.lookup */
  readonly resolve?: Resolver;
}

/** What the webhook sink has done since it started. */
export interface WebhookSinkStats {
  /** Session events waiting to be recorded as deliveries. */
  readonly buffered: number;
  /** Deliveries recorded in the store. */
  readonly recorded: number;
  /** Session events dropped before being recorded (buffer full, or the store failing). */
  readonly dropped: number;
  /** Attempts running now. */
  readonly inFlight: number;
}

/** The running webhook sink. */
export interface WebhookSink {
  stats(): WebhookSinkStats;
  /** Every registration now: the config's and the store's (secrets included: do not serialize as is). */
  registrations(): Promise<WebhookRegistration[]>;
  /** Records buffered events as deliveries now; resolves once they are in the store. */
  flush(): Promise<void>;
  /**
   * Stops listening and records what is buffered; then, for up to `drainTimeoutMs`, sends the
   * deliveries that are due (a session's next events after its earlier ones), until none is;
   * then interrupts attempts still in flight (their deliveries stay pending, due at once, for the
   * next process with a sender) and closes the HTTP client. Deliveries backing off into the
   * future, and the later events of their sessions, stay pending in the store. The store stays
   * open. Later calls return the first call's promise.
   *
   * @param options.drainTimeoutMs how long to keep sending; 0 hands everything back at once.
   *   @default config `webhookDrainTimeoutMs`
   */
  close(options?: { readonly drainTimeoutMs?: number }): Promise<void>;
}

/**
 * Starts delivering webhooks: records each committed start/pause/resume/complete/error/timeout
 * event as one delivery per matching registration, and sends due deliveries, including those a
 * previous run left pending, at once. Targets follow config `webhookAllowHosts` (see
 * WebhookTargetPolicy): a refused one fails its delivery without a request.
 *
 * On a store several nodes share, each node records the events it commits and sends whichever
 * deliveries it claims first; registrations are read from the store each time, so one made
 * through any node counts on every node from its next event. Config-file webhooks are each
 * node's own: nodes must be configured alike (a delivery to a config webhook this node lacks is
 * failed as no longer registered).
 *
 * @throws validation naming `config.webhooks.<i>.url` when a config-file webhook's target is
 *   refused, or Error naming a `webhookAllowHosts` entry that is not a host, address or range
 */
export function startWebhooks(options: WebhookSinkOptions): WebhookSink {
  const { config, store } = options;
  const logger = options.logger ?? silentLogger;
  const clock = options.clock ?? Date.now;
  const policy = new WebhookTargetPolicy(config.webhookAllowHosts, options.resolve);
  config.webhooks.forEach((w, i) => {
    const refusal = policy.check(w.url);
    if (refusal !== undefined) throw errors.validation(`config.webhooks.${i}.url`, refusal);
  });
  const fromConfig = configRegistrations(config.webhooks);
  const registrations = () => currentRegistrations(store, fromConfig);
  // Every connection resolves its name through the policy, so the address checked is the one used.
  const dispatcherAgent = new Agent({ connect: { lookup: policy.lookup } });

  const dispatcher = new DeliveryDispatcher({
    store,
    registrations,
    http: new HttpAttempts(dispatcherAgent, config.webhookTimeoutMs, policy),
    maxConcurrency: config.webhookMaxConcurrency,
    maxAttempts: config.webhookMaxAttempts,
    backoff: { baseMs: config.webhookBackoffBaseMs, maxMs: config.webhookBackoffMaxMs },
    attemptTimeoutMs: config.webhookTimeoutMs,
    pollIntervalMs: config.webhookPollIntervalMs,
    logger,
    clock,
    metrics: {
      attempts: counter(options.registry, {
        name: "sessiond_webhook_attempts_total",
        help: "Webhook delivery attempts, by outcome (delivered, failed, refused: a target webhookAllowHosts does not allow)",
        labelNames: ["outcome"] as const,
      }),
      finished: counter(options.registry, {
        name: "sessiond_webhook_deliveries_total",
        help: "Webhook deliveries finished, by status (delivered, failed after the last attempt)",
        labelNames: ["status"] as const,
      }),
    },
  });
  const recorder = new DeliveryRecorder(options.bus, {
    store,
    registrations,
    flushIntervalMs: config.webhookFlushIntervalMs,
    maxBuffered: config.webhookMaxBufferedEvents,
    onRecorded: () => dispatcher.wake(),
    logger,
    clock,
    dropped: counter(options.registry, {
      name: "sessiond_webhook_events_dropped_total",
      help: "Session events not turned into webhook deliveries: the buffer was full or the store failed",
    }),
  });
  gauge(options.registry, { name: "sessiond_webhook_attempts_in_flight", help: "Webhook attempts running now" }, () => dispatcher.inFlightCount);

  const prune = async () => {
    if (config.webhookLogRetentionMs === 0) return;
    try {
      const removed = await store.pruneWebhookDeliveries(new Date(clock() - config.webhookLogRetentionMs).toISOString());
      if (removed) logger.info({ removed }, "pruned old webhook deliveries");
    } catch (err) {
      logger.warn(errorFields(err), "could not prune old webhook deliveries");
    }
  };
  const pruning = setInterval(() => void prune(), config.webhookLogPruneIntervalMs);
  pruning.unref();
  void prune();
  dispatcher.wake();
  if (fromConfig.length) logger.info({ webhooks: fromConfig.map((r) => ({ id: r.id, url: r.url, events: r.events })) }, "webhooks from config");

  let closing: Promise<void> | undefined;
  return {
    stats: () => ({ ...recorder.stats(), inFlight: dispatcher.inFlightCount }),
    registrations: async () => [...(await registrations()).values()],
    flush: () => recorder.flush(),
    close: (closeOptions) =>
      (closing ??= (async () => {
        clearInterval(pruning);
        await recorder.close();
        await dispatcher.close(closeOptions?.drainTimeoutMs ?? config.webhookDrainTimeoutMs);
        await dispatcherAgent.close();
      })()),
  };
}
