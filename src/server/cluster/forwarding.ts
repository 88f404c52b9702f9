import type { Readable } from "node:stream";
import replyFrom from "@fastify/reply-from";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { type Config, SessiondError } from "../../core/index.js";
import type { OwnerNode, Placement, SessionManager, SessionPlacement } from "../../engine/index.js";
import { LOCAL_ADMIN, canSee, lookupScope } from "../auth/index.js";
import type { ForwardCounter } from "./cluster-metrics.js";
import { FORWARDED_BY_HEADER, NODE_HEADER } from "./headers.js";
import { forwardHttp } from "./http-forward.js";
import type { ForwardOutcome } from "./outcome.js";
import { tunnelUpgrade } from "./upgrade-tunnel.js";

/** What installForwarding needs. */
export interface ForwardingOptions {
  readonly config: Pick<Config, "forwardConnectTimeoutMs" | "leaseTtlMs">;
  readonly manager: Pick<SessionManager, "find">;
  readonly cluster: SessionPlacement;
  /**
   * The admin token, sent on a forwarded request of the local admin (the Unix socket, or a server
   * without auth), which carries none. Every node of a cluster has the same one.
   */
  readonly adminToken: string;
  /** Told how each forwarded request ended (for /metrics). */
  readonly countForward?: ForwardCounter;
}

/**
 * Makes this app one node of a cluster (docs/scale-out.md): every answer names it in
 * `x-sessiond-node`, and a request for a session another node owns is forwarded there — REST,
 * SSE and WebSocket upgrades alike — and its answer relayed as it streams.
 *
 * The decision runs in a preParsing hook: after every onRequest hook (authentication, rate
 * limits, the WebSocket handshake check), so a refused request never costs a lookup, and before
 * the body is read, so the body goes on as the raw bytes that came. Routes with a session in
 * their path (`/sessions/:id/…`, `/session/:id/…`) look the session up as the route would; one
 * this node does not find, or the principal may not see, is left to the route (its 404). A
 * request that was forwarded once already is never forwarded again: 503 owned_elsewhere.
 *
 * An owner that does not answer is placed again once (SessionPlacement.placeAfterFailure): the
 * request is then served here, or forwarded once to the new owner, or refused with 503
 * node_unreachable when the same owner still holds the session. Only a request that certainly did
 * not take effect is sent twice (it never reached the owner, or it only reads): a write that
 * failed once its bytes reached the owner is a 502 forward_failed, saying it may have been applied.
 *
 * Install it early (before authentication) so that even refused answers carry the node's name;
 * the forwarding itself comes after authentication whatever the order, being a later stage.
 * Nothing of it is installed without a cluster (the SQLite store).
 */
