import { createRequire } from "node:module";
import rateLimit from "@fastify/rate-limit";
import websocket from "@fastify/websocket";
import Fastify, { type FastifyBaseLogger, type FastifyInstance, LogController } from "fastify";
import { pino } from "pino";
import { type Config, SessiondError, dataPaths } from "../core/index.js";
import type { SessionManager, SessionPlacement } from "../engine/index.js";
import { LiveSessions, type SessionDriver, defaultDrivers } from "../drivers/index.js";
import { AutoRecovery } from "../drivers/auto-recover.js";
import { adoptLegacyWorkspaces } from "../drivers/workspace.js";
import type { Store } from "../store/index.js";
import { AuthFailureLimiter, TokenRegistry, UiLogins, assertAuthAllowed, chooseSubprotocol, ensureAdminToken, installAuth, installOriginCheck } from "./auth/index.js";
import { installWebSocketHandshakeCheck } from "./websocket-handshake.js";
import { answerPings } from "./websocket-pings.js";
import { type ForwardCounter, PeerReads, installForwarding } from "./cluster/index.js";
import { installContentTypes } from "./content-types.js";
import { clientErrorHandler, installRawErrors } from "./client-error.js";
import { frameworkErrors, installErrorHandling } from "./error-handler.js";
import { ServerMetrics } from "./metrics.js";
import { DOCS_PREFIX, registerOpenApi } from "./openapi.js";
import { RetentionJob } from "./retention.js";
import { artifactRoutes } from "./routes/artifacts.js";
import { checkpointRoutes } from "./routes/checkpoints.js";
import { eventRoutes } from "./routes/events.js";
import { execActionRoutes, seedSessionRoutes } from "./routes/exec-sessions.js";
import { healthRoutes } from "./routes/health.js";
import { importRoutes } from "./routes/import.js";
import { metricsRoutes } from "./routes/metrics.js";
import { mcpRoutes } from "./routes/mcp.js";
import { sessionActionRoutes } from "./routes/session-actions.js";
import { sessionRoutes } from "./routes/sessions.js";
import { statsRoutes } from "./routes/stats.js";
import { uiRoutes } from "./routes/ui.js";
import { uiLoginRoutes } from "./routes/ui-login.js";
import { webhookRoutes } from "./routes/webhooks.js";
import { StreamServices } from "../events/feeds/index.js";
import { attachRoutes } from "./routes/attach.js";
import { feedRoutes } from "./routes/feed.js";
import { streamRoutes } from "./routes/stream.js";
import { PrincipalQuota } from "./principal-quota.js";
import type { ServerContext } from "./server-context.js";
import { refuseUnknownQueries, typeboxValidatorCompiler } from "./validation.js";
import { Workspaces } from "./workspaces/index.js";
import { installWriteCoalescing } from "./write-coalescing.js";

/** What the HTTP server is built from. */
export interface BuildAppOptions {
  readonly config: Config;
  /** The engine; the app does not close it (the caller does, after the app). */
  readonly manager: SessionManager;
  /** @default a pino logger at `config.logLevel` on stdout, with secrets redacted */
  readonly logger?: FastifyBaseLogger;
  /** Build it before the manager to pass `metrics.observeCommit` to it. @default a new ServerMetrics */
  readonly metrics?: ServerMetrics;
  /**
   * The manager's store. The `/webhooks` routes need it (registrations and the delivery log);
   * without it they are not registered.
   */
  readonly store?: Store;
  /**
   * The server's environment, from which new shells inherit the variables named in config
   * `shellEnv`. @default process.env
   */
  readonly hostEnv?: Readonly<Record<string, string | undefined>>;
  /** The time the failed-authentication windows (`authFailureWindowMs`) count by. @default Date.now */
  readonly clock?: () => number;
  /**
   * Drivers of modes this build does not ship, registered after the built-in ones (a kind taken
   * twice throws). `sessiond serve` passes config `driverModules`' drivers. See docs/drivers.md.
   * @default []
   * @example
   * const app = await buildApp({ config, manager, drivers: [calcDriver] });
   */
  readonly drivers?: readonly SessionDriver[];
  /**
   * Where sessions are served when several nodes share the store (PostgreSQL; docs/scale-out.md):
   * requests for another node's sessions are forwarded there. @default one node: all are served here
   */
  readonly cluster?: SessionPlacement;
  /** Told how each request forwarded to another node ended (registerClusterMetrics' counter). */
  readonly countForward?: ForwardCounter;
}

