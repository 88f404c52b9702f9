import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { type ErrorCode, NOT_APPLIED_CODES, SessiondError, errors } from "../core/index.js";
import { discardRestOfBody } from "./discard-body.js";

/** The body limit of the request's route (a route may set a smaller one than config bodyLimitBytes). */
function routeBodyLimit(request: FastifyRequest, bodyLimitBytes: number): number {
  const own = (request.routeOptions as { bodyLimit?: number } | undefined)?.bodyLimit;
  return typeof own === "number" ? own : bodyLimitBytes;
}

/**
 * Maps every failure a request can meet — the engine's SessiondErrors, Fastify's own parser,
 * router and validation errors, the rate limiter — to the one wire shape
 * `{"error": {"code", "message", "field"?}}` with the code's status. Bad input is always a 4xx;
 * only a bug is a 500, and its details go to the log, not the client.
 */
export function toSessiondError(err: unknown, request: FastifyRequest, bodyLimitBytes: number): SessiondError {
  if (err instanceof SessiondError) return err;
  const fastifyError = err as Partial<FastifyError> & { status?: number };
  switch (fastifyError.code) {
    case "FST_ERR_CTP_INVALID_MEDIA_TYPE":
      return new SessiondError("unsupported_media_type", { contentType: request.headers["content-type"] ?? "(none)" }, { field: "Content-Type" });
    case "FST_ERR_CTP_BODY_TOO_LARGE":
      return new SessiondError("body_too_large", { limit: routeBodyLimit(request, bodyLimitBytes) }, { field: "body" });
    case "FST_ERR_CTP_INVALID_JSON_BODY":
      return errors.validation("body", "malformed JSON");
    case "FST_ERR_CTP_EMPTY_JSON_BODY":
      return errors.validation("body", "empty JSON body");
    case "FST_ERR_CTP_INVALID_CONTENT_LENGTH":
      return errors.validation("Content-Length", "does not match the body received");
    case "FST_ERR_BAD_URL":
    case "FST_ERR_MAX_PARAM_LENGTH":
      return errors.validation("url", "malformed or too long");
  }
  const status = fastifyError.statusCode ?? fastifyError.status;
  if (typeof status === "number" && status >= 400 && status < 500) {
    const code = CODE_BY_STATUS[status];
    const reason = typeof fastifyError.message === "string" ? fastifyError.message : "bad request";
    if (code === "unsupported_media_type") return new SessiondError(code, { contentType: request.headers["content-type"] ?? "(none)" });
    if (code === "body_too_large") return new SessiondError(code, { limit: routeBodyLimit(request, bodyLimitBytes) });
    if (code === "not_found") return new SessiondError(code, { what: "route", ref: `${request.method} ${request.url}` });
    if (code) return new SessiondError(code, { reason });
    return errors.validation("request", reason);
  }
  return new SessiondError("internal", { reason: "internal error; see the server log" }, { cause: err });
}

const CODE_BY_STATUS: Partial<Record<number, ErrorCode>> = {
  401: "unauthorized",
  403: "forbidden",
  404: "not_found",
  409: "conflict",
  413: "body_too_large",
  415: "unsupported_media_type",
  429: "rate_limited",
};

/** Sends a SessiondError in the wire shape. */
export function sendError(reply: FastifyReply, error: SessiondError): FastifyReply {
  if (error.code === "unauthorized") reply.header("www-authenticate", 'Bearer realm="sessiond"');
  if (reply.request.headers.upgrade !== undefined) {
    // A refused WebSocket upgrade: its socket left the HTTP server's care with the upgrade event,
    // so nothing else would ever end it (and an open socket holds a graceful shutdown open).
    reply.header("connection", "close");
    reply.raw.once("finish", () => reply.raw.socket?.end());
  }
  return reply.status(error.status).type("application/json; charset=utf-8").send(JSON.stringify(error.toJSON()));
}

/**
 * Installs the error handler, the 404/405 handler and the router's error hook on the root app.
 * Call it before any route is registered: it learns the routes' paths as they are added.
 */
