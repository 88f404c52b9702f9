/**
 * `sessiond/client`: the typed HTTP SDK. Loads nothing of the server, engine or store.
 *
 * @example
 * import { createClient } from "sessiond/client";
 * const client = createClient(); // $SESSIOND_HOME/sessiond.sock, else http://127.0.0.1:8011 + token
 * await client.init();
 * const s = await client.sessions.createSession({ agent_id: "a1", task: "fix the build" });
 * await client.close();
 */
import { homedir } from "node:os";
import { defaultConfig } from "../../core/config.js";
import type { ContinuumEnvironment } from "../context.js";
import { ArtifactsClient } from "./artifacts-client.js";
import { ExecsClient } from "./execs-client.js";
import { LiveClient } from "./live-client.js";
import { RemoteSessions, type RemoteSessionsOptions } from "./remote-sessions.js";
import { SeedSessionClient } from "./session-client.js";
import { SessionsClient } from "./sessions-client.js";
import { type ReconnectDefaults, StreamsClient } from "./streams.js";
import { type ClientOptions, Transport } from "./transport.js";
import { WebhooksClient } from "./webhooks-client.js";

export { ERROR_CODES, type ErrorCode, SessiondError, isSessiondError } from "../../core/errors.js";
export type { Checkpoint, SessionEvent, SessionState, ToolCallOutcome, WorkspaceState } from "../../core/events.js";
export type {
  CreateSessionInput,
  JsonObject,
  Page,
  PageRequest,
  Session,
  SessionFilter,
  SessionPageRequest,
  SessionSortKey,
  SessionStats,
  SessionStatus,
  SortOrder,
  UpdateSessionInput,
} from "../../core/session.js";
export { SESSION_SORT_KEYS, SORT_ORDERS } from "../../core/session.js";
export type { Participant, ParticipantInput, ParticipantKind } from "../../core/participants.js";
export {
  type ContinuumContext,
  type ContinuumEnvironment,
  type ExecutionFrame,
  type InstrumentOptions,
  type ScopeOptions,
  type SessionPaths,
  type SessionRecorder,
  type SessionScope,
  type ToolCallRecord,
  currentScope,
  currentSession,
  instrument,
  withSession,
} from "../context.js";
export type { AgentSessionEvent, RemoteAgentSession, SessionQuery, SessionResumeContext, SessionStatsSummary, StartSessionOptions, WebhookOptions } from "../seed004-shapes.js";
export { type ArtifactCategory, type ArtifactEntry, type ArtifactFile, type ArtifactListing, ArtifactsClient } from "./artifacts-client.js";
export { type WireError, errorFromWire, isErrorCode } from "./errors.js";
export { type ExecPolicy, type ExecState, ExecsClient, type SessionProcess, type SubmitOptions } from "./execs-client.js";
export type { RebuildReport, UndoResult } from "./environment.js";
export { LiveClient, type LiveSessionInfo, type LiveSessionState, type LiveStartOptions } from "./live-client.js";
export { RemoteSessions, type RemoteSessionsOptions, createRemoteSessions } from "./remote-sessions.js";
export { type ISessionClient, SeedSessionClient, type SessionMetadata } from "./session-client.js";
export { type EventListOptions, type ExecuteResult, type ModeStartOptions, type NewSession, type Recovery, type SessionMetrics, type SessionPatch, SessionsClient, type StateAt, type WriteOptions } from "./sessions-client.js";
export {
  type CutoffMessage,
  type EndMessage,
  type FeedEvent,
  type FeedMessage,
  type FeedOptions,
  type FollowOptions,
  type OutputChunk,
  type OutputMessage,
  type ReadyMessage,
  type SessionStreamMessage,
  type SessionStreamOptions,
  type StreamEvent,
  StreamsClient,
} from "./streams.js";
export { type ClientOptions, type Target, Transport, resolveTarget } from "./transport.js";
export { type NewWebhook, type Webhook, type WebhookDelivery, type WebhookEventName, WebhooksClient } from "./webhooks-client.js";

