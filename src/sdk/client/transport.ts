import { existsSync, readFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import type { Readable } from "node:stream";
import { Client, type Dispatcher, Pool } from "undici";
import { ExponentialBackoff, type RetryPolicy, handleWhen, retry } from "cockatiel";
import { DATA_FILES, DEFAULT_CLIENT_RETRY, DEFAULT_CLIENT_TIMEOUT_MS, DEFAULT_HOME_DIR, DEFAULT_HOST, DEFAULT_PORT } from "../../core/defaults.js";
import { NOT_APPLIED_CODES, SessiondError, isSessiondError } from "../../core/errors.js";
import { errorFromWire, unreachable } from "./errors.js";
import { type Query, parseBody, requestPath } from "./wire.js";

/** Where and how the client talks to sessiond. Everything is optional; see {@link resolveTarget}. */
export interface ClientOptions {
  /** The server's Unix socket; no token is needed there. */
  socketPath?: string;
  /** The server's URL, e.g. `http://127.0.0.1:8011`; a path prefix is kept. */
  baseUrl?: string;
  /** Bearer token for TCP. @default the admin token in `$SESSIOND_HOME/token` when readable */
  token?: string;
  /** The data dir holding `sessiond.sock` and `token`. @default `$SESSIOND_HOME`, else `~/.sessiond` */
  home?: string;
  /** How long one request may take, connect to last byte. @default config `clientTimeoutMs` (60000) */
  timeoutMs?: number;
  /**
   * Attempts in all for a request the server refused without applying it (codes session_moved,
   * node_unreachable, owned_elsewhere, shutting_down): such a request is sent again after a
   * backoff, whatever its method, since nothing of it happened. 1 turns retrying off. @default 7
   */
  attempts?: number;
  /** The environment read for `SESSIOND_HOME`, `SESSIOND_PORT` and `SESSIOND_CLIENT_TIMEOUT_MS`. @default process.env */
  env?: Record<string, string | undefined>;
}

/** The resolved connection: a socket path or an origin, with a token for TCP. */
export type Target =
  | { kind: "socket"; socketPath: string; timeoutMs: number }
  | { kind: "url"; origin: string; basePath: string; token: string | undefined; timeoutMs: number };

/**
 * Resolves the options: an explicit `socketPath` or `baseUrl` wins; otherwise the Unix socket
 * `$SESSIOND_HOME/sessiond.sock` when it exists, else `http://127.0.0.1:<port>` (config `host`
 * and `port`, env `SESSIOND_PORT`) with the token read from `$SESSIOND_HOME/token`.
 */
export function resolveTarget(options: ClientOptions = {}): Target {
  const env = options.env ?? process.env;
  const home = options.home ?? (env.SESSIOND_HOME || join(env.HOME || homedir(), DEFAULT_HOME_DIR));
  const envTimeout = Number(env.SESSIOND_CLIENT_TIMEOUT_MS);
  const timeoutMs = options.timeoutMs ?? (Number.isInteger(envTimeout) && envTimeout > 0 ? envTimeout : DEFAULT_CLIENT_TIMEOUT_MS);
  if (options.socketPath) return { kind: "socket", socketPath: options.socketPath, timeoutMs };
  const socketPath = join(home, DATA_FILES.socket);
  if (!options.baseUrl && existsSync(socketPath)) return { kind: "socket", socketPath, timeoutMs };
  const url = new URL(options.baseUrl ?? `http://${DEFAULT_HOST}:${env.SESSIOND_PORT || DEFAULT_PORT}`);
  const token = options.token ?? readToken(join(home, DATA_FILES.token));
  return { kind: "url", origin: url.origin, basePath: url.pathname.replace(/\/+$/, ""), token, timeoutMs };
}

function readToken(path: string): string | undefined {
  try {
    return readFileSync(path, "utf8").trim() || undefined;
  } catch {
    return undefined;
  }
}

/** Methods that only read: sent again also when their connection failed before the answer came. */
const READS = new Set(["GET", "HEAD"]);
/** A load balancer's answers for a backend that failed (its own body, not sessiond's). */
const GATEWAY_FAILURES = new Set([502, 504]);
/** Errors of reads that failed in transit (see requestOnce). */
const readFailedInTransit = new WeakSet<object>();

function hasErrorBody(body: unknown): boolean {
  const error = (body as { error?: { code?: unknown } } | undefined)?.error;
  return typeof error === "object" && error !== null && typeof error.code === "string";
}

/** One request: query values that are arrays repeat the parameter; a body is sent as JSON, a raw body as is. */
export interface RequestSpec {
  method: Dispatcher.HttpMethod;
  path: string;
  query?: Query;
  body?: unknown;
  /** Bytes sent as they are (with `headers["content-type"]`), instead of a JSON `body`. */
  rawBody?: string | Uint8Array | Readable;
  /**
   * This request's deadline instead of the client's `timeoutMs`: an exec allowed to run longer
   * than that asks for its own timeout plus the client's.
   */
  timeoutMs?: number;
  headers?: Record<string, string>;
}

/**
 * What the typed clients need of a transport: to send a request, and the usual deadline (an exec
 * allowed to run longer waits its own timeout plus this). `Transport` is one; the CLI's Unix
 * socket transport is another.
 */
export interface RequestSender {
  request<T>(spec: RequestSpec): Promise<Reply<T>>;
  /** How long one request may take unless its spec says otherwise. */
  readonly timeoutMs: number;
}

/** An answer whose body is still a stream (for feeds): the caller reads it and must consume or destroy it. */
export interface StreamReply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Readable;
}