export async function installForwarding(app: FastifyInstance, options: ForwardingOptions): Promise<void> {
  const { config, manager, cluster } = options;
  const nodeName = cluster.nodeName;
  const authorization = `Bearer ${options.adminToken}`;
  const open = new Set<() => void>();
  const track = (close: () => void) => {
    open.add(close);
    return () => open.delete(close);
  };
  const trackBody = (body: Readable) => track(() => body.destroy());

  await app.register(replyFrom, {
    undici: {
      connectTimeout: config.forwardConnectTimeoutMs,
      // No cap per owner: a capped pool is one queue every forwarded request waits in, which a
      // client holding requests open (a slow body, long streams) could fill for everyone. Each
      // forwarded request holds its own connection, as its client holds one here.
      connections: null,
      // A stream (SSE, an exec waited for) may be quiet for as long as it likes: the owner ends it.
      headersTimeout: 0,
      bodyTimeout: 0,
    },
    destroyAgent: true,
    disableCache: true,
    disableRequestLogging: true,
  });

  // On the raw response: it reaches hijacked answers too (SSE streams write their own head).
  app.addHook("onRequest", (_request, reply, done) => {
    reply.raw.setHeader(NODE_HEADER, nodeName);
    done();
  });
  app.addHook("onReady", (done) => {
    // A WebSocket's 101 is written by ws itself, not through the reply.
    app.websocketServer?.on("headers", (headers: string[]) => headers.push(`${NODE_HEADER}: ${nodeName}`));
    done();
  });
  // The relayed streams and tunnels end with the server, as its own streams do.
  app.addHook("preClose", (done) => {
    for (const close of open) close();
    open.clear();
    done();
  });

  /** Sends the request to `owner` once. */
  const attempt = (request: FastifyRequest, reply: FastifyReply, payload: Readable, owner: OwnerNode & { url: string }): Promise<ForwardOutcome> => {
    const url = new URL(owner.url);
    if (request.ws) {
      return tunnelUpgrade(request, reply, { url, nodeName, authorization: authorizationFor(request), connectTimeoutMs: config.forwardConnectTimeoutMs, track });
    }
    return forwardHttp(request, reply, payload, { origin: url.origin, nodeName, authorization: authorizationFor(request), track: trackBody });
  };

  const authorizationFor = (request: FastifyRequest): string | undefined => (request.principal === LOCAL_ADMIN ? authorization : undefined);

  /**
   * Forwards the request when another node owns its session.
   * @returns true when it was answered (forwarded); false when the route serves it here
   */
  const forward = async (request: FastifyRequest, reply: FastifyReply, payload: Readable, ref: string, known: Placement | undefined): Promise<boolean> => {
    let placement: Placement;
    let sessionId: string;
    if (known) {
      // An id memory places for an unscoped principal: no lookup (the owner checks the rest).
      placement = known;
      sessionId = ref;
    } else {
      let session;
      try {
        session = await manager.find(ref, lookupScope(request.principal));
      } catch {
        // The route looks it up again and answers the error (an ambiguous name, say).
        return false;
      }
      if (session === undefined || !canSee(request.principal, session)) return false;
      sessionId = session.id;
      placement = await cluster.place(sessionId);
    }
    if (placement.here) return false;
    if (request.headers[FORWARDED_BY_HEADER] !== undefined) throw new SessiondError("owned_elsewhere", { ref, node: placement.owner.name });
    let owner = placement.owner;
    for (let placedAgain = false; ; placedAgain = true) {
      if (owner.url === null) throw unreachable(ref, owner, "it takes no requests from other nodes (it has no advertised URL)");
      const outcome = await attempt(request, reply, payload, { ...owner, url: owner.url });
      if (outcome.answered) {
        options.countForward?.("relayed");
        return true;
      }
      if (outcome.effect === "maybe") {
        options.countForward?.("failed");
        throw new SessiondError("forward_failed", { ref, node: owner.name, reason: outcome.reason });
      }
      if (outcome.effect === "unsent") throw new SessiondError("internal", { reason: `could not forward the request to node ${owner.name}: ${outcome.reason}` });
      if (placedAgain) throw unreachable(ref, owner, outcome.reason);
      placement = await cluster.placeAfterFailure(sessionId, owner);
      if (placement.here) return false;
      if (placement.owner.id === owner.id) throw unreachable(ref, owner, outcome.reason);
      owner = placement.owner;
    }
  };

  const unreachable = (ref: string, owner: OwnerNode, reason: string): SessiondError => {
    options.countForward?.("unreachable");
    return new SessiondError("node_unreachable", { ref, node: owner.name, reason, retryMs: config.leaseTtlMs });
  };

  app.addHook("preParsing", (request, reply, payload, done) => {
    const ref = sessionRef(request);
    if (ref === undefined) return done(null, payload);
    // A body the owner would refuse for its size is refused here, before a byte goes on: the
    // owner's 413 would come while this node still sends, and end as a broken pipe (every node
    // has the same limits).
    const limit = request.routeOptions.bodyLimit;
    if (Number(request.headers["content-length"] ?? 0) > limit) return done(new SessiondError("body_too_large", { limit }, { field: "body" }));
    // A scoped principal (an agent token) is always looked up here: forwarding an id it may not
    // see would show, in the answer's node header, that the session exists on another node.
    const known = lookupScope(request.principal) === undefined ? cluster.placeKnown(ref) : undefined;
    if (known?.here) return done(null, payload);
    forward(request, reply, payload, ref, known).then(
      (answered) => {
        if (!answered) done(null, payload);
      },
      (err: unknown) => {
        if (err instanceof SessiondError && err.code === "node_unreachable") reply.header("retry-after", String(Math.ceil(config.leaseTtlMs / 1000)));
        done(err as Error);
      },
    );
  });
}

/** The session a request's route names in its path, if it names one. */
function sessionRef(request: FastifyRequest): string | undefined {
  const route = request.routeOptions.url;
  if (route === undefined || !(route.startsWith("/sessions/:id") || route.startsWith("/session/:id"))) return undefined;
  return (request.params as { id?: string }).id;
}
