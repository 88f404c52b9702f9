import { appendFileSync, rmSync } from "node:fs";
import { hostname } from "node:os";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { FastifyInstance } from "fastify";
import { type Config, dataPaths } from "../core/config.js";
import type { ClusterOwnership, SessionManager } from "../engine/index.js";
import type { SessionDriver } from "../drivers/index.js";
import type { EventSinks } from "../events/index.js";
import type { OwnerChannel } from "../sdk/owner-rpc/server.js";
import type { HomeOwnership } from "../store/index.js";
import { EXIT } from "./fail.js";

/**
 * Runs the server with a resolved config. This is the one place that listens and handles
 * signals: on SIGTERM or SIGINT it stops accepting, lets in-flight requests finish (for at most
 * `shutdownTimeoutMs`), flushes and closes the engine, and exits 0. A second signal exits at once.
 */
export async function serve(config: Config): Promise<void> {
  // Loaded here, not at the top: the CLI's other commands never load the server.
  const [{ pino }, { ClusterOwnership, SessionManager }, server, { claimHome, describeOwner, openStore }, { startEventSinks }, { serveOwnerChannel }, { SessionFiles, WorkspaceSnapshots }] =
    await Promise.all([
      import("pino"),
      import("../engine/index.js"),
      import("../server/index.js"),
      import("../store/index.js"),
      import("../events/index.js"),
      import("../sdk/owner-rpc/server.js"),
      import("../snapshots/index.js"),
    ]);
  const { REDACTED_PATHS, ServerMetrics, TokenRegistry, registerClusterMetrics, buildApp, createUnixSocketServer, ensureAdminToken, listenOnSocket, removeStaleSocket } = server;
  const log = pino({ level: config.logLevel, redact: { paths: REDACTED_PATHS, censor: "[redacted]" } });
  const paths = dataPaths(config);

  // Before the data dir is claimed: a module that does not load is the config's mistake, said at once.
  let drivers: SessionDriver[] = [];
  if (config.driverModules.length > 0) {
    try {
      const { loadDriverModules } = await import("../drivers/driver-modules.js");
      drivers = await loadDriverModules(config.driverModules, { config, log, cwd: process.cwd() });
      log.info({ modes: drivers.map((d) => d.kind), modules: config.driverModules }, "driver modules loaded");
    } catch (err) {
      startFailed(err, paths.log);
      return;
    }
  }

  // First, before the store: exactly one process writes a data dir (DESIGN.md §6).
  let ownership: HomeOwnership;
  try {
    const claim = claimHome(config, "server");
    if (!claim.owned) {
      const lockNote = claim.lockRemoved ? ` (its lock file ${paths.ownerLock} was removed, but it still listens on the data dir's sockets)` : "";
      throw new Error(`${config.home} is owned by ${describeOwner(claim.owner)}${lockNote}; it answers on ${paths.socket}, so clients need no second server`);
    }
    ownership = claim.owned;
  } catch (err) {
    startFailed(err, paths.log);
    return;
  }

  const exposed = databaseInSessionsReach(config);
  if (exposed) {
    const risk = `live sessions share this host's network (sandboxNetwork) and PostgreSQL listens on ${exposed} here with no password in pgUrl: code in a session that reaches it can read and rewrite every session, and point other nodes' forwarded requests (with their tokens) at itself`;
    if (!config.allowReachableDatabase) {
      ownership.release();
      startFailed(new Error(`${risk}; set sandboxNetwork: false, require a password (in pgUrl), or put the database on another host — or allowReachableDatabase: true to accept the risk (docs/scale-out.md#security-of-a-cluster)`), paths.log);
      return;
    }
    log.warn({ database: exposed }, `${risk} (allowReachableDatabase accepts this)`);
  }

  const metrics = new ServerMetrics({ defaultMetrics: true });
  let manager: SessionManager;
  /** This node's membership when several nodes share the store (PostgreSQL); docs/scale-out.md. */
  let membership: ClusterOwnership | undefined;
  let sinks: EventSinks | undefined;
  let app: FastifyInstance;
  let socketServer: Server;
  let ownerChannel: OwnerChannel;
  try {
    await removeStaleSocket(paths.socket);
    const store = await openStore(config, {
      ownership,
      onConnectionError: (err) => log.warn({ err }, "a database connection failed outside a query"),
    });
    if (store.cluster) {
      membership = new ClusterOwnership({
        cluster: store.cluster,
        name: config.nodeName ?? `${hostname()}:${config.port || process.pid}`,
        url: config.advertiseUrl ?? null,
        authFingerprint: new TokenRegistry(ensureAdminToken(config).token, config.tokens).fingerprint(),
        leaseTtlMs: config.leaseTtlMs,
        leaseRenewMs: config.leaseRenewMs,
        // As many as memory holds of its own: a forwarded session needs only its owner's address.
        rememberedOwners: config.hotPoolSize,
        onRenewFailed: (err) => log.warn({ err }, "could not renew this node's lease; its sessions move to other nodes if it stays unrenewed"),
      });
      await membership.start();
    }
    const snapshots = WorkspaceSnapshots.forConfig(config, (reason) => log.warn({ reason }, "workspace snapshots walk whole workspaces: change tracking is not available"));
    manager = new SessionManager({
      store,
      config,
      observeCommit: metrics.observeCommit,
      files: new SessionFiles(config, snapshots),
      ...(membership ? { ownership: membership } : {}),
    });
    // Before the app, so no change committed through the API is missed by Redis or webhooks.
    sinks = await startEventSinks({ config, manager, store, logger: log, registry: metrics.registry });
    const cluster = membership ? { cluster: membership, countForward: registerClusterMetrics(metrics.registry, membership) } : {};
    app = await buildApp({ config, manager, store, logger: log, metrics, drivers, ...cluster });
    if (app.sessiond.adminTokenCreated) log.info({ path: paths.token }, "generated the admin token");
    await app.listen({ host: config.host, port: config.port });
    if (membership && !config.advertiseUrl) await membership.advertise(advertisedUrl(app.server.address() as AddressInfo));
    socketServer = createUnixSocketServer(app);
    await listenOnSocket(socketServer, paths.socket);
    // The embedded API's writes from other processes on this data dir (README: One data dir, one owner).
    ownerChannel = await serveOwnerChannel(manager, paths.ownerSocket, config);
  } catch (err) {
    startFailed(err, paths.log);
    // Let the engine flush whatever it took (nothing, normally) before the process ends.
    await app!?.close().catch(() => undefined);
    await sinks?.close().catch(() => undefined);
    await membership?.stop().catch(() => undefined);
    await manager!?.close().catch(() => undefined);
    ownership.release();
    return;
  }

  const { port, address } = app.server.address() as AddressInfo;
  ownership.announce({ host: address, port, socket: paths.socket, ...(membership ? { node: membership.nodeName } : {}) });
  const base = `http://${hostForUrl(address)}:${port}`;
  log.info({ host: address, port, socket: paths.socket, home: config.home, ...(membership ? { node: membership.nodeName } : {}) }, `sessiond listening on ${base} and ${paths.socket}`);
  log.info({ url: `${base}/ui/` }, `the dashboard: ${base}/ui/ (\`sessiond ui\` opens it signed in)`);

  let stopping = false;
  const stop = async (signal: NodeJS.Signals) => {
    if (stopping) {
      log.warn({ signal }, "second signal: exiting without waiting");
      process.exit(EXIT.failure);
    }
    stopping = true;
    log.info({ signal }, "shutting down: no new connections; finishing in-flight requests");
    const force = setTimeout(() => {
      log.warn({ timeoutMs: config.shutdownTimeoutMs }, "in-flight requests did not finish in time; closing their connections");
      app.server.closeAllConnections();
      socketServer.closeAllConnections();
    }, config.shutdownTimeoutMs);
    force.unref();
    try {
      await Promise.all([closeServer(socketServer), ownerChannel.close(), app.close()]);
      clearTimeout(force);
      // The sinks flush the manager and need the store open: after the servers, before the manager.
      await sinks?.close();
      // Every write is in; other nodes may take this node's sessions over at once, not after its lease.
      await manager.flush();
      await membership?.stop();
      await manager.close();
      log.info("stopped; every acknowledged write is on disk");
    } catch (err) {
      log.error({ err }, "shutdown failed");
      process.exitCode = EXIT.failure;
    } finally {
      rmSync(paths.socket, { force: true });
      ownership.release();
    }
    process.exit();
  };
  process.once("SIGTERM", (s) => void stop(s));
  process.on("SIGINT", (s) => void stop(s));
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeIdleConnections();
  });
}

