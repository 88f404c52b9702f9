/** How one attempt at forwarding a request ended. */
export type ForwardOutcome =
  /** The owner answered (the answer is being relayed), or the client went away: nothing more to do. */
  | { readonly answered: true }
  /**
   * No answer. `effect` says what the request may have done on the owner: `none` when it never got
   * there, or only reads (it may be sent again, elsewhere, or served here); `maybe` when it reached
   * the owner and may have been applied (it is never sent twice); `unsent` when this node's HTTP
   * client refused to send it (a bug: nothing was sent, and nothing would be anywhere).
   */
  | { readonly answered: false; readonly effect: "none" | "maybe" | "unsent"; readonly reason: string };

/** Error codes of a connection that never opened: the owner did not get the request. */
const NOT_CONNECTED = new Set(["ECONNREFUSED", "UND_ERR_CONNECT_TIMEOUT", "EHOSTUNREACH", "ENETUNREACH", "EHOSTDOWN", "ENETDOWN", "EADDRNOTAVAIL", "ENOTFOUND", "EAI_AGAIN"]);

/** undici's codes for a request it will not send. */
const REFUSED_HERE = new Set(["UND_ERR_INVALID_ARG", "UND_ERR_NOT_SUPPORTED"]);

/** Methods whose request may be sent twice (RFC 9110 §9.2.2); sessiond's are reads. */
const IDEMPOTENT = new Set(["GET", "HEAD", "OPTIONS"]);

/**
 * The outcome of an attempt that failed with `err` before any answer came.
 * @param bodySent whether any of the request's body was read to be sent
 */
export function failedAttempt(method: string, err: unknown, bodySent: boolean): ForwardOutcome {
  const code = errorCode(err);
  const reason = describe(err, code);
  if (code !== undefined && REFUSED_HERE.has(code)) return { answered: false, effect: "unsent", reason };
  const connected = code === undefined || !NOT_CONNECTED.has(code);
  const effect = bodySent || (connected && !IDEMPOTENT.has(method)) ? "maybe" : "none";
  return { answered: false, effect, reason: connected ? `the connection failed before it answered: ${reason}` : reason };
}

/** The system or undici code of an error, looking through the wrappers around it (reply-from's, Node's AggregateError of several addresses). */
function errorCode(err: unknown): string | undefined {
  for (let e: unknown = err, depth = 0; e !== null && typeof e === "object" && depth < 5; depth++) {
    const { code, errors, cause } = e as { code?: unknown; errors?: unknown; cause?: unknown };
    if (typeof code === "string" && !code.startsWith("FST_")) return code;
    e = Array.isArray(errors) && errors.length > 0 ? errors[0] : cause;
  }
  return undefined;
}

function describe(err: unknown, code: string | undefined): string {
  const root = rootCause(err);
  const message = root instanceof Error && root.message !== "" ? root.message : String(root);
  return code !== undefined && !message.includes(code) ? `${code}: ${message}` : message;
}

function rootCause(err: unknown): unknown {
  let e = err;
  for (let depth = 0; depth < 5 && e instanceof Error && e.cause !== undefined; depth++) e = e.cause;
  return e;
}
