import type { FastifyInstance, FastifyRequest } from "fastify";
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
 * upgrade or opening request passes this same hook.
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
      if (limited && !isLocal(request.raw)) {
        // Refused already, before this failure: the failure that reaches the limit still gets its 401.
        const refusedMs = failures.refusedForMs(request.ip);
        if (failures.recordFailure(request.ip)) {
          request.log.warn({ address: request.ip }, "too many failed authentications from one address: answering 429 until its window ends");
        }
        if (refusedMs !== undefined) {
          const seconds = Math.max(1, Math.ceil(refusedMs / 1000));
          reply.header("retry-after", String(seconds));
          done(new SessiondError("rate_limited", { reason: `too many failed authentications from this address; retry in ${seconds} s` }));
          return;
        }
      }
      done(err as Error);
      return;
    }
    if (principal.role === "reader" && !SAFE_METHODS.has(request.method) && request.routeOptions.config?.relaysAsCaller !== true) {
      done(new SessiondError("forbidden", { reason: "a reader token may only read (GET)" }));
      return;
    }
    request.principal = principal;
    done();
  });
}

function authenticate(request: FastifyRequest, options: AuthOptions): Principal {
  if (!options.enabled || isLocal(request.raw)) return LOCAL_ADMIN;
  const header = request.headers.authorization;
  if (header === undefined) {
    if (isPublic(request, options)) return ANONYMOUS;
    throw unauthorized("this request needs Authorization: Bearer <token> (the admin token is in $SESSIOND_HOME/token)");
  }
  const match = BEARER.exec(header);
  const principal = match ? options.registry.lookup(match[1]!) : undefined;
  if (principal) return principal;
  if (isPublic(request, options)) return ANONYMOUS;
  throw unauthorized(match ? "the bearer token is not valid" : "the Authorization header must be: Bearer <token>");
}

/** Public routes run as a reader: they can only read, and see nothing session-scoped. */
const ANONYMOUS: Principal = Object.freeze({ role: "reader", name: "anonymous" });

function isPublic(request: FastifyRequest, options: AuthOptions): boolean {
  if (request.routeOptions.config?.public === true) return true;
  const q = request.url.indexOf("?");
  const url = q === -1 ? request.url : request.url.slice(0, q);
  return options.publicPrefixes.some((prefix) => url === prefix || url.startsWith(`${prefix}/`));
}

function unauthorized(reason: string): SessiondError {
  return new SessiondError("unauthorized", { reason });
}