/** Parts of a built app that its owner (serve, tests) reaches for. */
export interface SessiondServices {
  readonly workspaces: Workspaces;
  /** The live execution sessions; closed (their processes stopped) when the app closes. */
  readonly live: LiveSessions;
  /**
   * Config `autoRecover`'s pass over the live sessions the previous server left crashed, begun
   * in the background when the app is ready (`done` resolves once it is over); undefined when off.
   */
  readonly autoRecovery: AutoRecovery | undefined;
  readonly retention: RetentionJob;
  readonly metrics: ServerMetrics;
  /** Whether the admin token file was created by this build. */
  readonly adminTokenCreated: boolean;
}

declare module "fastify" {
  interface FastifyInstance {
    sessiond: SessiondServices;
  }
}

/** Log paths that may hold a secret; pino replaces their values. */
export const REDACTED_PATHS = [
  "req.headers.authorization",
  "headers.authorization",
  "authorization",
  "token",
  "*.token",
  "tokens[*].token",
  // A browser's WebSocket carries its bearer token as a subprotocol (docs/api.md#dashboard-sign-in).
  'req.headers["sec-websocket-protocol"]',
  'headers["sec-websocket-protocol"]',
];

const PACKAGE_VERSION = (createRequire(import.meta.url)("../../package.json") as { version: string }).version;

/**
 * Builds the HTTP server: thin route plugins over the engine (validate → one engine call →
 * serialize), auth, rate limit, one error shape, OpenAPI, metrics, workspaces and retention.
 * It does not listen: `sessiond serve` does, tests use `app.inject()`.
 *
 * @example
 * const app = await buildApp({ config, manager });
 * const res = await app.inject({ method: "GET", url: "/sessions/", headers: { authorization: `Bearer ${token}` } });
 */
