import type { IncomingMessage } from "node:http";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { SessiondError } from "../../core/index.js";
import type { AuthFailureLimiter } from "./failure-limiter.js";
import { isLocal } from "./local-socket.js";
import { LOCAL_ADMIN, type Principal } from "./principal.js";
import type { TokenRegistry } from "./token-registry.js";

declare module "fastify" {
  interface FastifyRequest {
    /** Who made the request; set by the auth hook before any handler runs. */
    principal: Principal;
  }
  interface FastifyContextConfig {
    /** Reachable without a token (health checks, the API description and its docs page). */
    public?: boolean;
    /**
     * Everything the route does is a request of its own to another route, authenticated again as
     * the caller (the MCP endpoint): a reader may POST to it, and its inner writes are refused.
     */
    relaysAsCaller?: boolean;
    /**
     * A reader token may call the route whatever its method: it writes nothing a reader could
     * not do otherwise (a dashboard login code, bound to the reader itself).
     */
    readersMayPost?: boolean;
  }
}

/** How installAuth authenticates. */
export interface AuthOptions {
  readonly registry: TokenRegistry;
  /** false: every request is the local admin (allowed on loopback only; see assertAuthAllowed). */
  readonly enabled: boolean;
  /** URL prefixes that need no token, for routes registered by plugins (the docs page). */
  readonly publicPrefixes: readonly string[];
  /** Counts failed attempts per client address and refuses an address past its limit. */
  readonly failures: AuthFailureLimiter;
}

const SAFE_METHODS = new Set(["GET", "HEAD"]);
const BEARER = /^Bearer[ \t]+(\S+)[ \t]*$/i;

/**
 * Authenticates every request before routing work starts: the Unix socket and a server without
 * auth are the local admin; TCP requests need `Authorization: Bearer <token>`. Readers may only
 * GET. Tokens are never logged (see the logger's redaction) nor echoed in errors.
 *
 * A TCP client address that failed too often (config `authMaxFailures`) gets 429 instead of 401
 * for every further failure until its window ends, and its failures are logged once. A request
 * with a valid token still passes: sandboxed sessions with network share the host's loopback
 * address with every local client, so refusing the address outright would let one session lock
 * everyone out; and a guess cannot succeed anyway against tokens of 32 characters and more (the
 * rule configured tokens must meet). WebSocket and SSE routes are ordinary routes: their
 * upgrade or opening request passes this same hook. A WebSocket upgrade without Authorization
 * may offer the token as the subprotocol `sessiond.bearer.<token in base64url>` (all a browser
 * can send), checked exactly as the header; the answer names the subprotocol `sessiond`
 * ({@link chooseSubprotocol}).
 *
 * Public routes answer anyone (as an anonymous reader when no valid token comes), whatever their
 * method.
 */
export function installAuth(app: FastifyInstance, options: AuthOptions): void {
  app.decorateRequest("principal", null as unknown as Principal);
  const { failures } = options;
  const limited = options.enabled && failures.enabled;
  app.addHook("onRequest", (request, reply, done) => {
    let principal: Principal;
    try {
      principal = authenticate(request, options);
    } catch (err) {
      done(limited ? failedAuthentication(request, reply, failures, err as Error) : (err as Error));
      return;
    }
    // Except where the route says otherwise: public routes (the dashboard's code exchange is a POST), relays, readersMayPost.
    if (principal.role === "reader" && !SAFE_METHODS.has(request.method) && !readersMayPost(request, options)) {
      done(new SessiondError("forbidden", { reason: "a reader token may only read (GET)" }));
      return;
    }
    request.principal = principal;
    done();
  });
}

/**
 * Counts a failed authentication of a TCP request against its address (config
 * `authMaxFailures`) and says what to answer: `refusal` itself, or 429 with `Retry-After` when
 * the address was refused already before this failure (the failure that reaches the limit still
 * gets its 401). The Unix socket is never counted. Shared by the auth hook and the routes that
 * check a secret of their own (the dashboard's login codes).
 */
export function failedAuthentication(request: FastifyRequest, reply: FastifyReply, failures: AuthFailureLimiter, refusal: Error): Error {
  if (!failures.enabled || isLocal(request.raw)) return refusal;
  const refusedMs = failures.refusedForMs(request.ip);
  if (failures.recordFailure(request.ip)) {
    request.log.warn({ address: request.ip }, "too many failed authentications from one address: answering 429 until its window ends");
  }
  if (refusedMs === undefined) return refusal;
  const seconds = Math.max(1, Math.ceil(refusedMs / 1000));
  reply.header("retry-after", String(seconds));
  return new SessiondError("rate_limited", { reason: `too many failed authentications from this address; retry in ${seconds} s` });
}

