/**
 * Every error sessiond reports, in one table: a stable code, the HTTP status it maps to, and a
 * message template. Codes are never reused or renamed; clients (the SDK, the CLI) rebuild typed
 * errors from the code. docs/errors.md lists each one, and a test keeps the two in step.
 */
export const ERROR_CODES = {
  // input
  validation: { status: 400, message: "invalid {field}: {reason}" },
  too_large: { status: 413, message: "{field} is {size} bytes, over the limit of {limit} bytes" },
  unsupported_media_type: { status: 415, message: "unsupported content type {contentType}" },
  body_too_large: { status: 413, message: "the request body is over the limit of {limit} bytes" },
  malformed_request: { status: 400, message: "malformed HTTP request: {reason}" },
  header_too_large: { status: 431, message: "the request's headers are over the limit of {limit} bytes" },
  chunk_extensions_too_large: { status: 413, message: "a chunk's extensions are over the limit of {limit} bytes" },
  request_timeout: { status: 408, message: "the request did not arrive in full within {timeoutMs} ms" },
  method_not_allowed: { status: 405, message: "{method} is not allowed on {path} (allowed: {allow})" },
  // lookup and state
  not_found: { status: 404, message: "{what} {ref} not found" },
  conflict: { status: 409, message: "{reason}" },
  ambiguous_name: { status: 409, message: "{count} sessions are named {name}: address one by its id or as agent_id/name ({candidates})" },
  invalid_transition: { status: 409, message: "cannot {action} a session that is {from}{target}" },
  session_not_active: { status: 409, message: "cannot {action}: session {ref} is {status}; {hint}" },
  version_conflict: { status: 412, message: "session {ref} is at version {actual}, not {expected}" },
  range_not_satisfiable: { status: 416, message: "{what} is not available: valid {field} range is {range}" },
  not_a_terminal: { status: 409, message: "session {ref} is a {kind} session; only shell sessions have a terminal" },
  exec_not_running: { status: 409, message: "cannot {action}: exec {exec_id} is {state}" },
  session_busy: { status: 409, message: "session {ref} is running exec {exec_id}; its exec policy is reject" },
  no_session_context: { status: 400, message: "{operation} was called without a session id outside withSession(); pass the id or run it inside withSession(id, fn)" },
  write_refused: { status: 422, message: "the store refused this write: {reason}" },
  snapshot_too_large: {
    status: 413,
    message: "the workspace holds {size} bytes to snapshot, over the limit of {limit} bytes (maxSnapshotBytes); nothing was written. List what need not be kept in .sessiondignore or snapshotIgnore",
  },
  file_changed: { status: 409, message: "{path} changed while it was being snapshotted, {attempts} times in a row; nothing was written: retry when it is quiet" },
  // access and load
  unauthorized: { status: 401, message: "{reason}" },
  forbidden: { status: 403, message: "{reason}" },
  rate_limited: { status: 429, message: "{reason}" },
  // server side
  sync_unavailable: { status: 500, message: "{operation} is synchronous and needs the embedded SQLite store" },
  spawn_failed: { status: 500, message: "could not start the {kind} process: {reason}" },
  sandbox_unavailable: {
    status: 503,
    message: 'live sessions run in a sandbox, which cannot start on this server: it lacks {missing}. Install what is missing, or set config sandbox: "none" to run sessions as the server\'s user',
  },
  target_unavailable: { status: 501, message: 'live sessions cannot run on server "{server}": {reason}' },
  dependency_missing: { status: 501, message: "{feature} needs the package {package}, which is not installed: npm install {package}" },
  closed: { status: 503, message: "the session manager is closed" },
  data_dir_unusable: { status: 500, message: "cannot use the data dir {home}: {reason}" },
  owner_unreachable: { status: 503, message: "{owner}, which owns the data dir {home}, {reason}" },
  not_owner: { status: 409, message: "{operation} needs the engine, which runs in {owner}, the owner of the data dir {home}; use sessiond/client on {socket}" },
  store_failure: { status: 503, message: "the store failed: {reason}" },
  commit_rolled_back: { status: 503, message: "the store ended the transaction before it committed ({reason}); nothing of it was applied: retry it" },
  session_moved: { status: 503, message: "session {ref} moved to node {node} before this write was committed; it was not applied: retry it" },
  node_unreachable: { status: 503, message: "session {ref} is owned by node {node}, which does not answer ({reason}); retry once its lease runs out, within {retryMs} ms" },
  forward_failed: {
    status: 502,
    message: "the request reached node {node}, which owns session {ref}, and it failed before answering ({reason}); it may or may not have been applied: read the session before sending it again",
  },
  owned_elsewhere: { status: 503, message: "session {ref} is owned by node {node}: send the request there (or through the load balancer)" },
  shutting_down: { status: 503, message: "the server is shutting down; retry on the next one" },
  server_unreachable: { status: 503, message: "{reason}" },
  ui_not_built: { status: 503, message: "the dashboard is not built: {dir} has no index.html; run npm run build (or set config uiDir to a build)" },
  snapshot_damaged: { status: 500, message: "workspace snapshot {digest} cannot be read: {reason}" },
  internal: { status: 500, message: "{reason}" },
} as const satisfies Record<string, { status: number; message: string }>;

