import { type Config, type JsonObject, SessiondError, dataPaths, isSessiondError } from "../core/index.js";
import { StoreReader } from "../engine/store-reader.js";
import { HomeLock, type OwnerRecord, SqliteStore, type WebhookRecord, describeOwner, readOwnerRecord } from "../store/index.js";
import { errorFromWire } from "./client/errors.js";
import { SessionsClient } from "./client/sessions-client.js";
import { type Reply, type RequestSender, type RequestSpec, Transport } from "./client/transport.js";
import { parseBody } from "./client/wire.js";
import type { EmbeddedBackend } from "./embedded-backend.js";
import { SyncHttp, type SyncRequest } from "./sync-http.js";

/**
 * Thrown when the owner is gone (nothing listens on its socket and nobody holds the lock) before a
 * request reached it: nothing was applied, so the caller may take the data dir over and send it again.
 */
export class OwnerGone extends Error {
  override name = "OwnerGone";
}

/**
 * The embedded API in a process that does not own its data dir (DESIGN.md §6: one owner per
 * store). Writes go to the owner over the data dir's Unix socket, so the owner orders them as it
 * orders its own; reads go straight to the SQLite file in WAL mode, read-only and uncached, so
 * each sees every write committed before it began. The owner acknowledges a write only once it
 * is committed: a read here sees every write acknowledged to anyone.
 */
export class OwnerClient implements EmbeddedBackend {
  readonly manager = undefined;
  private readonly reader: StoreReader;
  private readonly sessions: SessionsClient;
  private readonly transport: Transport;
  private readonly syncHttp: SyncHttp;
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
    this.transport = new Transport({ socketPath: paths.socket, timeoutMs: config.ownerRequestTimeoutMs });
    this.sessions = new SessionsClient(new OwnerSender(this.transport, config));
    this.syncHttp = new SyncHttp(paths.socket);
  }

  get isOpen(): boolean {
    return !this.closed;
  }

  create: EmbeddedBackend["create"] = (input) => this.sessions.createSession(input);
  pause: EmbeddedBackend["pause"] = (ref, reason) => this.sessions.pause(ref, reason);
  resume: EmbeddedBackend["resume"] = (ref) => this.sessions.resume(ref);
  complete: EmbeddedBackend["complete"] = (ref, result) => this.sessions.complete(ref, result);
  fail: EmbeddedBackend["fail"] = (ref, error) => this.sessions.fail(ref, error);
  incrementIteration: EmbeddedBackend["incrementIteration"] = (ref, data) => this.sessions.incrementIteration(ref, data);
  recordToolCall: EmbeddedBackend["recordToolCall"] = (ref, tool, args, result, outcome) => this.sessions.recordToolCall(ref, tool, args, result, outcome);
  appendEvent: EmbeddedBackend["appendEvent"] = (ref, type, data) => this.sessions.appendEvent(ref, type, data);
  mergeContext: EmbeddedBackend["mergeContext"] = (ref, patch: JsonObject) => this.sessions.updateSession(ref, { context_patch: patch });

  findSync: EmbeddedBackend["findSync"] = (ref) => this.reader.findSync(ref);
  listSync: EmbeddedBackend["listSync"] = (filter, page) => this.reader.listSync(filter, page);
  listEventsSync: EmbeddedBackend["listEventsSync"] = (ref, query) => this.reader.listEventsSync(ref, query);
  statsSync: EmbeddedBackend["statsSync"] = (filter) => this.reader.statsSync(filter);

  deleteSync(ref: string): boolean {
    try {
      this.send({ method: "DELETE", path: `/sessions/${encodeURIComponent(ref)}` });
      return true;
    } catch (err) {
      if (isSessiondError(err, "not_found")) return false;
      throw err;
    }
  }

  cleanupSync(olderThanDays: number): number {
    return (this.send({ method: "POST", path: "/sessions/cleanup", body: { older_than_days: olderThanDays } }) as { deleted: number }).deleted;
  }

  putWebhookSync(webhook: WebhookRecord): WebhookRecord {
    const body = { url: webhook.url, events: webhook.events, ...(webhook.secret !== null ? { secret: webhook.secret } : {}) };
    const stored = this.send({ method: "POST", path: "/webhooks/", body }) as { id: string; created_at: string };
    return { ...webhook, id: stored.id, created_at: stored.created_at };
  }

  async close(): Promise<void> {
    this.closeSync();
    await this.transport.close();
  }

  closeSync(): void {
    if (this.closed) return;
    this.closed = true;
    this.syncHttp.close();
    this.reader.close();
  }

  /** A synchronous request to the owner, waiting for one still starting. @throws OwnerGone; owner_unreachable; the owner's error */
  private send(request: SyncRequest): unknown {
    const deadline = Date.now() + this.config.ownerRequestTimeoutMs;
    for (;;) {
      const reply = this.syncHttp.request(request, Math.max(1, deadline - Date.now()));
      if ("status" in reply) {
        const body = parseBody(reply.body);
        if (reply.status >= 400) throw errorFromWire(reply.status, body);
        return body;
      }
      if ("timedOut" in reply) throw unreachable(this.config, `did not answer within ${this.config.ownerRequestTimeoutMs} ms (is it stopped?)`);
      if (reply.sent) throw unreachable(this.config, `went away during the request (${reply.error}); it may or may not have been applied`);
      if (!HomeLock.isHeld(dataPaths(this.config).ownerLock)) throw new OwnerGone(reply.error);
      if (Date.now() >= deadline) throw unreachable(this.config, `does not answer on its socket (${reply.error})`);
      sleepSync(OWNER_POLL_MS);
    }
  }
}

