import { homedir } from "node:os";
import { defaultConfig } from "../../core/config.js";
import { errors, isSessiondError } from "../../core/errors.js";
import type { JsonObject, Session } from "../../core/session.js";
import { type ContinuumEnvironment, type SessionRecorder, type ToolCallRecord, requireSession, withSession as withScope } from "../context.js";
import {
  type AgentSessionEvent,
  type RemoteAgentSession,
  type SessionQuery,
  type SessionResumeContext,
  type SessionStatsSummary,
  type StartSessionOptions,
  type WebhookOptions,
  agentSessionFields,
  createInput,
  resumeContext,
  toAgentEvent,
  toFilter,
  toStatsSummary,
  toolCallOutcome,
} from "../seed004-shapes.js";
import type { SessionsClient } from "./sessions-client.js";
import type { Webhook, WebhookEventName, WebhooksClient } from "./webhooks-client.js";

/** Defaults the remote functions apply themselves (the embedded API reads them from its config). */
export interface RemoteSessionsOptions {
  /** startSession's maxIterations when none is given. @default config `defaultMaxIterations` (50) */
  defaultMaxIterations?: number;
  /** How many events getSessionContext returns. @default config `recentHistoryLength` (10) */
  recentHistoryLength?: number;
}

/**
 * Seed 004's function API against a remote server: the same names, arguments and answers as
 * `import { … } from "sessiond"`, except that every function returns a promise — reads
 * included (`getSession`, `findSessions`, `getStats`, `cleanupSessions`, …), since each is a
 * request — and that sessions carry no `history` property: read it with `getHistory(id)`.
 * Inside `withSession(id, fn)`, `recordToolCall({…})`, `addEvent(type, data)` and
 * `instrument`ed functions record into that session without its id.
 *
 * @example
 * const sessions = createRemoteSessions(createClient({ baseUrl, token }));
 * const s = await sessions.startSession("Implement feature X", "developer", { maxIterations: 10 });
 * await sessions.withSession(s.id, async () => {
 *   await sessions.recordToolCall({ tool: "bash", args: { command: "npm test" }, result: { exitCode: 0 } });
 * });
 * await sessions.completeSession(s.id, "done");
 */
export class RemoteSessions {
  private readonly defaults: Required<RemoteSessionsOptions>;
  /** What `withSession` scopes opened here record into: this server. */
  readonly recorder: SessionRecorder;

  constructor(
    private readonly sessions: SessionsClient,
    private readonly webhooks: WebhooksClient,
    options: RemoteSessionsOptions = {},
  ) {
    const config = defaultConfig(homedir());
    this.defaults = {
      defaultMaxIterations: options.defaultMaxIterations ?? config.defaultMaxIterations,
      recentHistoryLength: options.recentHistoryLength ?? config.recentHistoryLength,
    };
    this.recorder = {
      recordToolCall: (sessionId, call) => this.recordCall(sessionId, call),
      addEvent: (sessionId, type, data) => this.addEvent(sessionId, type, data),
      // The sessions are the server's; it may be on another machine, so no sessionPaths.
      environment: "remote",
    };
    // Seed 004's functions are free functions: `const { startSession } = sessions` must work.
    const self = this as unknown as Record<string, unknown>;
    for (const key of Object.getOwnPropertyNames(RemoteSessions.prototype)) {
      const member = self[key];
      if (key !== "constructor" && typeof member === "function") self[key] = member.bind(this);
    }
  }

  // ---- lifecycle -----------------------------------------------------------------------------

  async startSession(task: string, mode: string, options: StartSessionOptions = {}): Promise<RemoteAgentSession> {
    if (typeof task !== "string") throw errors.validation("task", "expected a string");
    if (typeof mode !== "string") throw errors.validation("mode", "expected a string");
    return agentSessionFields(await this.sessions.createSession(createInput(task, mode, options, this.defaults.defaultMaxIterations)));
  }

  async pauseSession(sessionId: string, reason?: string): Promise<RemoteAgentSession> {
    return agentSessionFields(await this.sessions.pause(sessionId, reason));
  }

  /** Paused → active; a crashed session is recovered. */
  async resumeSession(sessionId: string): Promise<RemoteAgentSession> {
    return agentSessionFields(await this.sessions.resume(sessionId));
  }

