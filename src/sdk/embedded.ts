import { homedir } from "node:os";
import { type Config, type JsonObject, type Session, type SessionEvent, errors, newId, resolveConfig } from "../core/index.js";
import { SessionManager } from "../engine/index.js";
import { type WebhookSink, WebhookTargetPolicy, startWebhooks } from "../events/webhooks/index.js";
import { type WebhookRecord, openSqliteStore } from "../store/index.js";
import { type SessionRecorder, type ToolCallRecord, requireSession, withSession as withScope } from "./context.js";
import {
  type AgentSession,
  type AgentSessionEvent,
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
} from "./seed004-shapes.js";

export type { AgentSession, AgentSessionEvent, SessionQuery, SessionResumeContext, SessionStatsSummary, StartSessionOptions, WebhookOptions } from "./seed004-shapes.js";
export { type InstrumentOptions, type SessionScope, type ToolCallRecord, currentScope, currentSession, instrument } from "./context.js";

/**
 * Seed 004's function API, embedded: the same names, arguments and return shapes, backed by the
 * engine on the SQLite store in SESSIOND_HOME (default ~/.sessiond). Reads are synchronous,
 * as seed 004 uses them; writes return promises that resolve once the write is durable.
 */

let current: { manager: SessionManager; config: Config; webhooks?: WebhookSink } | undefined;

/**
 * Points the embedded API at a data dir or config, or at a SessionManager you built. Closes the
 * one in use. Without a call, the first function used opens SESSIOND_HOME.
 *
 * An engine opened here also delivers webhooks (seed 004's `configureWebhook`, or registered by a
 * server on the same data dir) for the events this process writes: a server only sees its own
 * writes. Deliveries still pending when the process ends stay in the store; the next process
 * with a webhook sender on the data dir (another embedded run, or `sessiond serve`) retries them.
 * A manager you pass in gets no webhook sender here (the server that built it runs its own).
 */
export function configureSessions(options: { home?: string; config?: Partial<Config>; manager?: SessionManager } = {}): void {
  const previous = current;
  current = undefined;
  if (previous) {
    // Synchronous by contract: what the sender had buffered stays pending for a later run.
    void previous.webhooks?.close().catch(() => undefined);
    previous.manager.closeSync();
  }
  if (options.manager) {
    current = { manager: options.manager, config: resolveConfig({ env: environment(), flags: options.config }) };
    return;
  }
  const flags = { ...options.config, ...(options.home ? { home: options.home } : {}) };
  const config = resolveConfig({ env: environment(), flags });
  const store = openSqliteStore(config);
  const manager = new SessionManager({ store, config });
  let webhooks: WebhookSink;
  try {
    webhooks = startWebhooks({ config, bus: manager.bus, store });
  } catch (err) {
    // A config webhook the target policy refuses: nothing may stay open behind the error.
    manager.closeSync();
    throw err;
  }
  current = { manager, config, webhooks };
}

/** Flushes and closes the embedded engine (recording its last webhook deliveries first); the next call opens it again. */
export async function closeSessions(): Promise<void> {
  const open = current;
  current = undefined;
  if (!open) return;
  if (open.webhooks && !open.manager.isClosed) {
    await open.manager.flush();
    await open.webhooks.close();
  }
  await open.manager.close();
}

/** The engine behind the embedded API (for what seed 004 has no function for). */
export function sessionManager(): SessionManager {
  return engine().manager;
}

function engine(): { manager: SessionManager; config: Config } {
  if (!current || current.manager.isClosed) configureSessions();
  return current!;
}

function environment(): Record<string, string | undefined> {
  return { ...process.env, HOME: process.env.HOME ?? homedir() };
}

// Writes are acknowledged only once durable, but a process that exits without awaiting them
// still gets them: the exit hook commits whatever is queued.
process.once("exit", () => {
  if (current && !current.manager.isClosed) current.manager.closeSync();
});


// ---- lifecycle -------------------------------------------------------------------------------

export async function startSession(task: string, mode: string, options: StartSessionOptions = {}): Promise<AgentSession> {
  if (typeof task !== "string") throw errors.validation("task", "expected a string");
  if (typeof mode !== "string") throw errors.validation("mode", "expected a string");
  const { manager, config } = engine();
  return toAgentSession(await manager.create(createInput(task, mode, options, config.defaultMaxIterations)));
}

export async function pauseSession(sessionId: string, reason?: string): Promise<AgentSession> {
  return toAgentSession(await engine().manager.pause(sessionId, reason));
}

/**
 * Paused → active; a crashed session is recovered — one of a live kind (shell…) only while that
 * kind is enabled (ENABLE_SESSIONS), else the validation error a server gives for starting one.
 */