export function installErrorHandling(app: FastifyInstance, { bodyLimitBytes, refusedUploadDrainMs }: { bodyLimitBytes: number; refusedUploadDrainMs: number }): void {
  const methods = new RouteMethods();
  app.addHook("onRoute", (route) => methods.add(route.url ?? route.path, route.method));
  app.setErrorHandler((err, request, reply) => {
    const error = toSessiondError(err, request, bodyLimitBytes);
    // A request refused unapplied (a session that moved, a node shutting down) is a cluster's
    // ordinary answer, and one a client can provoke at will (a forged forwarded-by header): a
    // warning, not an error to page anyone about.
    if (error.status >= 500) request.log[NOT_APPLIED_CODES.includes(error.code) ? "warn" : "error"]({ err, reqId: request.id, method: request.method, url: request.url }, "request failed");
    if (error.code === "body_too_large") keepReadingTheBody(request, reply, bodyLimitBytes, refusedUploadDrainMs);
    return sendError(reply, error);
  });
  app.setNotFoundHandler((request, reply) => {
    const path = request.url.split("?")[0] ?? "";
    const allowed = methods.of(path);
    if (allowed.length > 0) {
      reply.header("allow", allowed.join(", "));
      return sendError(reply, new SessiondError("method_not_allowed", { method: request.method, path, allow: allowed.join(", ") }, { field: "method" }));
    }
    return sendError(reply, new SessiondError("not_found", { what: "route", ref: `${request.method} ${path}` }));
  });
}

/**
 * A body over the limit is refused before it is all read, and Fastify then closes the connection
 * — while the client is still sending it, so the client fails on its write (EPIPE) and never
 * reads the 413. When the body's length is declared and not too far over the limit, the
 * connection stays open instead and the rest of the body is read and dropped (discardRestOfBody,
 * within `drainMs`): the client finishes sending, then reads why it was refused. A larger body is
 * not read through (closed).
 */
function keepReadingTheBody(request: FastifyRequest, reply: FastifyReply, bodyLimitBytes: number, drainMs: number): void {
  const declared = Number(request.headers["content-length"]);
  if (!Number.isSafeInteger(declared) || declared > bodyLimitBytes * DRAINED_BODY_LIMITS) return;
  reply.removeHeader("connection");
  discardRestOfBody(request.raw, drainMs);
}

/** How many times the body limit a refused body may declare and still be read through (see keepReadingTheBody). */
const DRAINED_BODY_LIMITS = 16;

/**
 * The methods each registered path takes, so that a request for a path that exists with another
 * method is a 405 naming the allowed ones rather than a 404 (which would say the path is wrong).
 * Paths use the router's syntax (`:param` for one segment, `*` for the rest); a trailing slash
 * does not count (the router ignores it).
 */
class RouteMethods {
  private readonly routes: { readonly pattern: RegExp; readonly methods: Set<string> }[] = [];
  private readonly byPath = new Map<string, Set<string>>();

  add(path: string, method: string | string[]): void {
    const key = trimSlash(path);
    let set = this.byPath.get(key);
    if (!set) {
      set = new Set();
      this.byPath.set(key, set);
      this.routes.push({ pattern: patternOf(key), methods: set });
    }
    for (const m of Array.isArray(method) ? method : [method]) set.add(m.toUpperCase());
    // Fastify answers HEAD for every GET route.
    if (set.has("GET")) set.add("HEAD");
  }

  /** The methods the path takes (sorted); empty when no route has that path. */
  of(path: string): string[] {
    const key = trimSlash(path);
    const found = new Set<string>();
    for (const route of this.routes) if (route.pattern.test(key)) for (const m of route.methods) found.add(m);
    return [...found].sort();
  }
}

function trimSlash(path: string): string {
  return path.length > 1 && path.endsWith("/") ? path.slice(0, -1) : path;
}

function patternOf(path: string): RegExp {
  const parts = path.split("/").map((segment) => {
    if (segment === "*") return ".*";
    if (segment.startsWith(":")) return "[^/]+";
    return segment.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  });
  return new RegExp(`^${parts.join("/")}$`);
}

/** Fastify's `frameworkErrors` option: errors raised before routing (a malformed URL). */
export function frameworkErrors(bodyLimitBytes: number) {
  return (err: FastifyError, request: FastifyRequest, reply: FastifyReply): void => {
    void sendError(reply, toSessiondError(err, request, bodyLimitBytes));
  };
}
