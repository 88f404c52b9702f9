import { ERROR_CODES, type ErrorCode, SessiondError } from "../../core/errors.js";

/** The wire error shape every sessiond surface answers: `{"error": {"code", "message", "field"?}}`. */
export interface WireError {
  error: { code: string; message: string; field?: string };
}

/** True when `code` is one of ours (ERROR_CODES). */
export function isErrorCode(code: unknown): code is ErrorCode {
  return typeof code === "string" && Object.hasOwn(ERROR_CODES, code);
}

/** The code a bare HTTP status stands for, when a reply carries no sessiond error body (a proxy's 502, say). */
function codeForStatus(status: number): ErrorCode {
  switch (status) {
    case 400:
      return "validation";
    case 401:
      return "unauthorized";
    case 403:
      return "forbidden";
    case 404:
      return "not_found";
    case 405:
      return "method_not_allowed";
    case 408:
      return "request_timeout";
    case 409:
      return "conflict";
    case 412:
      return "version_conflict";
    case 413:
      return "body_too_large";
    case 415:
      return "unsupported_media_type";
    case 429:
      return "rate_limited";
    case 431:
      return "header_too_large";
    case 503:
      return "shutting_down";
    default:
      return "internal";
  }
}

/**
 * Rebuilds the typed SessiondError a server sent: the same `code`, `field`, `status` and
 * message. A code this SDK does not know (a newer server) becomes `internal`, keeping the wire
 * code in `params.wire_code`; a reply without our error body is mapped from its HTTP status.
 *
 * @example
 * throw errorFromWire(412, { error: { code: "version_conflict", message: "…", field: "version" } });
 */
export function errorFromWire(status: number, body: unknown): SessiondError {
  const wire = (body as Partial<WireError> | undefined)?.error;
  if (!wire || typeof wire !== "object" || typeof wire.message !== "string") {
    const code = codeForStatus(status);
    const text = typeof body === "string" && body.length ? body.slice(0, 500) : `HTTP ${status}`;
    return withMessage(new SessiondError(code, { reason: text }), `${text} (HTTP ${status})`);
  }
  const field = typeof wire.field === "string" ? wire.field : undefined;
  if (!isErrorCode(wire.code)) {
    return withMessage(new SessiondError("internal", { reason: wire.message, wire_code: String(wire.code) }, field ? { field } : undefined), wire.message);
  }
  return withMessage(new SessiondError(wire.code, {}, field ? { field } : undefined), wire.message);
}

/** The server formatted the message from params the SDK never sees: keep its text. */
function withMessage(err: SessiondError, message: string): SessiondError {
  err.message = message;
  return err;
}

/**
 * A request that never got an answer (no server, refused, timed out) as a SessiondError wrapping
 * the cause: `server_unreachable`, which no server sends — a client's own finding, not a bug.
 */
export function unreachable(target: string, cause: unknown, timeoutMs?: number): SessiondError {
  const reason =
    timeoutMs !== undefined
      ? `no answer from sessiond at ${target} within ${timeoutMs} ms`
      : `could not reach sessiond at ${target}: ${cause instanceof Error ? cause.message : String(cause)}`;
  return new SessiondError("server_unreachable", { reason }, { cause });
}