export async function resumeSession(sessionId: string): Promise<AgentSession> {
  return toAgentSession(await engine().manager.resume(sessionId));
}

export async function completeSession(sessionId: string, result?: unknown): Promise<AgentSession> {
  return toAgentSession(await engine().manager.complete(sessionId, result));
}

export async function failSession(sessionId: string, error: string): Promise<AgentSession> {
  return toAgentSession(await engine().manager.fail(sessionId, error));
}

/** Counts an iteration; reaching maxIterations moves the session to `timeout`. */
export async function incrementIteration(sessionId: string, data: Record<string, unknown> = {}): Promise<AgentSession> {
  return toAgentSession(await engine().manager.incrementIteration(sessionId, data));
}

// ---- events and context ----------------------------------------------------------------------

/**
 * Records a `tool_call` event. Seed 004's form names the session; inside `withSession(id, fn)`
 * the one-argument form takes it from the scope:
 *
 * @example
 * await recordToolCall(session.id, "bash", { command: "npm test" }, { exitCode: 0 });
 * await withSession(session.id, () => recordToolCall({ tool: "bash", args: { command: "npm test" }, result: { exitCode: 0 } }));
 * @throws no_session_context for the one-argument form outside withSession
 */
export async function recordToolCall(sessionId: string, tool: string, args: unknown, result?: unknown): Promise<AgentSessionEvent>;
export async function recordToolCall(call: ToolCallRecord): Promise<AgentSessionEvent>;
export async function recordToolCall(first: string | ToolCallRecord, tool?: string, args?: unknown, result?: unknown): Promise<AgentSessionEvent> {
  if (typeof first === "string") return toAgentEvent(await engine().manager.recordToolCall(first, tool as string, args, result));
  return recordCall(requireSession("recordToolCall").sessionId, first);
}

/** A tool call through the engine's recordToolCall, which keeps metadata.toolsUsed, with its error and duration when it has them. */
async function recordCall(sessionId: string, call: ToolCallRecord): Promise<AgentSessionEvent> {
  if (call === null || typeof call !== "object") throw errors.validation("call", "expected {tool, args?, result?}");
  return toAgentEvent(await engine().manager.recordToolCall(sessionId, call.tool, call.args, call.result, toolCallOutcome(call)));
}

export async function recordLearning(sessionId: string, insight: string, expertiseFile?: string): Promise<AgentSessionEvent> {
  if (typeof insight !== "string" || insight === "") throw errors.validation("insight", "expected a non-empty string");
  const data: JsonObject = { insight, ...(expertiseFile !== undefined ? { expertiseFile } : {}) };
  return toAgentEvent(await engine().manager.appendEvent(sessionId, "learning", data));
}

/**
 * Appends a custom event. Seed 004's form names the session; inside `withSession(id, fn)`,
 * `addEvent(type, data?)` takes it from the scope (a second argument that is a string means the
 * first is the session).
 * @throws no_session_context for the scoped form outside withSession
 */
export async function addEvent(sessionId: string, type: string, data?: Record<string, unknown>): Promise<AgentSessionEvent>;
export async function addEvent(type: string, data?: Record<string, unknown>): Promise<AgentSessionEvent>;
export async function addEvent(first: string, second?: string | Record<string, unknown>, third?: Record<string, unknown>): Promise<AgentSessionEvent> {
  const [sessionId, type, data] = typeof second === "string" ? [first, second, third] : [requireSession("addEvent").sessionId, first, second];
  return toAgentEvent(await engine().manager.appendEvent(sessionId, type, (data ?? {}) as JsonObject));
}

/** Appends through the embedded engine: what `withSession` scopes record into. */
const embeddedRecorder: SessionRecorder = {
  recordToolCall: (sessionId, call) => recordCall(sessionId, call),
  addEvent: (sessionId, type, data) => addEvent(sessionId, type, data),
};

/**
 * Runs `fn` with `sessionId` as the current session (seed 002's AsyncLocalStorage context):
 * `recordToolCall({…})`, `addEvent(type, data)` and `instrument`ed functions called inside —
 * across awaits and timers — record into it through the embedded engine. Nested scopes shadow
 * the outer one until they return.
 *
 * @example
 * await withSession(session.id, async () => {
 *   await addEvent("note", { text: "no id passed" });
 *   await instrument(runTests, "run_tests")();
 * });
 */
export function withSession<T>(sessionId: string, fn: () => T): T {
  return withScope(sessionId, fn, embeddedRecorder);
}

