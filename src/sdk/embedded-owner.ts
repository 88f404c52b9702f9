import { rmSync } from "node:fs";
import type { Server } from "node:http";
import type { FastifyInstance } from "fastify";
import { type Config, type JsonObject, dataPaths } from "../core/index.js";
import { SessionManager } from "../engine/index.js";
import { type WebhookSink, startWebhooks } from "../events/webhooks/index.js";
import { type HomeOwnership, type Store, type WebhookRecord, openSqliteStore } from "../store/index.js";
import type { EmbeddedBackend } from "./embedded-backend.js";
import { type OwnerChannel, serveOwnerChannel } from "./owner-rpc/server.js";

/** The embedded functions on an engine in this process: one the caller built, or the owner's. */
export class EngineBackend implements EmbeddedBackend {
  constructor(
    readonly config: Config,
    readonly manager: SessionManager,
  ) {}

  get isOpen(): boolean {
    return !this.manager.isClosed;
  }

  create: EmbeddedBackend["create"] = (input) => this.manager.create(input);
  pause: EmbeddedBackend["pause"] = (ref, reason) => this.manager.pause(ref, reason);
  resume: EmbeddedBackend["resume"] = (ref) => this.manager.resume(ref);
  complete: EmbeddedBackend["complete"] = (ref, result) => this.manager.complete(ref, result);
  fail: EmbeddedBackend["fail"] = (ref, error) => this.manager.fail(ref, error);
  incrementIteration: EmbeddedBackend["incrementIteration"] = (ref, data) => this.manager.incrementIteration(ref, data);
  recordToolCall: EmbeddedBackend["recordToolCall"] = (ref, tool, args, result, outcome) => this.manager.recordToolCall(ref, tool, args, result, outcome);
  appendEvent: EmbeddedBackend["appendEvent"] = (ref, type, data) => this.manager.appendEvent(ref, type, data);
  mergeContext: EmbeddedBackend["mergeContext"] = (ref, patch: JsonObject) => this.manager.updateContext(ref, patch, { merge: true });
  createCheckpoint: EmbeddedBackend["createCheckpoint"] = (ref, input) => this.manager.createCheckpoint(ref, input);

  findSync: EmbeddedBackend["findSync"] = (ref) => this.manager.findSync(ref);
  listSync: EmbeddedBackend["listSync"] = (filter, page) => this.manager.listSync(filter, page);
  listEventsSync: EmbeddedBackend["listEventsSync"] = (ref, query) => this.manager.listEventsSync(ref, query);
  statsSync: EmbeddedBackend["statsSync"] = (filter) => this.manager.statsSync(filter);

  deleteSync: EmbeddedBackend["deleteSync"] = (ref) => this.manager.deleteSync(ref);
  cleanupSync: EmbeddedBackend["cleanupSync"] = (days) => this.manager.cleanupSync(days);
  putWebhookSync(webhook: WebhookRecord): WebhookRecord {
    this.manager.putWebhookSync(webhook);
    return webhook;
  }

  close(): Promise<void> {
    return this.manager.close();
  }

  closeSync(): void {
    if (!this.manager.isClosed) this.manager.closeSync();
  }
}

/**
 * The embedded API in the process that owns the data dir: the engine on the SQLite store, the
 * webhook sender, and — so that `sessiond list` and `sessiond/client` see this process's sessions
 * without a second server — the server's routes on the data dir's Unix socket, loaded in the
 * background once the engine is open. Nothing here keeps the process alive.
 */
export class EmbeddedOwner extends EngineBackend {
  private readonly webhooks: WebhookSink;
  /** The socket's server once it listens; one still starting closes itself when it sees the engine closed. */
  private serving: SocketServing | undefined;
  /** Where non-owners' writes come in; up before the socket's server, which loads much more. */
  private channel: OwnerChannel | undefined;
  private closing: Promise<void> | undefined;

  /** @throws what opening the store or the webhook sender throws; the ownership is released then */
  constructor(
    config: Config,
    private readonly ownership: HomeOwnership,
  ) {
    let store: Store;
    try {
      store = openSqliteStore(config, { ownership });
    } catch (err) {
      ownership.release();
      throw err;
    }
    super(config, new SessionManager({ store, config }));
    try {
      this.webhooks = startWebhooks({ config, bus: this.manager.bus, store });
    } catch (err) {
      // A config webhook the target policy refuses: nothing may stay open behind the error.
      this.manager.closeSync();
      ownership.release();
      throw err;
    }
    serveOwnerChannel(this.manager, dataPaths(config).ownerSocket, config).then(
      async (channel) => {
        if (this.manager.isClosed) await channel.close();
        else this.channel = channel;
      },
      (err: unknown) => {
        if (!this.manager.isClosed) process.emitWarning(`sessiond: this process owns ${config.home} but could not take writes on its owner socket: ${(err as Error).message}`);
      },
    );
    serveSocket(config, this.manager, store).then(
      (serving) => {
        this.serving = serving;
        if (serving) ownership.announce({ socket: dataPaths(config).socket });
      },
      (err: unknown) => {
        if (this.manager.isClosed) return;
        process.emitWarning(`sessiond: this process owns ${config.home} but could not answer on its socket: ${(err as Error).message}`);
      },
    );
  }

  override get isOpen(): boolean {
    return super.isOpen && this.closing === undefined;
  }

  override close(): Promise<void> {
    this.closing ??= this.closeInOrder();
    return this.closing;
  }

  private async closeInOrder(): Promise<void> {
    // Clients first (the sockets go), then the engine's queue, then the sender's due deliveries.
    await Promise.all([this.serving?.close(), this.channel?.close()]);
    if (!this.manager.isClosed) {
      await this.manager.flush();
      await this.webhooks.close();
      await this.manager.close();
    }
    this.ownership.release();
  }

  override closeSync(): void {
    // Synchronous by contract: what the sender had buffered stays pending for the next owner.
    void this.webhooks.close({ drainTimeoutMs: 0 }).catch(() => undefined);
    super.closeSync();
    rmSync(dataPaths(this.config).socket, { force: true });
    rmSync(dataPaths(this.config).ownerSocket, { force: true });
    this.ownership.release();
  }
}

/** The server's routes on the data dir's socket, and how to stop answering. */
interface SocketServing {
  close(): Promise<void>;
}

async function serveSocket(config: Config, manager: SessionManager, store: Store): Promise<SocketServing | undefined> {
  // Loaded here, in the background: a program that only records sessions never waits for it.
  const [{ pino }, { buildApp, createUnixSocketServer, listenOnSocket, removeStaleSocket, REDACTED_PATHS }] = await Promise.all([import("pino"), import("../server/index.js")]);
  if (manager.isClosed) return undefined;
  const path = dataPaths(config).socket;
  // The program's own output is not the place for request logs: warnings and errors only, on stderr.
  const logger = pino({ level: "warn", redact: { paths: REDACTED_PATHS, censor: "[redacted]" } }, pino.destination(2));
  const app: FastifyInstance = await buildApp({ config, manager, store, logger });
  await app.ready();
  await removeStaleSocket(path);
  const server: Server = createUnixSocketServer(app);
  // A client's open connection must not keep the program running once its own work is done.
  server.on("connection", (socket) => socket.unref());
  await listenOnSocket(server, path);
  server.unref();
  const serving: SocketServing = {
    async close() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      rmSync(path, { force: true });
      await app.close();
    },
  };
  // Closed without waiting (configureSessions moved on) while this was starting.
  if (manager.isClosed) {
    await serving.close();
    return undefined;
  }
  return serving;
}