function authenticate(request: FastifyRequest, options: AuthOptions): Principal {
  if (!options.enabled || isLocal(request.raw)) return LOCAL_ADMIN;
  const header = request.headers.authorization;
  if (header === undefined) {
    const offered = subprotocolBearer(request);
    if (offered !== undefined) {
      const principal = offered === null ? undefined : options.registry.lookup(offered);
      if (principal) return principal;
      throw unauthorized(`the bearer token of the ${SUBPROTOCOL_BEARER_PREFIX}<base64url> subprotocol is not valid`);
    }
    if (isPublic(request, options)) return ANONYMOUS;
    throw unauthorized("this request needs Authorization: Bearer <token> (the admin token is in $SESSIOND_HOME/token)");
  }
  const match = BEARER.exec(header);
  const principal = match ? options.registry.lookup(match[1]!) : undefined;
  if (principal) return principal;
  if (isPublic(request, options)) return ANONYMOUS;
  throw unauthorized(match ? "the bearer token is not valid" : "the Authorization header must be: Bearer <token>");
}

/** The subprotocol a WebSocket upgrade is answered with when the browser offers it. */
export const WEBSOCKET_SUBPROTOCOL = "sessiond";
/** The subprotocol entry that carries a bearer token: this prefix, then the token in base64url. */
export const SUBPROTOCOL_BEARER_PREFIX = "sessiond.bearer.";
const BASE64URL = /^[A-Za-z0-9_-]+$/;

/**
 * The bearer token a WebSocket upgrade offers as a subprotocol (a browser cannot set
 * Authorization on a WebSocket, only `Sec-WebSocket-Protocol`): undefined when it offers none,
 * null when the entry is not base64url.
 */
function subprotocolBearer(request: FastifyRequest): string | null | undefined {
  const offered = request.headers["sec-websocket-protocol"];
  // Only on a real upgrade (Node's parser saw Connection: Upgrade too): a plain request carrying
  // an Upgrade header is routed as a plain request, where no route expects a token this way.
  if (offered === undefined || !isUpgrade(request.raw) || request.headers.upgrade?.toLowerCase() !== "websocket") return undefined;
  for (const entry of offered.split(",")) {
    const protocol = entry.trim();
    if (!protocol.startsWith(SUBPROTOCOL_BEARER_PREFIX)) continue;
    const encoded = protocol.slice(SUBPROTOCOL_BEARER_PREFIX.length);
    return BASE64URL.test(encoded) ? Buffer.from(encoded, "base64url").toString("utf8") : null;
  }
  return undefined;
}

/** Node's parser marks a request that asks to switch protocols (Upgrade with Connection: Upgrade); the typings omit the flag. */
function isUpgrade(raw: IncomingMessage): boolean {
  return (raw as IncomingMessage & { upgrade?: boolean }).upgrade === true;
}

/**
 * The subprotocol ws answers an upgrade with (its `handleProtocols`): `sessiond` when offered —
 * never the entry carrying the token, which the answer would otherwise echo — else the first
 * other one offered, as ws does by default; none when nothing else is offered.
 */
export function chooseSubprotocol(offered: ReadonlySet<string>): string | false {
  if (offered.has(WEBSOCKET_SUBPROTOCOL)) return WEBSOCKET_SUBPROTOCOL;
  for (const protocol of offered) if (!protocol.startsWith(SUBPROTOCOL_BEARER_PREFIX)) return protocol;
  return false;
}

/** Public routes run as a reader: they can only read, and see nothing session-scoped. */
const ANONYMOUS: Principal = Object.freeze({ role: "reader", name: "anonymous" });

function readersMayPost(request: FastifyRequest, options: AuthOptions): boolean {
  const config = request.routeOptions.config;
  return config?.relaysAsCaller === true || config?.readersMayPost === true || isPublic(request, options);
}

function isPublic(request: FastifyRequest, options: AuthOptions): boolean {
  if (request.routeOptions.config?.public === true) return true;
  const q = request.url.indexOf("?");
  const url = q === -1 ? request.url : request.url.slice(0, q);
  return options.publicPrefixes.some((prefix) => url === prefix || url.startsWith(`${prefix}/`));
}

function unauthorized(reason: string): SessiondError {
  return new SessiondError("unauthorized", { reason });
}