  async completeSession(sessionId: string, result?: unknown): Promise<RemoteAgentSession> {
    return agentSessionFields(await this.sessions.complete(sessionId, result));
  }

  async failSession(sessionId: string, error: string): Promise<RemoteAgentSession> {
    return agentSessionFields(await this.sessions.fail(sessionId, error));
  }

  /** Counts an iteration; reaching maxIterations moves the session to `timeout`. */
  async incrementIteration(sessionId: string, data: Record<string, unknown> = {}): Promise<RemoteAgentSession> {
    return agentSessionFields(await this.sessions.incrementIteration(sessionId, data as JsonObject));
  }

  // ---- events and context --------------------------------------------------------------------

  /**
   * Records a `tool_call` event: seed 004's form names the session; the one-argument form, inside
   * `withSession`, takes it from the scope. @throws no_session_context outside a scope
   */
  async recordToolCall(sessionId: string, tool: string, args: unknown, result?: unknown): Promise<AgentSessionEvent>;
  async recordToolCall(call: ToolCallRecord): Promise<AgentSessionEvent>;
  async recordToolCall(first: string | ToolCallRecord, tool?: string, args?: unknown, result?: unknown): Promise<AgentSessionEvent> {
    if (typeof first === "string") return toAgentEvent(await this.sessions.recordToolCall(first, tool as string, args, result));
    return this.recordCall(requireSession("recordToolCall").sessionId, first);
  }

  async recordLearning(sessionId: string, insight: string, expertiseFile?: string): Promise<AgentSessionEvent> {
    if (typeof insight !== "string" || insight === "") throw errors.validation("insight", "expected a non-empty string");
    return this.addEvent(sessionId, "learning", { insight, ...(expertiseFile !== undefined ? { expertiseFile } : {}) });
  }

  /**
   * Appends a custom event: `addEvent(sessionId, type, data?)`, or inside `withSession`,
   * `addEvent(type, data?)`. @throws no_session_context for the scoped form outside a scope
   */
  async addEvent(sessionId: string, type: string, data?: Record<string, unknown>): Promise<AgentSessionEvent>;
  async addEvent(type: string, data?: Record<string, unknown>): Promise<AgentSessionEvent>;
  async addEvent(first: string, second?: string | Record<string, unknown>, third?: Record<string, unknown>): Promise<AgentSessionEvent> {
    const [sessionId, type, data] = typeof second === "string" ? [first, second, third] : [requireSession("addEvent").sessionId, first, second];
    return toAgentEvent(await this.sessions.appendEvent(sessionId, type, (data ?? {}) as JsonObject));
  }

  /** Merges `updates` into the context (JSON Merge Patch: nested objects merge, null deletes). */
  async updateContext(sessionId: string, updates: Record<string, unknown>): Promise<RemoteAgentSession> {
    return agentSessionFields(await this.sessions.updateSession(sessionId, { context_patch: updates as JsonObject }));
  }

  /**
   * Runs `fn` with `sessionId` as the current session; ambient records inside go to this server.
   * `currentSession().environment` is `remote` unless `options.environment` says what the code
   * runs as (`agent`, `persona`).
   * @see withSession in `sessiond/client`'s context helpers
   */
  withSession<T>(sessionId: string, fn: () => T, options: { environment?: ContinuumEnvironment } = {}): T {
    return withScope(sessionId, fn, { recorder: this.recorder, ...options });
  }

  // ---- reads (async here; synchronous in the embedded API) -----------------------------------

  /** The session, or null when there is none with this id or name. */
  async getSession(sessionId: string): Promise<RemoteAgentSession | null> {
    const session = await this.find(sessionId);
    return session && agentSessionFields(session);
  }

  /** The session's whole history, oldest first (the embedded API's `session.history`). */
  async getHistory(sessionId: string): Promise<AgentSessionEvent[]> {
    const all: AgentSessionEvent[] = [];
    let cursor: string | undefined;
    do {
      const page = await this.sessions.listEvents(sessionId, { limit: 1000, ...(cursor ? { cursor } : {}) });
      all.push(...page.items.map(toAgentEvent));
      cursor = page.next_cursor ?? undefined;
    } while (cursor);
    return all;
  }

