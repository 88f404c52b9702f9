import { type Config, type JsonObject, SessiondError, dataPaths } from "../core/index.js";
import { StoreReader } from "../engine/store-reader.js";
import { HomeLock, type OwnerRecord, SqliteStore, type WebhookRecord, describeOwner, readOwnerRecord } from "../store/index.js";
import { sleepSync } from "../store/home-lock.js";
import { errorFromWire } from "./client/errors.js";
import type { EmbeddedBackend } from "./embedded-backend.js";
import { ChannelError, type ChannelFailure, OwnerChannelClient, statusOf } from "./owner-rpc/client.js";
import { SyncOwnerChannel } from "./owner-rpc/sync-client.js";
import type { OwnerArgs, OwnerOp } from "./owner-rpc/wire.js";

/**
 * Thrown when the owner is gone (nothing listens on its socket and nobody holds the lock) before a
 * request reached it: nothing was applied, so the caller may take the data dir over and send it again.
 */
export class OwnerGone extends Error {
  override name = "OwnerGone";
}

/**
 * The embedded API in a process that does not own its data dir (DESIGN.md §6: one owner per
 * store). Writes go to the owner over its write channel (`owner.sock`, ./owner-rpc), so the
 * owner orders them as it orders its own; reads go straight to the SQLite file in WAL mode, read-only and uncached, so
 * each sees every write committed before it began. The owner acknowledges a write only once it
 * is committed: a read here sees every write acknowledged to anyone.
 */
export class OwnerClient implements EmbeddedBackend {
  readonly manager = undefined;
  private readonly reader: StoreReader;
  private readonly channel: OwnerChannelClient;
  private readonly syncChannel: SyncOwnerChannel;
  private closed = false;

  /** @throws Error when the owner's store is not this data dir's SQLite file, or the file does not open in time */
  constructor(
    readonly config: Config,
    owner: OwnerRecord | undefined,
  ) {
    const paths = dataPaths(config);
    if (owner?.store === "postgres") {
      throw new Error(
        `${describeOwner(owner)} owns ${config.home} and serves a PostgreSQL store, which the embedded API cannot read synchronously; use sessiond/client (createClient({ home: ${JSON.stringify(config.home)} }))`,
      );
    }
    this.reader = new StoreReader(openWhenReady(config, paths.ownerLock), config);
    // The owner is trusted with its answers' size: a session is as big as the owner allowed it to grow.
    this.channel = new OwnerChannelClient(paths.ownerSocket, Number.POSITIVE_INFINITY);
    this.syncChannel = new SyncOwnerChannel(paths.ownerSocket);
  }

  get isOpen(): boolean {
    return !this.closed;
  }

  create: EmbeddedBackend["create"] = (input) => this.write("create", { input });
  pause: EmbeddedBackend["pause"] = (ref, reason) => this.write("pause", { ref, reason });
  resume: EmbeddedBackend["resume"] = (ref) => this.write("resume", { ref });
  complete: EmbeddedBackend["complete"] = (ref, result) => this.write("complete", { ref, result });
  fail: EmbeddedBackend["fail"] = (ref, error) => this.write("fail", { ref, error });
  incrementIteration: EmbeddedBackend["incrementIteration"] = (ref, data) => this.write("incrementIteration", { ref, data });
  recordToolCall: EmbeddedBackend["recordToolCall"] = (ref, tool, args, result, outcome) => this.write("recordToolCall", { ref, tool, args, result, outcome });
  appendEvent: EmbeddedBackend["appendEvent"] = (ref, type, data) => this.write("appendEvent", { ref, type, data });
  mergeContext: EmbeddedBackend["mergeContext"] = (ref, patch: JsonObject) => this.write("mergeContext", { ref, patch });
  createCheckpoint: EmbeddedBackend["createCheckpoint"] = (ref, input) => this.write("createCheckpoint", { ref, ...input });

  findSync: EmbeddedBackend["findSync"] = (ref) => this.reader.findSync(ref);
  listSync: EmbeddedBackend["listSync"] = (filter, page) => this.reader.listSync(filter, page);
  listEventsSync: EmbeddedBackend["listEventsSync"] = (ref, query) => this.reader.listEventsSync(ref, query);
  statsSync: EmbeddedBackend["statsSync"] = (filter) => this.reader.statsSync(filter);

