import { chmodSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { FastifyInstance } from "fastify";
import { type Config, dataPaths } from "../core/config.js";
import type { SessionManager } from "../engine/index.js";
import type { EventSinks } from "../events/index.js";
import { EXIT } from "./fail.js";

/**
 * Runs the server with a resolved config. This is the one place that listens and handles
 * signals: on SIGTERM or SIGINT it stops accepting, lets in-flight requests finish (for at most
 * `shutdownTimeoutMs`), flushes and closes the engine, and exits 0. A second signal exits at once.
 */
export async function serve(config: Config): Promise<void> {
  // Loaded here, not at the top: the CLI's other commands never load the server.
  const [{ pino }, { SessionManager }, server, { openStore }, { startEventSinks }] = await Promise.all([
    import("pino"),
    import("../engine/index.js"),
    import("../server/index.js"),
    import("../store/index.js"),
    import("../events/index.js"),
  ]);
  const { REDACTED_PATHS, ServerMetrics, buildApp, createUnixSocketServer, prepareSocketPath } = server;
  const log = pino({ level: config.logLevel, redact: { paths: REDACTED_PATHS, censor: "[redacted]" } });
  const paths = dataPaths(config);
  mkdirSync(config.home, { recursive: true, mode: 0o700 });

  const metrics = new ServerMetrics({ defaultMetrics: true });
  let manager: SessionManager;
  let sinks: EventSinks | undefined;
  let app: FastifyInstance;
  let socketServer: Server;
  try {
    // First, so a second server on this data dir stops before it touches the store.
    await prepareSocketPath(paths.socket);
    const store = await openStore(config, {
      onConnectionError: (err) => log.warn({ err }, "a database connection failed outside a query"),
    });
    manager = new SessionManager({ store, config, observeCommit: metrics.observeCommit });
    // Before the app, so no change committed through the API is missed by Redis or webhooks.
    sinks = await startEventSinks({ config, manager, store, logger: log, registry: metrics.registry });
    app = await buildApp({ config, manager, store, logger: log, metrics });
    if (app.sessiond.adminTokenCreated) log.info({ path: paths.token }, "generated the admin token");
    await app.listen({ host: config.host, port: config.port });
    socketServer = createUnixSocketServer(app);
    await listenOnSocket(socketServer, paths.socket);
  } catch (err) {
    log.fatal({ err }, "sessiond could not start");
    process.exitCode = EXIT.failure;
    // Let the engine flush whatever it took (nothing, normally) before the process ends.
    await app!?.close().catch(() => undefined);
    await sinks?.close().catch(() => undefined);
    await manager!?.close().catch(() => undefined);
    return;
  }

  const { port, address } = app.server.address() as AddressInfo;
  writePidFile(paths.pid, { pid: process.pid, host: address, port, socket: paths.socket, started_at: new Date().toISOString() });
  log.info({ host: address, port, socket: paths.socket, home: config.home }, `sessiond listening on http://${hostForUrl(address)}:${port} and ${paths.socket}`);

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
      await Promise.all([closeServer(socketServer), app.close()]);
      clearTimeout(force);
      // The sinks flush the manager and need the store open: after the servers, before the manager.
      await sinks?.close();
      await manager.close();
      log.info("stopped; every acknowledged write is on disk");
    } catch (err) {
      log.error({ err }, "shutdown failed");
      process.exitCode = EXIT.failure;
    } finally {
      rmSync(paths.socket, { force: true });
      removePidFile(paths.pid);
    }
    process.exit();
  };
  process.once("SIGTERM", (s) => void stop(s));
  process.on("SIGINT", (s) => void stop(s));
}

async function listenOnSocket(server: Server, path: string): Promise<void> {
  // The umask makes the socket 0600 from the moment it exists; the chmod makes sure of it.
  const previous = process.umask(0o177);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(path, () => {
        server.off("error", reject);
        resolve();
      });
    });
  } finally {
    process.umask(previous);
  }
  chmodSync(path, 0o600);
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeIdleConnections();
  });
}

function writePidFile(path: string, content: Record<string, unknown>): void {
  writeFileSync(path, `${JSON.stringify(content)}\n`, { mode: 0o600 });
}

/** Removes the pid file if it is still this process's (a newer server may have replaced it). */
function removePidFile(path: string): void {
  try {
    const { pid } = JSON.parse(readFileSync(path, "utf8")) as { pid?: number };
    if (pid === process.pid) rmSync(path, { force: true });
  } catch {
    // Gone or unreadable: nothing of ours to remove.
  }
}

function hostForUrl(address: string): string {
  return address.includes(":") ? `[${address}]` : address;
}