/** A successful answer: the parsed JSON body (undefined when empty) and the headers. */
export interface Reply<T> {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: T;
}

/**
 * HTTP to sessiond over undici: a Client on the Unix socket or a Pool on the origin. Every
 * request has a deadline; a non-2xx answer throws the SessiondError the server sent.
 */
export class Transport implements RequestSender {
  readonly target: Target;
  private readonly dispatcher: Pool;
  /** The connections of open feeds, each its own. */
  private readonly streams = new Set<Client>();
  private readonly retryNotApplied: RetryPolicy;
  private closed = false;

  get timeoutMs(): number {
    return this.target.timeoutMs;
  }

  constructor(options: ClientOptions = {}) {
    this.target = resolveTarget(options);
    this.retryNotApplied = retry(
      handleWhen((err) => NOT_APPLIED_CODES.some((code) => isSessiondError(err, code)) || readFailedInTransit.has(err as object)),
      {
        maxAttempts: Math.max(0, (options.attempts ?? DEFAULT_CLIENT_RETRY.attempts) - 1),
        backoff: new ExponentialBackoff({ initialDelay: DEFAULT_CLIENT_RETRY.baseMs, maxDelay: DEFAULT_CLIENT_RETRY.maxMs }),
      },
    );
    // A pool on the socket too: one connection would queue every request behind a long one
    // (an interrupt behind the exec it should stop).
    this.dispatcher =
      this.target.kind === "socket"
        ? new Pool("http://localhost", { socketPath: this.target.socketPath, connections: 16 })
        : new Pool(this.target.origin, { connections: 16 });
  }

  /** Where requests go, for messages. */
  get where(): string {
    return this.target.kind === "socket" ? `unix:${this.target.socketPath}` : `${this.target.origin}${this.target.basePath}`;
  }

  /**
   * Sends a request and parses the JSON answer.
   * @throws SessiondError from the server's error body, or `server_unreachable` when it cannot be reached in time
   */
  async request<T>(spec: RequestSpec): Promise<Reply<T>> {
    const reply = await this.requestBytes(spec);
    const parsed = parseBody(reply.body.toString("utf8"));
    return { status: reply.status, headers: reply.headers, body: parsed as T };
  }

  /**
   * Sends a request and returns the answer's bytes as they are (artifact downloads, /metrics).
   * @throws SessiondError from the server's error body, or `server_unreachable` when it cannot be reached in time
   */
  async requestBytes(spec: RequestSpec): Promise<Reply<Buffer>> {
    // A streamed body is gone once sent: it cannot be sent again.
    if (spec.rawBody !== undefined && typeof spec.rawBody === "object" && !(spec.rawBody instanceof Uint8Array)) return this.requestOnce(spec);
    return this.retryNotApplied.execute(() => this.requestOnce(spec));
  }

  private async requestOnce(spec: RequestSpec): Promise<Reply<Buffer>> {
    const timeoutMs = spec.timeoutMs ?? this.target.timeoutMs;
    let response: Dispatcher.ResponseData;
    let bytes: Buffer;
    try {
      // The deadline is undici's own: on the wait for the answer's head and on every pause in its
      // body. (An AbortSignal.timeout per request costs a timer and an event target each time,
      // on the path every exec takes.)
      response = await this.dispatcher.request({ ...this.options(spec), headersTimeout: timeoutMs, bodyTimeout: timeoutMs });
      bytes = Buffer.from(await response.body.arrayBuffer());
    } catch (err) {
      const timedOut = isTimeout(err);
      const failure = unreachable(this.where, err, timedOut ? timeoutMs : undefined);
      // A read whose connection failed (a node killed mid-answer) is sent again; a timeout is not.
      if (!timedOut && READS.has(spec.method)) readFailedInTransit.add(failure);
      throw failure;
    }
    if (response.statusCode >= 400) {
      const body = parseBody(bytes.toString("utf8"));
      const failure = errorFromWire(response.statusCode, body);
      // A proxy's own 502/504 (no sessiond error body): the node behind it went away mid-request.
      if (READS.has(spec.method) && GATEWAY_FAILURES.has(response.statusCode) && !hasErrorBody(body)) readFailedInTransit.add(failure);
      throw failure;
    }
    return { status: response.statusCode, headers: response.headers, body: bytes };
  }

