/**
 * How the MCP tools reach sessiond: one HTTP request to one of the server's own routes, as the
 * principal the MCP client authenticated as. The routes validate, scope (an agent token sees only
 * its own sessions) and answer errors exactly as they do for any other client; the MCP layer only
 * translates. Inside the server the caller is `app.inject` (src/server/routes/mcp.ts); for
 * `sessiond mcp` it is the CLI's connection (the Unix socket, or a URL and a token).
 */

/** One request to a sessiond route. */
export interface RouteCall {
  readonly method: "GET" | "POST";
  /** The path with its query string, every value already encoded (`/sessions/a%2Fb/events?limit=10`). */
  readonly url: string;
  /** A JSON body, sent as `application/json`; undefined sends none. */
  readonly body?: unknown;
  /** How long the answer may take when longer than the connection's own timeout (an exec that runs long). */
  readonly timeoutMs?: number;
}

/** The route's answer: its status, headers and parsed JSON body (an error is `{"error": {…}}`, docs/errors.md). */
export interface RouteAnswer {
  readonly status: number;
  readonly headers: Readonly<Record<string, string | string[] | number | undefined>>;
  readonly body: unknown;
  /** The body's size as it came, when the caller knows it (what an AnswerBudget counts). */
  readonly bytes?: number;
}

/**
 * Sends route calls. Every HTTP answer resolves, errors included (status ≥ 400 with the server's
 * error body); it rejects only when no answer came (the server unreachable).
 */
export interface RouteCaller {
  call(request: RouteCall): Promise<RouteAnswer>;
}

/**
 * A value as one segment of a route's path, or undefined for `.` and `..`: encodeURIComponent
 * leaves those as they are, and a URL resolves them to another route's path.
 */
export function pathSegment(value: string): string | undefined {
  return value === "." || value === ".." ? undefined : encodeURIComponent(value);
}

/** The wire error of an answer, when it is one (docs/errors.md). */
export function wireError(answer: RouteAnswer): { code: string; message: string; field?: string } | undefined {
  if (answer.status < 400) return undefined;
  const error = (answer.body as { error?: { code?: unknown; message?: unknown; field?: unknown } } | undefined)?.error;
  if (error && typeof error.code === "string" && typeof error.message === "string") {
    return { code: error.code, message: error.message, ...(typeof error.field === "string" ? { field: error.field } : {}) };
  }
  return { code: "internal", message: `HTTP ${answer.status}${typeof answer.body === "string" ? `: ${answer.body.slice(0, 500)}` : ""}` };
}

/** A header's single value. */
export function headerOf(answer: RouteAnswer, name: string): string | undefined {
  const value = answer.headers[name];
  if (Array.isArray(value)) return value[0];
  return value === undefined ? undefined : String(value);
}
