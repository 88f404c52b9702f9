import type { Redis } from "ioredis";
import type { Registry } from "prom-client";
import type { EventBus, SessionChange } from "../../engine/index.js";
import { BoundedQueue } from "../bounded-queue.js";
import { type SinkLogger, errorFields, silentLogger } from "../logger.js";
import { counter, gauge } from "../metrics.js";
import { redisMessageJson } from "./messages.js";

/** Messages published by one script call: enough to amortize the call, small enough to keep Redis responsive. */
const PUBLISH_BATCH = 500;
/**
 * Batches awaiting Redis's reply at once. More than one, so a writer that keeps the event loop
 * busy cannot outrun a drain that waits a round trip per batch; bounded, so what is handed to
 * ioredis stays bounded too.
 */
const MAX_BATCHES_IN_FLIGHT = 8;

/**
 * Publishes each line of ARGV[1] on channel KEYS[1], in order, in one command, and answers how
 * many. ioredis spends several microseconds of our CPU per command (a Command object, a promise,
 * a parsed reply); one script call per batch makes the publisher's cost per message a fraction of
 * that, which matters because it shares the event loop with the writers. The batch goes as one
 * Buffer of newline-separated messages (JSON text never holds a raw newline): the messages' strings
 * die as soon as the batch is encoded instead of living on the heap until Redis answers, which
 * saves the garbage collector about a microsecond per message. ioredis caches the script (EVALSHA,
 * falling back to EVAL).
 */
const PUBLISH_SCRIPT = "local n = 0 for m in string.gmatch(ARGV[1], '[^\\n]+') do redis.call('PUBLISH', KEYS[1], m) n = n + 1 end return n";

/** The client with the batch-publish script defined on it. */
type PublishingClient = Redis & { publishBatch(channel: string, messages: Buffer): Promise<number> };

/** How a RedisPublisher connects and how much it holds. */
export interface RedisPublisherOptions {
  /** e.g. `redis://127.0.0.1:6379`. */
  readonly url: string;
  readonly channel: string;
  /** Messages held while Redis is away; past this the oldest are dropped. */
  readonly maxQueuedMessages: number;
  /** How long a publish waits for its reply before it counts as failed. */
  readonly commandTimeoutMs: number;
  readonly logger?: SinkLogger;
  /** Where the published/dropped counters are registered. */
  readonly registry?: Registry;
}

/** Why a message was not published. */
export type RedisDropReason = "overflow" | "error" | "shutdown";

/** What the publisher has done so far. */
export interface RedisPublisherStats {
  /** Messages Redis acknowledged. */
  readonly published: number;
  /** Messages given up on: the queue overflowed while Redis was away, a publish failed, or they were queued at shutdown. */
  readonly dropped: number;
  readonly droppedBy: Readonly<Record<RedisDropReason, number>>;
  /** Messages waiting to be published. */
  readonly queued: number;
  /** Whether the connection to Redis is up now. */
  readonly connected: boolean;
}

/**
 * Publishes every committed session change on a Redis channel, in seed 003's shape. The bus
 * listener only serializes and enqueues, so a slow or absent Redis never slows a write; a drain
 * sends the queue in batches while the connection is up. ioredis reconnects on its own;
 * its offline queue is off, so the only buffer is ours, bounded, with drops counted.
 */
export class RedisPublisher {
  private readonly queue: BoundedQueue<string>;
  private readonly logger: SinkLogger;
  private readonly unsubscribe: () => void;
  private client: PublishingClient | undefined;
  private drainScheduled = false;
  private readonly inFlight = new Set<Promise<void>>();
  private closed = false;
  private wasConnected = false;
  private outageReported = false;
  private published = 0;
  private readonly dropped: Record<RedisDropReason, number> = { overflow: 0, error: 0, shutdown: 0 };
  private readonly publishedCounter;
  private readonly droppedCounter;

  /**
   * Subscribes to `bus` at once, so nothing committed from here on is missed, then loads ioredis
   * and starts connecting. Resolves without waiting for the connection: an unreachable Redis must
   * not keep the server from starting.
   */
  static async start(bus: EventBus, options: RedisPublisherOptions): Promise<RedisPublisher> {
    const publisher = new RedisPublisher(bus, options);
    await publisher.connect();
    return publisher;
  }

