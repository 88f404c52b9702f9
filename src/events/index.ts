/**
 * Sinks on the engine's event bus: Redis pub/sub (seed 003) and webhooks (seed 004). The server
 * starts them once, after the SessionManager and before it listens, and closes them before the
 * manager.
 */
import type { Registry } from "prom-client";
import type { Config } from "../core/index.js";
import type { SessionManager } from "../engine/index.js";
import type { Store } from "../store/store.js";
import { type SinkLogger, silentLogger } from "./logger.js";
import { RedisPublisher, type RedisPublisherStats } from "./redis/index.js";
import { type WebhookSink, type WebhookSinkStats, startWebhooks } from "./webhooks/index.js";

export type { SinkLogger } from "./logger.js";
export * from "./redis/index.js";
export * from "./webhooks/index.js";
export type { WebhookDelivery, WebhookDeliveryStatus, WebhookRecord } from "../store/store.js";

/** What the event sinks run on. */
export interface EventSinksOptions {
  readonly config: Config;
  /** Its bus is listened to; close() flushes it first. */
  readonly manager: SessionManager;
  /** The manager's store: webhook registrations and the delivery log live there. */
  readonly store: Store;
  /** pino's logger (or a child) fits. @default silent */
  readonly logger?: SinkLogger;
  /** Where counters and gauges are registered (the server's /metrics registry). */
  readonly registry?: Registry;
}

/** Both sinks' counts, for /metrics, health checks and tests. */
export interface EventSinksStats {
  /** null when Redis is not configured. */
  readonly redis: RedisPublisherStats | null;
  readonly webhooks: WebhookSinkStats;
}

/** The running sinks. */
export interface EventSinks {
  /** The Redis publisher; undefined unless `redisUrl` is configured. */
  readonly redis: RedisPublisher | undefined;
  readonly webhooks: WebhookSink;
  stats(): EventSinksStats;
  /**
   * Flushes the manager (so every change committed so far reaches the sinks), then stops both
   * sinks: queued Redis messages are published if Redis is up, buffered webhook events are
   * recorded, due webhook deliveries are sent for up to `webhookDrainTimeoutMs`, and what is
   * still in flight then is handed back as pending. Call it before `manager.close()`: the store
   * must still be open.
   */
  close(): Promise<void>;
}

/**
 * Starts the event sinks a config asks for: the Redis publisher when `redisUrl` is set (ioredis is
 * loaded only then), and the webhook sender always (registrations may arrive at any time through
 * the API or `configureWebhook`). Resolves without waiting for Redis to be reachable.
 *
 * @example
 * const sinks = await startEventSinks({ config, manager, store, logger: app.log, registry: metrics.registry });
 * // … on shutdown, after the HTTP server stopped taking requests:
 * await sinks.close();
 * await manager.close();
 */
export async function startEventSinks(options: EventSinksOptions): Promise<EventSinks> {
  const { config, manager } = options;
  const logger = options.logger ?? silentLogger;
  const common = { logger, ...(options.registry ? { registry: options.registry } : {}) };
  // Webhooks first and synchronously: from here on no committed event is missed.
  const webhooks = startWebhooks({ config, bus: manager.bus, store: options.store, ...common });
  let redis: RedisPublisher | undefined;
  if (config.redisUrl) {
    try {
      redis = await RedisPublisher.start(manager.bus, {
        url: config.redisUrl,
        channel: config.redisChannel,
        maxQueuedMessages: config.redisMaxQueuedMessages,
        commandTimeoutMs: config.redisCommandTimeoutMs,
        ...common,
      });
    } catch (err) {
      await webhooks.close();
      throw err;
    }
  }
  let closing: Promise<void> | undefined;
  return {
    redis,
    webhooks,
    stats: () => ({ redis: redis?.stats() ?? null, webhooks: webhooks.stats() }),
    close: () =>
      (closing ??= (async () => {
        if (!manager.isClosed) await manager.flush();
        await Promise.all([redis?.close(), webhooks.close()]);
      })()),
  };
}