/**
 * The owner, for the HTTP client: waits for an owner that is starting (it holds the lock but does
 * not listen yet), says which process failed to answer, and tells a request that never reached an
 * owner (OwnerGone: safe to send again) from one that may have been applied.
 */
class OwnerSender implements RequestSender {
  constructor(
    private readonly transport: Transport,
    private readonly config: Config,
  ) {}

  get timeoutMs(): number {
    return this.transport.timeoutMs;
  }

  async request<T>(spec: RequestSpec): Promise<Reply<T>> {
    const deadline = Date.now() + this.config.ownerRequestTimeoutMs;
    for (;;) {
      try {
        return await this.transport.request<T>({ ...spec, timeoutMs: Math.max(1, deadline - Date.now()) });
      } catch (err) {
        // An answer from the owner (an error of its own) has no cause: it goes to the caller as is.
        const cause = (err as { cause?: unknown }).cause;
        if (!(err instanceof SessiondError) || cause === undefined) throw err;
        const code = causeCode(cause);
        if (!NOT_SENT.has(code ?? "")) {
          const timedOut = Date.now() >= deadline;
          throw unreachable(this.config, timedOut ? `did not answer within ${this.config.ownerRequestTimeoutMs} ms (is it stopped?)` : `went away during the request (${code ?? (cause as Error).message}); it may or may not have been applied`);
        }
        if (!HomeLock.isHeld(dataPaths(this.config).ownerLock)) throw new OwnerGone(code);
        if (Date.now() >= deadline) throw unreachable(this.config, `does not answer on its socket (${code})`);
        await new Promise((resolve) => setTimeout(resolve, OWNER_POLL_MS));
      }
    }
  }
}

/** Connection errors that mean nothing was sent: no socket file, or nothing listening on it. */
const NOT_SENT = new Set(["ENOENT", "ECONNREFUSED"]);

/** How often a non-owner looks again for an owner that is starting. A poll, not a timeout. */
const OWNER_POLL_MS = 10;

function causeCode(cause: unknown): string | undefined {
  for (let c = cause as { code?: unknown; cause?: unknown } | undefined, depth = 0; c && depth < 4; c = c.cause as typeof c, depth++) {
    if (typeof c.code === "string" && /^E[A-Z]+$/.test(c.code)) return c.code;
  }
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
      });
    } catch (err) {
      if (Date.now() >= deadline || !HomeLock.isHeld(lockPath) || /newer than this sessiond/.test((err as Error).message)) throw err;
      sleepSync(OWNER_POLL_MS);
    }
  }
}

const sleeper = new Int32Array(new SharedArrayBuffer(4));

function sleepSync(ms: number): void {
  Atomics.wait(sleeper, 0, 0, ms);
}