  /** What an agent needs to resume, or null when there is no such session. */
  async getSessionContext(sessionId: string): Promise<SessionResumeContext | null> {
    const session = await this.find(sessionId);
    if (!session) return null;
    const n = this.defaults.recentHistoryLength;
    const recent = n ? (await this.sessions.listEvents(session.id, { order: "desc", limit: n })).items.reverse() : [];
    return resumeContext(session, recent);
  }

  /** True when resumeSession would succeed: the session is paused, or crashed (recovery). */
  async isSessionResumable(sessionId: string): Promise<boolean> {
    const status = (await this.find(sessionId))?.status;
    return status === "paused" || status === "crashed";
  }

  async findSessions(query: SessionQuery = {}): Promise<RemoteAgentSession[]> {
    const wanted = query.limit ?? Number.POSITIVE_INFINITY;
    const found: RemoteAgentSession[] = [];
    let cursor: string | undefined;
    do {
      const page = await this.sessions.listSessions(toFilter(query), { limit: Math.min(1000, wanted - found.length), ...(cursor ? { cursor } : {}) });
      found.push(...page.items.map(agentSessionFields));
      cursor = page.next_cursor ?? undefined;
    } while (cursor && found.length < wanted);
    return found;
  }

  getActiveSessions(query: Omit<SessionQuery, "status"> = {}): Promise<RemoteAgentSession[]> {
    return this.findSessions({ ...query, status: "active" });
  }

  getPausedSessions(query: Omit<SessionQuery, "status"> = {}): Promise<RemoteAgentSession[]> {
    return this.findSessions({ ...query, status: "paused" });
  }

  getCompletedSessions(query: Omit<SessionQuery, "status"> = {}): Promise<RemoteAgentSession[]> {
    return this.findSessions({ ...query, status: "completed" });
  }

  getFailedSessions(query: Omit<SessionQuery, "status"> = {}): Promise<RemoteAgentSession[]> {
    return this.findSessions({ ...query, status: "failed" });
  }

  async getStats(query: Omit<SessionQuery, "limit"> = {}): Promise<SessionStatsSummary> {
    return toStatsSummary(await this.sessions.stats(toFilter(query)));
  }

  // ---- cleanup and webhooks ------------------------------------------------------------------

  /** Deletes sessions that ended more than `days` days ago (admin token); resolves to how many. */
  async cleanupSessions(days: number): Promise<number> {
    return (await this.sessions.cleanup(days)).deleted;
  }

  /** Deletes a session with its history; false when there was none. */
  async removeSession(sessionId: string): Promise<boolean> {
    try {
      await this.sessions.deleteSession(sessionId);
      return true;
    } catch (err) {
      if (isSessiondError(err, "not_found")) return false;
      throw err;
    }
  }

  /** Registers a webhook on the server (`POST /webhooks`, admin token); the answer never shows the secret. */
  async configureWebhook(url: string, options: WebhookOptions = {}): Promise<Webhook> {
    return this.webhooks.create({
      url,
      ...(options.events ? { events: options.events as WebhookEventName[] } : {}),
      ...(options.secret !== undefined ? { secret: options.secret } : {}),
    });
  }

  private async find(ref: string): Promise<Session | null> {
    try {
      return await this.sessions.getSession(ref);
    } catch (err) {
      if (isSessiondError(err, "not_found")) return null;
      throw err;
    }
  }

  /** A tool call goes to `/tool-calls` (which keeps metadata.toolsUsed), with its error and duration when it has them. */
  private async recordCall(sessionId: string, call: ToolCallRecord): Promise<AgentSessionEvent> {
    if (call === null || typeof call !== "object") throw errors.validation("call", "expected {tool, args?, result?}");
    return toAgentEvent(await this.sessions.recordToolCall(sessionId, call.tool, call.args, call.result, toolCallOutcome(call)));
  }
}

/** Seed 004's functions against the server `client` talks to. */
export function createRemoteSessions(client: { sessions: SessionsClient; webhooks: WebhooksClient }, options: RemoteSessionsOptions = {}): RemoteSessions {
  return new RemoteSessions(client.sessions, client.webhooks, options);
}