export async function buildApp(options: BuildAppOptions): Promise<FastifyInstance> {
  const { config, manager } = options;
  assertAuthAllowed(config);
  const adminToken = ensureAdminToken(config);
  const registry = new TokenRegistry(adminToken.token, config.tokens);
  const logger = options.logger ?? pino({ level: config.logLevel, redact: { paths: REDACTED_PATHS, censor: "[redacted]" } });
  const verbose = logger.level === "debug" || logger.level === "trace";

  const app = Fastify({
    loggerInstance: logger,
    bodyLimit: config.bodyLimitBytes,
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: 1024 },
    // Per-request info lines would halve throughput; requests are logged at debug (below).
    logController: new LogController({ disableRequestLogging: true }),
    // A child logger per request costs an allocation and a bindings string on every request;
    // only debug logging (which logs each request) needs the request id bound.
    childLoggerFactory: (parent, bindings, options) => (verbose ? parent.child(bindings, options) : parent),
    // Requests arriving during shutdown get our own 503 (shutting_down) in the error shape.
    return503OnClosing: false,
    forceCloseConnections: "idle",
    frameworkErrors: frameworkErrors(config.bodyLimitBytes),
    // Requests Node's parser refuses get the one error shape too, not Fastify's own body.
    clientErrorHandler: clientErrorHandler(logger),
  });
  app.setValidatorCompiler(typeboxValidatorCompiler);
  refuseUnknownQueries(app);
  // Routes send their answers encoded already (sendJson); the few objects Fastify encodes itself go
  // through JSON.stringify. A fast-json-stringify serializer compiled for every response schema
  // cost about 40% of building the app, for encoders no answer used. The schemas still document
  // every answer, and the contract suite checks the answers against them (test/contract).
  app.setSerializerCompiler(() => (data) => JSON.stringify(data));
  installErrorHandling(app, config);
  installRawErrors(app.server, logger, { clientErrors: false });
  installContentTypes(app);

  // First, so that every request, even one refused by a later hook, joins its batch of writes.
  installWriteCoalescing(app);
  // Early, so even a refused answer names the node; it forwards after authentication all the same.
  if (options.cluster) {
    const { countForward } = options;
    await installForwarding(app, { config, manager, cluster: options.cluster, adminToken: adminToken.token, ...(countForward ? { countForward } : {}) });
  }
  let closing = false;
  // Callback-style hooks on the hot path: an async hook costs a promise per request.
  app.addHook("onRequest", (_request, _reply, done) => {
    done(closing ? new SessiondError("shutting_down") : undefined);
  });
  app.addHook("preClose", async () => {
    closing = true;
  });
  // Before authentication: a page of another site gets nothing, whether auth is on or off.
  installOriginCheck(app, { config, cluster: options.cluster !== undefined });
  const failures = new AuthFailureLimiter({
    maxFailures: config.authMaxFailures,
    windowMs: config.authFailureWindowMs,
    maxAddresses: config.authFailureMaxAddresses,
    ...(options.clock ? { clock: options.clock } : {}),
  });
  // The dashboard's short-lived tokens (`sessiond ui`), accepted beside the configured ones.
  const uiLogins = new UiLogins({
    codeTtlMs: config.uiLoginCodeTtlMs,
    sessionTtlMs: config.uiSessionTtlMs,
    maxCodesPerPrincipal: config.uiMaxLoginCodesPerPrincipal,
    maxSessionsPerPrincipal: config.uiMaxSessionsPerPrincipal,
    maxCodes: config.uiMaxLoginCodes,
    maxSessions: config.uiMaxSessions,
    ...(options.clock ? { clock: options.clock } : {}),
  });
  registry.accept(uiLogins);
  installAuth(app, { registry, enabled: config.auth, publicPrefixes: [DOCS_PREFIX], failures });
  installWebSocketHandshakeCheck(app);
  if (verbose) {
    app.addHook("onResponse", async (request, reply) => {
      request.log.debug({ method: request.method, url: request.url, status: reply.statusCode, ms: reply.elapsedTime, principal: request.principal?.name }, "request");
    });
  }

  if (config.rateLimitMax > 0) {
    await app.register(rateLimit, {
      max: config.rateLimitMax,
      timeWindow: config.rateLimitWindowMs,
      // Per token (or the Unix socket); anonymous requests to public routes per address.
      keyGenerator: (request) => (request.principal?.name === "anonymous" ? `ip:${request.ip}` : `token:${request.principal?.name}`),
      // The x-ratelimit-* headers go on 429 answers only: three headers on every response cost
      // more than they tell a client that is nowhere near the limit.
      addHeadersOnExceeding: { "x-ratelimit-limit": false, "x-ratelimit-remaining": false, "x-ratelimit-reset": false },
      errorResponseBuilder: (_request, context) =>
        new SessiondError("rate_limited", { reason: `over ${context.max} requests per ${config.rateLimitWindowMs} ms; retry in ${context.after}` }),
    });
  }

  // WebSocket routes (feeds, streams, attach) are ordinary routes with `websocket: true`: the
  // upgrade request passes the same auth and rate-limit hooks as any other.
  // A browser offers its token as a subprotocol; the answer names `sessiond`, never that entry.
  await app.register(websocket, { options: { maxPayload: config.wsMaxPayloadBytes, handleProtocols: chooseSubprotocol, autoPong: false } });
  // A route's own cut-off of a client that reads nothing comes first; past the larger of them, its pings close it.
  answerPings(app.websocketServer, Math.max(config.feedMaxBufferedBytes, config.attachObserverMaxBufferedBytes));

  const metrics = options.metrics ?? new ServerMetrics();
  metrics.attach(app, manager);
  await registerOpenApi(app, PACKAGE_VERSION, config);

  const workspaces = new Workspaces(dataPaths(config).workspaces, config.maxArtifactBytes);
  const unsubscribe = manager.bus.subscribe((change) => {
    if (change.type !== "session.deleted") return;
    workspaces.remove(change.session).catch((err: unknown) => app.log.error({ err, session: change.session.id }, "could not delete a workspace"));
  });
  const retention = new RetentionJob(manager, config, app.log);
  const drivers = defaultDrivers(config, app.log, manager);
  for (const driver of options.drivers ?? []) drivers.register(driver);
  const live = new LiveSessions({ manager, config, drivers, log: app.log, hostEnv: options.hostEnv ?? process.env, workspace: (s) => workspaces.ensure(s) });
  // Before any request: a data dir from before names were unique per agent_id has its agents'
  // workspaces under their bare names, where another namespace's session of that name would find them.
  await adoptLegacyWorkspaces(config, (name) => manager.find(name));
  // Sessions live when a previous server ended have no process now: crashed, to be recovered.
  const orphans = await live.markOrphansCrashed();
  if (orphans.length > 0) app.log.warn({ sessions: orphans.map((s) => s.id) }, "live sessions of a previous server marked crashed");
  const autoRecovery = config.autoRecover ? new AutoRecovery({ manager, live, config, log: app.log }) : undefined;
  app.decorate("sessiond", { workspaces, live, autoRecovery, retention, metrics, adminTokenCreated: adminToken.created });

  let clusterContext: Pick<ServerContext, "cluster" | "peers"> = {};
  if (options.cluster) {
    const peers = new PeerReads({ cluster: options.cluster, adminToken: adminToken.token, connectTimeoutMs: config.forwardConnectTimeoutMs, answerTimeoutMs: config.leaseTtlMs, log: app.log });
    app.addHook("onClose", () => peers.close());
    clusterContext = { cluster: options.cluster, peers };
  }
  const ctx: ServerContext = { config, manager, workspaces, live, ...clusterContext };
  await app.register(healthRoutes, { ctx, isClosing: () => closing });
  await app.register(metricsRoutes, { prefix: "/metrics", metrics });
  await app.register(statsRoutes, { prefix: "/stats", ctx });
  await app.register(sessionRoutes, { prefix: "/sessions", ctx });
  await app.register(sessionActionRoutes, { prefix: "/sessions/:id", ctx });
  await app.register(execActionRoutes, { prefix: "/sessions/:id", ctx });
  await app.register(seedSessionRoutes, { prefix: "/session", ctx });
  await app.register(eventRoutes, { prefix: "/sessions/:id/events", ctx });
  await app.register(checkpointRoutes, { prefix: "/sessions/:id/checkpoints", ctx });
  await app.register(artifactRoutes, { prefix: "/sessions/:id/artifacts", ctx });
  await app.register(importRoutes, { prefix: "/import", ctx });
  await app.register(mcpRoutes, { prefix: "/mcp", adminToken: adminToken.token, maxAnswerBytes: config.mcpMaxAnswerBytes,
    quota: new PrincipalQuota(config.mcpMaxConcurrentPerToken, { what: "MCP requests under way", setting: "mcpMaxConcurrentPerToken", advice: "wait for their answers" }),
  });
  await app.register(uiRoutes, { prefix: "/ui", config });
  await app.register(uiLoginRoutes, { prefix: "/ui", config, logins: uiLogins, failures });
  if (options.store) await app.register(webhookRoutes, { prefix: "/webhooks", ctx, store: options.store });
  // Streams and feeds (docs/streams.md): exec output is persisted from here on, so resumes survive restarts.
  const streams = options.store
    ? new StreamServices({ config, manager, store: options.store, outputSource: (l) => live.onOutput(l), terminals: live, onError: (err, what) => app.log.error({ err }, `streams: ${what}`) })
    : undefined;
  if (streams) {
    const quota = new PrincipalQuota(config.maxStreamsPerPrincipal, { what: "streams open", setting: "maxStreamsPerPrincipal", advice: "close one first" });
    await app.register(streamRoutes, { prefix: "/sessions/:id", ctx, streams, quota });
    await app.register(feedRoutes, { prefix: "/feed", ctx, streams, quota });
    await app.register(attachRoutes, { prefix: "/sessions/:id", ctx, streams, quota });
    app.addHook("preClose", async () => streams.endClients());
  }

  app.addHook("onReady", async () => {
    retention.start();
    // Several nodes: the live sessions of a node that stops answering are marked crashed here.
    live.watchOrphans();
    // Not awaited: the server answers while the sessions come back.
    autoRecovery?.start();
  });
  app.addHook("onClose", async () => {
    unsubscribe();
    // No recovery begins now, and the processes being started are there for the close to stop.
    await autoRecovery?.stop();
    // Before the caller closes the manager: the sessions' last writes go through it.
    await live.close();
    // Its last events (a replay cut short by the close) are written before the manager closes.
    await autoRecovery?.done;
    // After the processes stopped: their last output is queued; it is written before the manager closes.
    await streams?.close();
    await retention.stop();
  });
  return app;
}
