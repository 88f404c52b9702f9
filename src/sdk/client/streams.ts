/**
 * Live feeds as async iterators, on Server-Sent Events over undici (the wire protocol is
 * docs/streams.md). Each iterator remembers where it stands (the SSE `id`, or a `ready`/`cutoff`
 * message's cursor) and, when the connection drops or the server cuts it off as a slow consumer,
 * reconnects from there with backoff: the server then sends exactly the rest, with no gap and no
 * duplicate. Breaking out of a `for await` closes the connection.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { ExponentialBackoff, type IBackoff } from "cockatiel";
import { type EventSourceMessage, createParser } from "eventsource-parser";
import { SessiondError, isSessiondError } from "../../core/errors.js";
import type { JsonObject } from "../../core/session.js";
import type { RequestSpec, Transport } from "./transport.js";

/** A session event, as the per-session stream sends it. */
export interface StreamEvent {
  type: "event";
  session_id: string;
  seq: number;
  ts: string;
  event_type: string;
  data: JsonObject;
}

/** A session event on the global feed: with its global position and the session's kind and agent. */
export interface FeedEvent extends StreamEvent {
  pos: number;
  kind: string;
  agent_id: string | null;
}

/** A chunk of an exec's output, as sent (`data` is base64 when `encoding` says so). */
export interface OutputMessage {
  type: "output";
  session_id: string;
  exec_id: string;
  stream: "stdout" | "stderr";
  /** Byte offset of the chunk's first byte within this exec's stream. */
  offset: number;
  /** The chunk's position in the server's output log. */
  pos: number;
  data: string;
  encoding?: "base64";
}

/** The backlog asked for has been sent; what follows is live. */
export interface ReadyMessage {
  type: "ready";
  cursor: string;
}

/** The server dropped this client; yielded only by an iterator with `reconnect: false` (it resumes by itself otherwise). */
export interface CutoffMessage {
  type: "cutoff";
  reason: string;
  cursor: string;
}

/**
 * The server ended the stream for good (`session_deleted`, `session_stopped`; `shutting_down`
 * only with `reconnect: false`, as an iterator reconnects to the next server otherwise). It is
 * the last message: the iteration ends after it.
 */
export interface EndMessage {
  type: "end";
  reason: string;
}

export type SessionStreamMessage = StreamEvent | OutputMessage | ReadyMessage | CutoffMessage | EndMessage;
export type FeedMessage = FeedEvent | ReadyMessage | CutoffMessage | EndMessage;

/** How an iterator reconnects. */
export interface FollowOptions {
  /** Ends the iteration (it returns, without an error). */
  signal?: AbortSignal;
  /** Reconnect from the last cursor after a dropped connection or a cutoff. @default true */
  reconnect?: boolean;
  /** @default config `clientReconnectBaseMs` (100) */
  reconnectBaseMs?: number;
  /** @default config `clientReconnectMaxMs` (5000) */
  reconnectMaxMs?: number;
  /** Failed attempts in a row before the iterator throws. @default config `clientReconnectAttempts` (10) */
  reconnectAttempts?: number;
}

/** What `sessions.stream(ref, …)` follows (docs/streams.md, "Per-session stream"). */
export interface SessionStreamOptions extends FollowOptions {
  /** Also send the recorded events after this seq; without it (or a cursor) events start live. */
  after_seq?: number;
  /** Also send the recorded output chunks after this output-log position. */
  after_pos?: number;
  /** Output of this exec from byte `offset` (stdout) / `stderr_offset`, then of later execs. */
  exec_id?: string;
  offset?: number;
  stderr_offset?: number;
  /** `"<seq>:<pos>"`, as a previous stream's messages carried. */
  cursor?: string;
  /** Event types to send; output is not filtered by it. */
  types?: string[];
  /** false leaves output chunks out (the per-session event feed). @default true */
  output?: boolean;
}

/** What `feed(…)` follows (docs/streams.md, "Global feed"); each list matches any of its values. */
export interface FeedOptions extends FollowOptions {
  sessions?: string[];
  types?: string[];
  kinds?: string[];
  agent_ids?: string[];
  /** Also send the recorded events after this global position; without it the feed starts live. */
  after?: number;
}

/** One chunk of an exec's output, decoded. */
export interface OutputChunk {
  stream: "stdout" | "stderr";
  offset: number;
  bytes: Buffer;
}

/** Reconnect defaults, from the config (`clientReconnect*`). */
export interface ReconnectDefaults {
  baseMs: number;
  maxMs: number;
  attempts: number;
}

/**
 * Follows `GET /sessions/{ref}/stream` (SSE): the session's events and its execs' output chunks.
 *
 * @example
 * for await (const m of streams.session(id, { after_seq: 0 })) {
 *   if (m.type === "event") console.log(m.seq, m.event_type);
 * }
 */