/** A stable, documented error code. */
export type ErrorCode = keyof typeof ERROR_CODES;

/**
 * The errors of a request the server refused before applying any of it: sending it again is
 * safe whatever its method (docs/scale-out.md, "What a client sees"). They are a cluster's and a
 * shutdown's ordinary answers, not failures of the server.
 */
export const NOT_APPLIED_CODES: readonly ErrorCode[] = ["session_moved", "node_unreachable", "owned_elsewhere", "shutting_down", "commit_rolled_back"];

/** Values substituted into an error's message template. */
export type ErrorParams = Record<string, string | number | undefined>;

/** Marks every SessiondError, whichever copy of this module made it (see Symbol.hasInstance below). */
const SESSIOND_ERROR = Symbol.for("sessiond.error");

/**
 * The one error class of sessiond. `code` is stable across versions and the wire; `field` names
 * the offending input field where there is one.
 *
 * @example
 * throw new SessiondError("not_found", { what: "session", ref: "build-42" });
 */
export class SessiondError extends Error {
  /**
   * `instanceof` by brand, not by prototype: the installed CLI is a bundle that loads some
   * commands lazily from the compiled tree, so two copies of this class meet in one process
   * (as they would with two installs of the SDK). An error from either is a SessiondError.
   */
  static override [Symbol.hasInstance](value: unknown): boolean {
    return typeof value === "object" && value !== null && (value as { [SESSIOND_ERROR]?: unknown })[SESSIOND_ERROR] === true;
  }

  readonly [SESSIOND_ERROR] = true;
  readonly code: ErrorCode;
  readonly status: number;
  readonly field: string | undefined;
  readonly params: ErrorParams;

  constructor(code: ErrorCode, params: ErrorParams = {}, options?: { field?: string; cause?: unknown }) {
    super(formatMessage(ERROR_CODES[code].message, params), options?.cause ? { cause: options.cause } : undefined);
    this.name = "SessiondError";
    this.code = code;
    this.status = ERROR_CODES[code].status;
    this.field = options?.field ?? (typeof params.field === "string" ? params.field : undefined);
    this.params = params;
  }

  /** The wire shape shared by every surface: `{"error": {"code", "message", "field"?}}`. */
  toJSON(): { error: { code: ErrorCode; message: string; field?: string } } {
    return {
      error: { code: this.code, message: this.message, ...(this.field ? { field: this.field } : {}) },
    };
  }
}

function formatMessage(template: string, params: ErrorParams): string {
  return template.replace(/\{(\w+)\}/g, (_, key: string) => String(params[key] ?? `<${key}>`));
}

/** True when `err` is a SessiondError, optionally of the given code. */
export function isSessiondError(err: unknown, code?: ErrorCode): err is SessiondError {
  return err instanceof SessiondError && (code === undefined || err.code === code);
}

/** Shorthands for the errors raised most often, so call sites read as sentences. */
export const errors = {
  validation: (field: string, reason: string) => new SessiondError("validation", { field, reason }, { field }),
  tooLarge: (field: string, size: number, limit: number) =>
    new SessiondError("too_large", { field, size, limit }, { field }),
  sessionNotFound: (ref: string) => new SessiondError("not_found", { what: "session", ref }),
  checkpointNotFound: (ref: string) => new SessiondError("not_found", { what: "checkpoint", ref }),
  conflict: (reason: string, field?: string) => new SessiondError("conflict", { reason }, field ? { field } : undefined),
  invalidTransition: (action: string, from: string, to: string) =>
    new SessiondError("invalid_transition", { action, from, to, target: from === to ? " already" : ` (to ${to})` }, { field: "status" }),
  versionConflict: (ref: string, expected: number, actual: number) =>
    new SessiondError("version_conflict", { ref, expected, actual }, { field: "version" }),
};