  deleteSync(ref: string): boolean {
    return this.writeSync("delete", { ref }) as boolean;
  }

  cleanupSync(olderThanDays: number): number {
    return this.writeSync("cleanup", { olderThanDays }) as number;
  }

  putWebhookSync(webhook: WebhookRecord): WebhookRecord {
    return this.writeSync("putWebhook", { webhook }) as WebhookRecord;
  }

  async close(): Promise<void> {
    this.closeSync();
  }

  closeSync(): void {
    if (this.closed) return;
    this.closed = true;
    this.channel.close();
    this.syncChannel.close();
    this.reader.close();
  }

  /**
   * A write on the owner's channel, waiting for an owner that is starting (it holds the lock but
   * does not listen yet). @throws OwnerGone when it never reached an owner and none holds the
   * lock (safe to send again); owner_unreachable; the owner's refusal
   */
  private async write<T, K extends OwnerOp = OwnerOp>(op: K, args: OwnerArgs[K]): Promise<T> {
    const deadline = Date.now() + this.config.ownerRequestTimeoutMs;
    for (;;) {
      try {
        return (await this.channel.call(op, args, Math.max(1, deadline - Date.now()))) as T;
      } catch (err) {
        if (!(err instanceof ChannelError)) throw err;
        const fatal = unanswered(this.config, err.failure, deadline);
        if (fatal) throw fatal;
        await new Promise((resolve) => setTimeout(resolve, OWNER_POLL_MS));
      }
    }
  }

  /** write, for seed 004's synchronous writes: the thread waits for the answer. */
  private writeSync<K extends OwnerOp>(op: K, args: OwnerArgs[K]): unknown {
    const deadline = Date.now() + this.config.ownerRequestTimeoutMs;
    for (;;) {
      const outcome = this.syncChannel.call(op, args, Math.max(1, deadline - Date.now()));
      if ("reply" in outcome) {
        const reply = outcome.reply;
        if ("error" in reply) throw errorFromWire(statusOf(reply.error.code), { error: reply.error });
        return reply.result;
      }
      const fatal = unanswered(this.config, outcome.failure, deadline);
      if (fatal) throw fatal;
      sleepSync(OWNER_POLL_MS);
    }
  }
}

/** How often a non-owner looks again for an owner that is starting. A poll, not a timeout. */
const OWNER_POLL_MS = 10;

/**
 * What a call that got no answer comes to: the error to throw, or undefined while an owner that
 * holds the lock is still starting (try again). OwnerGone when it never reached an owner and none
 * holds the lock (safe to send again).
 */
function unanswered(config: Config, failure: ChannelFailure, deadline: number): Error | undefined {
  if (failure.kind === "timed_out") return unreachable(config, `did not answer within ${config.ownerRequestTimeoutMs} ms (is it stopped?)`);
  if (failure.kind === "lost") return unreachable(config, `went away during the request (${failure.reason}); it may or may not have been applied`);
  const paths = dataPaths(config);
  if (!HomeLock.isHeld(paths.ownerLock)) return new OwnerGone(failure.code);
  if (Date.now() >= deadline) return unreachable(config, `does not answer on ${paths.ownerSocket} (${failure.code})`);
  return undefined;
}

function unreachable(config: Config, reason: string): SessiondError {
  const paths = dataPaths(config);
  return new SessiondError("owner_unreachable", { owner: describeOwner(readOwnerRecord(paths.pid)), home: config.home, reason });
}

/**
 * The owner's SQLite file, read-only. An owner that has just taken the data dir may not have
 * created or migrated it yet: wait for that (synchronously: seed 004's reads are) while it holds the lock.
 */
function openWhenReady(config: Config, lockPath: string): SqliteStore {
  const deadline = Date.now() + config.ownerRequestTimeoutMs;
  for (;;) {
    try {
      return new SqliteStore({
        path: dataPaths(config).database,
        readOnly: true,
        synchronous: config.sqliteSynchronous,
        busyTimeoutMs: config.sqliteBusyTimeoutMs,
        cacheBytes: config.sqliteCacheBytes,
        checkpointPages: config.sqliteCheckpointPages,
        listScanRows: config.listScanRows,
      });
    } catch (err) {
      if (Date.now() >= deadline || !HomeLock.isHeld(lockPath) || /newer than this sessiond/.test((err as Error).message)) throw err;
      sleepSync(OWNER_POLL_MS);
    }
  }
}