export function followSession(transport: Transport, defaults: ReconnectDefaults, ref: string, options: SessionStreamOptions = {}): AsyncGenerator<SessionStreamMessage> {
  const path = `/sessions/${encodeURIComponent(ref)}/stream`;
  const base = {
    types: options.types?.length ? options.types.join(",") : undefined,
    output: options.output === false ? 0 : undefined,
  };
  const first = {
    after_seq: options.after_seq,
    after_pos: options.after_pos,
    exec_id: options.exec_id,
    offset: options.offset,
    stderr_offset: options.stderr_offset,
    cursor: options.cursor,
  };
  return follow<SessionStreamMessage>(transport, defaults, options, (cursor) => ({
    method: "GET",
    path,
    query: cursor === undefined ? { ...base, ...first } : { ...base, cursor },
  }));
}

/**
 * Follows `GET /feed` (SSE): every session's events, filtered.
 *
 * @example
 * for await (const m of streams.feed({ types: ["complete", "error"] })) {
 *   if (m.type === "event") console.log(m.session_id, m.event_type); // the first message is `ready`
 * }
 */
export function followFeed(transport: Transport, defaults: ReconnectDefaults, options: FeedOptions = {}): AsyncGenerator<FeedMessage> {
  const list = (values?: string[]) => (values?.length ? values.join(",") : undefined);
  const base = { session: list(options.sessions), type: list(options.types), kind: list(options.kinds), agent_id: list(options.agent_ids) };
  return follow<FeedMessage>(transport, defaults, options, (cursor) => ({
    method: "GET",
    path: "/feed",
    query: { ...base, after: cursor ?? options.after },
  }));
}

/**
 * The output of one exec, decoded, from `offset` (stdout) and `stderrOffset`, live until the exec
 * ends (its `exec` event). An exec that has already ended yields what is left and finishes.
 *
 * @param sessionLastSeq the session's `last_seq` read before calling: the exec's end event is looked for after it
 * @param endedBefore tells whether the exec ended at or before `sessionLastSeq` (its output is then all in the backlog)
 */
export async function* followExecOutput(
  transport: Transport,
  defaults: ReconnectDefaults,
  ref: string,
  execId: string,
  options: FollowOptions & { offset?: number; stderrOffset?: number; sessionLastSeq: number; endedBefore: () => Promise<boolean> },
): AsyncGenerator<OutputChunk> {
  const stream = followSession(transport, defaults, ref, {
    ...followOnly(options),
    exec_id: execId,
    offset: options.offset ?? 0,
    stderr_offset: options.stderrOffset ?? 0,
    after_seq: options.sessionLastSeq,
    types: ["exec"],
  });
  try {
    for await (const message of stream) {
      if (message.type === "output") {
        if (message.exec_id !== execId) continue;
        yield { stream: message.stream, offset: message.offset, bytes: Buffer.from(message.data, message.encoding === "base64" ? "base64" : "utf8") };
      } else if (message.type === "event") {
        if (message.event_type === "exec" && message.data.exec_id === execId) return;
      } else if (message.type === "ready") {
        // The backlog is in: an exec that ended before we subscribed has nothing more to send.
        if (await options.endedBefore()) return;
      }
    }
  } finally {
    await stream.return(undefined);
  }
}

function followOnly(options: FollowOptions): FollowOptions {
  const { signal, reconnect, reconnectBaseMs, reconnectMaxMs, reconnectAttempts } = options;
  return { ...(signal ? { signal } : {}), ...defined({ reconnect, reconnectBaseMs, reconnectMaxMs, reconnectAttempts }) };
}

function defined<T extends Record<string, unknown>>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** Errors that reconnecting cannot fix: the server refused the request itself. */
function isFinal(err: unknown): boolean {
  return isSessiondError(err) && err.status >= 400 && err.status < 500 && err.code !== "rate_limited";
}

/**
 * The reconnecting SSE loop: opens `spec(cursor)`, yields parsed messages, remembers the cursor,
 * and when the connection drops, the server is shutting down or cuts the client off, opens again
 * from it (after a backoff delay when no message arrived since the last attempt).
 */