  private constructor(
    bus: EventBus,
    private readonly options: RedisPublisherOptions,
  ) {
    this.queue = new BoundedQueue(options.maxQueuedMessages);
    this.logger = options.logger ?? silentLogger;
    this.publishedCounter = counter(options.registry, {
      name: "sessiond_redis_messages_published_total",
      help: "Session change messages Redis acknowledged",
    });
    this.droppedCounter = counter(options.registry, {
      name: "sessiond_redis_messages_dropped_total",
      help: "Session change messages not published: queue overflow while Redis was away, a failed publish, or shutdown",
      labelNames: ["reason"] as const,
    });
    gauge(options.registry, { name: "sessiond_redis_queued_messages", help: "Messages waiting to be published to Redis" }, () => this.queue.length);
    gauge(options.registry, { name: "sessiond_redis_connected", help: "1 while the connection to Redis is up" }, () => (this.isReady() ? 1 : 0));
    this.unsubscribe = bus.subscribe(this.onChange);
  }

  /** Counts so far; cheap enough to call on every scrape. */
  stats(): RedisPublisherStats {
    const droppedBy = { ...this.dropped };
    return {
      published: this.published,
      dropped: droppedBy.overflow + droppedBy.error + droppedBy.shutdown,
      droppedBy,
      queued: this.queue.length,
      connected: this.isReady(),
    };
  }

  /**
   * Stops listening, publishes what is queued if Redis is up (each publish bounded by the command
   * timeout), counts the rest as dropped, and closes the connection.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.unsubscribe();
    if (this.isReady()) this.drain();
    while (this.inFlight.size) {
      await Promise.all(this.inFlight);
      if (this.isReady()) this.drain();
    }
    this.drop("shutdown", this.queue.clear());
    const client = this.client;
    if (!client) return;
    if (client.status === "ready") {
      await client.quit().catch(() => client.disconnect());
    } else {
      client.disconnect();
    }
  }

  // The bus calls this synchronously after each commit: serialize, enqueue, and return.
  private readonly onChange = (change: SessionChange): void => {
    if (this.queue.push(redisMessageJson(change))) this.drop("overflow", 1);
    this.scheduleDrain();
  };

  private async connect(): Promise<void> {
    const { Redis } = await import("ioredis");
    if (this.closed) return;
    const client = new Redis(this.options.url, {
      lazyConnect: true,
      // Our queue is the only buffer: ioredis's offline queue is unbounded, and resending
      // unanswered publishes after a reconnect would duplicate them.
      enableOfflineQueue: false,
      autoResendUnfulfilledCommands: false,
      commandTimeout: this.options.commandTimeoutMs,
      // ioredis's default retryStrategy reconnects forever with a delay growing to 2 s.
    }) as PublishingClient;
    client.defineCommand("publishBatch", { numberOfKeys: 1, lua: PUBLISH_SCRIPT });
    this.client = client;
    client.on("ready", () => {
      this.logger.info({ channel: this.options.channel, reconnect: this.wasConnected }, "connected to Redis; publishing session events");
      this.wasConnected = true;
      this.outageReported = false;
      this.scheduleDrain();
    });
    client.on("error", (err: unknown) => {
      // ioredis reports every failed reconnect; say it once per outage.
      if (this.outageReported) return;
      this.outageReported = true;
      this.logger.warn(
        { ...errorFields(err), queued: this.queue.length, maxQueued: this.options.maxQueuedMessages },
        "Redis is unreachable; holding session events in a bounded queue and reconnecting",
      );
    });
    // A failed first connect is reported through the error event and retried by ioredis.
    client.connect().catch(() => {});
  }

  private isReady(): boolean {
    return this.client?.status === "ready";
  }

  private scheduleDrain(): void {
    if (this.drainScheduled || this.inFlight.size >= MAX_BATCHES_IN_FLIGHT || !this.queue.length || !this.isReady()) return;
    this.drainScheduled = true;
    setImmediate(() => {
      this.drainScheduled = false;
      if (!this.closed) this.drain();
    });
  }

  /** Sends queued messages in batches, up to the in-flight bound, without waiting for replies. */
  private drain(): void {
    while (this.queue.length && this.isReady() && this.inFlight.size < MAX_BATCHES_IN_FLIGHT) {
      const sent: Promise<void> = this.publishBatch(this.queue.take(PUBLISH_BATCH)).finally(() => {
        this.inFlight.delete(sent);
        if (!this.closed) this.scheduleDrain();
      });
      this.inFlight.add(sent);
    }
  }

  private async publishBatch(batch: string[]): Promise<void> {
    let published = 0;
    try {
      published = await this.client!.publishBatch(this.options.channel, Buffer.from(batch.join("\n")));
    } catch (err) {
      this.logger.debug({ ...errorFields(err), messages: batch.length }, "a Redis publish failed");
    }
    this.published += published;
    this.publishedCounter.inc(published);
    this.drop("error", batch.length - published);
  }

  private drop(reason: RedisDropReason, n: number): void {
    if (!n) return;
    this.dropped[reason] += n;
    this.droppedCounter.inc({ reason }, n);
  }
}