/**
 * Seed 001's ISessionClient at the top; every API call grouped below it (`sessions`, `execs`,
 * `webhooks`, `artifacts`, `live`, `streams`); seed 004's functions under `seed004`; and `close()`.
 */
export class SessiondClient extends SeedSessionClient {
  /** `/webhooks`: registrations and delivery logs (admin). */
  readonly webhooks: WebhooksClient;
  /** `/sessions/{id}/artifacts`: workspace files. */
  readonly artifacts: ArtifactsClient;
  /** Seed 000's `/session/*` routes. */
  readonly live: LiveClient;
  /** Execs without waiting, stdin, per-exec interrupt/kill, processes, exec policy, lifetime. */
  readonly execs: ExecsClient;
  /** Feeds and exec output as async iterators (SSE, resuming on reconnect). */
  readonly streams: StreamsClient;
  private remote: RemoteSessions | undefined;

  constructor(options: ClientOptions = {}) {
    const transport = new Transport(options);
    const sessions = new SessionsClient(transport);
    super(transport, sessions);
    this.webhooks = new WebhooksClient(transport);
    this.artifacts = new ArtifactsClient(transport);
    this.live = new LiveClient(transport);
    this.execs = new ExecsClient(transport);
    const config = defaultConfig(homedir());
    const reconnect: ReconnectDefaults = { baseMs: config.clientReconnectBaseMs, maxMs: config.clientReconnectMaxMs, attempts: config.clientReconnectAttempts };
    this.streams = new StreamsClient(transport, reconnect, {
      lastSeq: async (ref) => (await sessions.getSession(ref)).last_seq,
      execEndedBy: async (ref, execId, seq) => {
        for await (const event of sessions.iterateEvents(ref, { types: ["exec"], to_seq: seq, order: "desc" })) {
          if (event.data.exec_id === execId) return true;
        }
        return false;
      },
    });
  }

  /** Where requests go: `unix:<path>` or the base URL. */
  get target(): string {
    return this.transport.where;
  }

  /**
   * Seed 004's functions (startSession … configureWebhook) against this server, all async.
   * @see createRemoteSessions to pass options
   */
  get seed004(): RemoteSessions {
    return (this.remote ??= new RemoteSessions(this.sessions, this.webhooks));
  }

  /** Seed 004's functions with options (defaults for maxIterations and getSessionContext's history length). */
  remoteSessions(options: RemoteSessionsOptions): RemoteSessions {
    return new RemoteSessions(this.sessions, this.webhooks, options);
  }

  /**
   * Runs `fn` with `sessionId` as the current session; `seed004.recordToolCall({…})`,
   * `seed004.addEvent(type, data)` and `instrument`ed functions called inside record into it on
   * this server, across awaits and timers. `currentSession()` inside answers seed 002's
   * ContinuumContext, environment `remote` unless `options.environment` says otherwise.
   */
  withSession<T>(sessionId: string, fn: () => T, options: { environment?: ContinuumEnvironment } = {}): T {
    return this.seed004.withSession(sessionId, fn, options);
  }

  /** `GET /readyz`: resolves when the server is ready for traffic. @throws shutting_down (503) otherwise */
  async ready(): Promise<void> {
    await this.transport.request({ method: "GET", path: "/readyz" });
  }

  /** `GET /metrics`: the Prometheus text exposition. */
  async metricsText(): Promise<string> {
    return (await this.transport.requestBytes({ method: "GET", path: "/metrics", headers: { accept: "text/plain" } })).body.toString("utf8");
  }

  /** Closes the connections (feeds in progress end). */
  async close(): Promise<void> {
    await this.transport.close();
  }
}

/** A client for a sessiond server; see {@link ClientOptions} for how the server is found. */
export function createClient(options: ClientOptions = {}): SessiondClient {
  return new SessiondClient(options);
}