async function* follow<M extends { type: string }>(
  transport: Transport,
  defaults: ReconnectDefaults,
  options: FollowOptions,
  spec: (cursor: string | undefined) => RequestSpec,
): AsyncGenerator<M> {
  const reconnect = options.reconnect ?? true;
  const maxAttempts = options.reconnectAttempts ?? defaults.attempts;
  const fresh = () => new ExponentialBackoff({ initialDelay: options.reconnectBaseMs ?? defaults.baseMs, maxDelay: options.reconnectMaxMs ?? defaults.maxMs }).next();
  let backoff: IBackoff<unknown> = fresh();
  let failures = 0;
  let cursor: string | undefined;
  let connectedOnce = false;
  const userSignal = options.signal;

  while (!userSignal?.aborted && !transport.isClosed) {
    const connection = new AbortController();
    const onAbort = () => connection.abort();
    userSignal?.addEventListener("abort", onAbort, { once: true });
    let lastError: unknown;
    try {
      const reply = await transport.openStream(spec(cursor), connection.signal);
      connectedOnce = true;
      const queue: EventSourceMessage[] = [];
      const parser = createParser({ onEvent: (m) => queue.push(m) });
      const decoder = new TextDecoder();
      let again = false;
      for await (const chunk of reply.body) {
        parser.feed(decoder.decode(chunk as Buffer, { stream: true }));
        while (queue.length && !again) {
          const sse = queue.shift()!;
          const message = parse<M>(sse);
          if (!message) continue;
          if (sse.id) cursor = sse.id;
          const control = message as unknown as { type: string; cursor?: string; reason?: string };
          if (control.cursor !== undefined && (control.type === "ready" || control.type === "cutoff")) cursor = control.cursor;
          if (control.type === "cutoff" || (control.type === "end" && control.reason === "shutting_down")) {
            if (reconnect) {
              again = true;
              continue;
            }
            yield message;
            return;
          }
          // A message is progress: the next drop starts the backoff over.
          failures = 0;
          backoff = fresh();
          yield message;
          if (control.type === "end") return;
        }
        if (again) break;
      }
      if (!reconnect || transport.isClosed) return;
      // A cutoff resumes at once; a connection that just ended waits like a failed one.
      if (again) continue;
    } catch (err) {
      // Aborted by the caller, or the client was closed: the iteration is over.
      if (userSignal?.aborted || transport.isClosed) return;
      // The session is gone since we last connected: the iteration is over.
      if (connectedOnce && isSessiondError(err, "not_found")) return;
      if (isFinal(err) || !reconnect) throw err;
      lastError = err;
    } finally {
      userSignal?.removeEventListener("abort", onAbort);
      // Ends this connection whether we reconnect, the consumer broke out, or the server closed it.
      connection.abort();
    }
    if (++failures > maxAttempts) {
      const why = lastError instanceof Error ? lastError.message : "the server kept closing the stream";
      throw new SessiondError("server_unreachable", { reason: `stream lost after ${maxAttempts} reconnect attempts: ${why}` }, lastError ? { cause: lastError } : undefined);
    }
    await sleep(backoff.duration, undefined, userSignal ? { signal: userSignal } : {}).catch(() => undefined);
    backoff = backoff.next(undefined);
  }
}

function parse<M>(sse: EventSourceMessage): M | undefined {
  try {
    const value = JSON.parse(sse.data) as unknown;
    return value && typeof value === "object" && typeof (value as { type?: unknown }).type === "string" ? (value as M) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Live feeds of one server as async iterators (SSE): a session's events and output, the global
 * feed, and one exec's output. Each reconnects from where it stood unless `reconnect: false`.
 */
export class StreamsClient {
  constructor(
    private readonly transport: Transport,
    private readonly defaults: ReconnectDefaults,
    private readonly lookup: {
      /** The session's last_seq now. */
      lastSeq(ref: string): Promise<number>;
      /** Whether exec `execId` has its `exec` event at or before `seq`. */
      execEndedBy(ref: string, execId: string, seq: number): Promise<boolean>;
    },
  ) {}

  /** `GET /sessions/{ref}/stream`: the session's events and its execs' output chunks. */
  session(ref: string, options: SessionStreamOptions = {}): AsyncGenerator<SessionStreamMessage> {
    return followSession(this.transport, this.defaults, ref, options);
  }

  /** `GET /feed`: every session's events (that the token may see), filtered. */
  feed(options: FeedOptions = {}): AsyncGenerator<FeedMessage> {
    return followFeed(this.transport, this.defaults, options);
  }

  /**
   * One exec's output, decoded, from `offset` (stdout) / `stderrOffset`, until the exec ends.
   *
   * @example
   * for await (const chunk of client.streams.execOutput(id, execId)) process.stdout.write(chunk.bytes);
   */
  async *execOutput(ref: string, execId: string, options: FollowOptions & { offset?: number; stderrOffset?: number } = {}): AsyncGenerator<OutputChunk> {
    const lastSeq = await this.lookup.lastSeq(ref);
    yield* followExecOutput(this.transport, this.defaults, ref, execId, {
      ...options,
      sessionLastSeq: lastSeq,
      endedBefore: () => this.lookup.execEndedBy(ref, execId, lastSeq),
    });
  }
}