  /**
   * Opens a long-lived answer (an SSE feed): the deadline covers only the wait for its headers;
   * the body is handed back unread, and `signal` ends it.
   * @throws SessiondError when the server answers with an error
   */
  async openStream(spec: RequestSpec, signal?: AbortSignal): Promise<StreamReply> {
    if (this.closed) throw new SessiondError("closed");
    const { timeoutMs } = this.target;
    // A connection of its own: a feed holds its connection for as long as it lives, and on the
    // shared one (a single connection over the Unix socket) every other request would queue
    // behind it.
    const connection = this.newConnection();
    this.streams.add(connection);
    const release = () => {
      this.streams.delete(connection);
      void connection.destroy().catch(() => undefined);
    };
    let response: Dispatcher.ResponseData;
    try {
      // bodyTimeout 0: a quiet feed is not a dead one (the server's heartbeats keep proxies awake).
      response = await connection.request({ ...this.options(spec), ...(signal ? { signal } : {}), headersTimeout: timeoutMs, bodyTimeout: 0 });
    } catch (err) {
      release();
      throw unreachable(this.where, err);
    }
    if (response.statusCode >= 400) {
      const text = await response.body.text().catch(() => "");
      release();
      throw errorFromWire(response.statusCode, parseBody(text));
    }
    response.body.once("close", release);
    return { status: response.statusCode, headers: response.headers, body: response.body };
  }

  private newConnection(): Client {
    return this.target.kind === "socket" ? new Client("http://localhost", { socketPath: this.target.socketPath }) : new Client(this.target.origin);
  }

  /** The URL and headers a WebSocket to `path` needs (the Unix socket as `ws+unix:`), with the token over TCP. */
  webSocketTarget(spec: Pick<RequestSpec, "path" | "query">): { url: string; headers: Record<string, string>; socketPath?: string } {
    const headers = this.authHeaders();
    const path = this.pathOf(spec);
    if (this.target.kind === "socket") return { url: `ws://localhost${path}`, headers, socketPath: this.target.socketPath };
    return { url: `${this.target.origin.replace(/^http/, "ws")}${path}`, headers };
  }

  private authHeaders(): Record<string, string> {
    return this.target.kind === "url" && this.target.token ? { authorization: `Bearer ${this.target.token}` } : {};
  }

  private options(spec: RequestSpec): Dispatcher.RequestOptions {
    const headers: Record<string, string> = { accept: "application/json", ...this.authHeaders(), ...spec.headers };
    let body: string | Uint8Array | Readable | undefined = spec.rawBody;
    if (body === undefined && spec.body !== undefined) {
      body = JSON.stringify(spec.body);
      headers["content-type"] = "application/json";
    }
    return { method: spec.method, path: this.pathOf(spec), headers, ...(body !== undefined ? { body } : {}) };
  }

  /** Closes the connections: requests in flight finish first; open feeds end. */
  /** True once `close()` was called: feeds end instead of reconnecting. */
  get isClosed(): boolean {
    return this.closed;
  }

  async close(): Promise<void> {
    this.closed = true;
    // Feeds never finish by themselves: end them.
    await Promise.all([...this.streams].map((c) => c.destroy().catch(() => undefined)));
    this.streams.clear();
    // Idempotent: a client closed twice (a test's cleanup, a shutdown hook) is simply closed.
    if (this.dispatcher.closed || this.dispatcher.destroyed) return;
    await this.dispatcher.close();
  }

  private pathOf(spec: Pick<RequestSpec, "path" | "query">): string {
    return requestPath(spec, this.target.kind === "url" ? this.target.basePath : "");
  }
}

/** undici gave up waiting: for the answer's head, or between pieces of its body. */
function isTimeout(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return code === "UND_ERR_HEADERS_TIMEOUT" || code === "UND_ERR_BODY_TIMEOUT";
}