/** Merges `updates` into the context (JSON Merge Patch: nested objects merge, null deletes). */
export async function updateContext(sessionId: string, updates: Record<string, unknown>): Promise<AgentSession> {
  return toAgentSession(await engine().manager.updateContext(sessionId, updates, { merge: true }));
}

// ---- synchronous reads -----------------------------------------------------------------------

/**
 * The session, or null when there is none with this id, name or `agent_id/name`.
 * @throws ambiguous_name for a bare name that sessions of several agents have
 */
export function getSession(sessionId: string): AgentSession | null {
  const session = engine().manager.findSync(sessionId);
  return session ? toAgentSession(session) : null;
}

/** What an agent needs to resume, or null when there is no such session. */
export function getSessionContext(sessionId: string): SessionResumeContext | null {
  const { manager, config } = engine();
  const session = manager.findSync(sessionId);
  if (!session) return null;
  const recent = config.recentHistoryLength
    ? manager.listEventsSync(session.id, { descending: true, limit: config.recentHistoryLength }).reverse()
    : [];
  return resumeContext(session, recent);
}

/** True when resumeSession would succeed: the session is paused, or crashed (recovery). */
export function isSessionResumable(sessionId: string): boolean {
  const status = engine().manager.findSync(sessionId)?.status;
  return status === "paused" || status === "crashed";
}

export function findSessions(query: SessionQuery = {}): AgentSession[] {
  const { manager } = engine();
  const filter = toFilter(query);
  const wanted = query.limit ?? Number.POSITIVE_INFINITY;
  const found: AgentSession[] = [];
  let cursor: string | undefined;
  do {
    const page = manager.listSync(filter, { limit: Math.min(1000, wanted - found.length), ...(cursor ? { cursor } : {}) });
    found.push(...page.items.map(toAgentSession));
    cursor = page.next_cursor ?? undefined;
  } while (cursor && found.length < wanted);
  return found;
}

export function getActiveSessions(query: Omit<SessionQuery, "status"> = {}): AgentSession[] {
  return findSessions({ ...query, status: "active" });
}

export function getPausedSessions(query: Omit<SessionQuery, "status"> = {}): AgentSession[] {
  return findSessions({ ...query, status: "paused" });
}

export function getCompletedSessions(query: Omit<SessionQuery, "status"> = {}): AgentSession[] {
  return findSessions({ ...query, status: "completed" });
}

export function getFailedSessions(query: Omit<SessionQuery, "status"> = {}): AgentSession[] {
  return findSessions({ ...query, status: "failed" });
}

export function getStats(query: Omit<SessionQuery, "limit"> = {}): SessionStatsSummary {
  return toStatsSummary(engine().manager.statsSync(toFilter(query)));
}

/** Deletes sessions that ended (completed, failed, timeout) more than `days` days ago; returns how many. */
export function cleanupSessions(days: number): number {
  return engine().manager.cleanupSync(days);
}

/** Deletes a session with its history; false when there was none. */
export function removeSession(sessionId: string): boolean {
  return engine().manager.deleteSync(sessionId);
}

/**
 * Registers a webhook for session events, stored in the data dir: this process delivers the
 * events it writes, a server on the same data dir those written through it.
 * @throws validation naming `url` when it is not http(s), carries credentials, or points at a
 *   private or local address that config `webhookAllowHosts` does not list (docs/events.md)
 */
export function configureWebhook(url: string, options: WebhookOptions = {}): WebhookRecord {
  const refusal = new WebhookTargetPolicy(engine().config.webhookAllowHosts).check(url);
  if (refusal !== undefined) throw errors.validation("url", refusal);
  const webhook: WebhookRecord = {
    id: newId(),
    url,
    events: options.events ?? [],
    secret: options.secret ?? null,
    created_at: new Date().toISOString(),
  };
  engine().manager.putWebhookSync(webhook);
  return webhook;
}

// ---- shapes ----------------------------------------------------------------------------------

function toAgentSession(s: Session): AgentSession {
  const agent = agentSessionFields(s);
  let history: AgentSessionEvent[] | undefined;
  return Object.defineProperty(agent, "history", {
    enumerable: true,
    get: () => (history ??= allEvents(s).map(toAgentEvent)),
  }) as AgentSession;
}

/** Every event of a session up to the state it was read at, in pages. */
function allEvents(s: Session): SessionEvent[] {
  const all: SessionEvent[] = [];
  for (;;) {
    const page = engine().manager.listEventsSync(s.id, { after_seq: all.at(-1)?.seq ?? 0, to_seq: s.last_seq, limit: 10_000 });
    if (!page.length) return all;
    all.push(...page);
  }
}