/**
 * Reports a server that could not start: one line a person reads on stderr, and the whole error
 * with its stack appended to the data dir's log (where an auto-started server's output goes too).
 */
function startFailed(err: unknown, logPath: string): void {
  const inUse = (err as NodeJS.ErrnoException).code === "EADDRINUSE";
  const message = `${err instanceof Error ? err.message : String(err)}${inUse ? "; another program has that port: give this data dir a port of its own (config port, SESSIOND_PORT, or --port 0 for a free one)" : ""}`;
  try {
    // `reason`, with what to do, is what a command that started this server in the background says (autostart.ts).
    appendFileSync(logPath, `${JSON.stringify({ level: 60, time: Date.now(), msg: "sessiond could not start", reason: message, err: serializeError(err) })}\n`, { mode: 0o600 });
    console.error(`sessiond: could not start: ${message} (details: ${logPath})`);
  } catch {
    console.error(`sessiond: could not start: ${message}`);
  }
  process.exitCode = EXIT.failure;
}

function serializeError(err: unknown): Record<string, unknown> {
  if (!(err instanceof Error)) return { message: String(err) };
  return { type: err.name, message: err.message, stack: err.stack, ...("code" in err ? { code: err.code } : {}) };
}

/**
 * Where other nodes reach this one when config `advertiseUrl` does not say: the address it
 * listens on, or the host name when it listens on every address.
 */
function advertisedUrl({ address, port }: AddressInfo): string {
  const host = address === "0.0.0.0" || address === "::" ? hostname() : hostForUrl(address);
  return `http://${host}:${port}`;
}

/**
 * The PostgreSQL address live sessions could reach through the host's network, when they run
 * with it (sandboxNetwork) and the database is on this host (loopback or a Unix socket) with no
 * password in its URL; undefined otherwise.
 */
function databaseInSessionsReach(config: Config): string | undefined {
  if (config.store !== "postgres" || !config.pgUrl || !config.enableSessions || !config.sandboxNetwork) return undefined;
  try {
    const url = new URL(config.pgUrl);
    const host = url.hostname || url.searchParams.get("host") || "localhost";
    const local = host === "localhost" || host.startsWith("127.") || host === "[::1]" || host === "::1" || host.startsWith("/");
    return local && !url.password ? `${host}:${url.port || 5432}` : undefined;
  } catch {
    return undefined;
  }
}

function hostForUrl(address: string): string {
  return address.includes(":") ? `[${address}]` : address;
}
