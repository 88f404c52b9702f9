import { homedir } from "node:os";
import { readEnvFiles } from "./env-files.js";
import { type Checkpoint, type Config, type JsonObject, type Session, type SessionEvent, SessiondError, dataPaths, errors, newId, resolveConfig } from "../core/index.js";
import type { SessionManager } from "../engine/index.js";
import { WEBHOOK_EVENTS, WebhookTargetPolicy, isWebhookEvent } from "../events/webhooks/index.js";
import { type WebhookRecord, claimHome, describeOwner, readOwnerRecord } from "../store/index.js";
import type { EmbeddedBackend } from "./embedded-backend.js";
import { EmbeddedOwner, EngineBackend } from "./embedded-owner.js";
import { OwnerClient, OwnerGone } from "./owner-client.js";
import { sessionPaths } from "../drivers/workspace.js";
import { type ContinuumEnvironment, type SessionRecorder, type ToolCallRecord, requireSession, withSession as withScope } from "./context.js";
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
 *
 * One process owns a data dir (an OS lock; DESIGN.md §6). The first to use it becomes the owner:
 * the engine runs here and answers on the data dir's socket for `sessiond` commands and
 * `sessiond/client`. In any other process — a second script, or one started while `sessiond serve`
 * runs — these functions send their writes to the owner and read the committed store file
 * (README: One data dir, one owner). When the owner goes away, the next write here takes the data dir over.
 */

/** What configureSessions was last given: the backend is opened again from it after a takeover. */
let settings: { home?: string; config?: Partial<Config>; manager?: SessionManager } = {};
let current: EmbeddedBackend | undefined;

/** How many times one write tries a new owner (this process, or another that won the race) after the last went away. */
const TAKEOVER_ATTEMPTS = 3;

/**
 * Points the embedded API at a data dir or config, or at a SessionManager you built. Closes the
 * one in use. Without a call, the first function used opens SESSIOND_HOME.
 *
 * The owner of a data dir also delivers webhooks (seed 004's `configureWebhook`, or registered by a
 * server on the same data dir) for the events written through it. Deliveries still pending when
 * the process ends stay in the store; the next owner retries them.
 * A manager you pass in gets no webhook sender and no socket here (the server that built it runs its own).
 */
export function configureSessions(options: { home?: string; config?: Partial<Config>; manager?: SessionManager } = {}): void {
  const previous = current;
  current = undefined;
  previous?.closeSync();
  settings = options;
  current = open(options);
}

/** Flushes and closes the embedded engine (delivering due webhooks first, for a bounded time); the next call opens it again. */
export async function closeSessions(): Promise<void> {
  const open = current;
  current = undefined;
  await open?.close();
}

/**
 * The engine behind the embedded API (for what seed 004 has no function for).
 * @throws not_owner in a process that does not own the data dir (the engine runs in the owner)
 */
export function sessionManager(): SessionManager {
  const b = backend();
  if (b.manager) return b.manager;
  const paths = dataPaths(b.config);
  throw new SessiondError("not_owner", { operation: "sessionManager()", owner: describeOwner(readOwnerRecord(paths.pid)), home: b.config.home, socket: paths.socket });
}

function backend(): EmbeddedBackend {
  if (!current || !current.isOpen) current = open(settings);
  return current;
}

function open(options: typeof settings): EmbeddedBackend {
  if (options.manager) return new EngineBackend(resolveConfig({ env: environment(options.config?.home), flags: options.config }), options.manager);
  const flags = { ...options.config, ...(options.home ? { home: options.home } : {}) };
  const config = resolveConfig({ env: environment(flags.home), flags });
  const claim = claimHome(config, "embedded");
  return claim.owned ? new EmbeddedOwner(config, claim.owned) : new OwnerClient(config, claim.owner);
}

/**
 * Runs a write on the backend; when the owner it was sent to is gone before it arrived (so it was
 * not applied), lets go of that backend — the next one may be this process as the new owner —
 * and sends it again.
 */
async function write<T>(op: (b: EmbeddedBackend) => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    const b = backend();
    try {
      return await op(b);
    } catch (err) {
      if (!(err instanceof OwnerGone)) throw err;
      if (attempt >= TAKEOVER_ATTEMPTS) throw noOwner(b, err);
      letGo(b);
    }
  }
}

/** write, for seed 004's synchronous writes. */
function writeSync<T>(op: (b: EmbeddedBackend) => T): T {
  for (let attempt = 1; ; attempt++) {
    const b = backend();
    try {
      return op(b);
    } catch (err) {
      if (!(err instanceof OwnerGone)) throw err;
      if (attempt >= TAKEOVER_ATTEMPTS) throw noOwner(b, err);
      letGo(b);
    }
  }
}

/** Every try found the owner gone and someone else (not this process) took the data dir first: say so, in the error shape. */
function noOwner(b: EmbeddedBackend, err: OwnerGone): SessiondError {
  const paths = dataPaths(b.config);
  return new SessiondError(
    "owner_unreachable",
    { owner: describeOwner(readOwnerRecord(paths.pid)), home: b.config.home, reason: `went away ${TAKEOVER_ATTEMPTS} times before the write reached it (${err.message}), and this process could not take the data dir over` },
    { cause: err },
  );
}

function letGo(b: EmbeddedBackend): void {
  if (current !== b) return; // Another write already moved on.
  current = undefined;
  b.closeSync();
}

/**
 * The environment the config is resolved from: the process's, then the data dir's `.env` for what
 * it does not set. Not the working directory's: that file is the host program's own (it loads it
 * into process.env itself if it wants sessiond to see it). Warnings go through process.emitWarning.
 * @throws validation naming the data dir's .env when sessiond refuses it (see readEnvFiles)
 */
function environment(home: string | undefined): Record<string, string | undefined> {
  const env = { ...process.env, HOME: process.env.HOME ?? homedir() };
  const read = readEnvFiles({ env, ...(home ? { home } : {}) });
  for (const warning of read.warnings) process.emitWarning(`sessiond: ${warning}`);
  return { ...env, ...read.values };
}

// Writes are acknowledged only once durable, but a process that exits without awaiting them
// still gets them: the exit hook commits whatever is queued (and an owner lets the data dir go).
process.once("exit", () => {
  current?.closeSync();
});

// ---- lifecycle -------------------------------------------------------------------------------

export async function startSession(task: string, mode: string, options: StartSessionOptions = {}): Promise<AgentSession> {
  if (typeof task !== "string") throw errors.validation("task", "expected a string");
  if (typeof mode !== "string") throw errors.validation("mode", "expected a string");
  return toAgentSession(await write((b) => b.create(createInput(task, mode, options, b.config.defaultMaxIterations))));
}

export async function pauseSession(sessionId: string, reason?: string): Promise<AgentSession> {
  return toAgentSession(await write((b) => b.pause(sessionId, reason)));
}

/**
 * Paused → active; a crashed session is recovered — one of a live kind (shell…) only while that
 * kind is enabled (ENABLE_SESSIONS), else the validation error a server gives for starting one.
 */
export async function resumeSession(sessionId: string): Promise<AgentSession> {
  return toAgentSession(await write((b) => b.resume(sessionId)));
}

export async function completeSession(sessionId: string, result?: unknown): Promise<AgentSession> {
  return toAgentSession(await write((b) => b.complete(sessionId, result)));
}

export async function failSession(sessionId: string, error: string): Promise<AgentSession> {
  return toAgentSession(await write((b) => b.fail(sessionId, error)));
}

/** Counts an iteration; reaching maxIterations moves the session to `timeout`. */
export async function incrementIteration(sessionId: string, data: Record<string, unknown> = {}): Promise<AgentSession> {
  return toAgentSession(await write((b) => b.incrementIteration(sessionId, data as JsonObject)));
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
  if (typeof first === "string") return toAgentEvent(await write((b) => b.recordToolCall(first, tool as string, args, result, {})));
  return recordCall(requireSession("recordToolCall").sessionId, first);
}

/** A tool call through the engine's recordToolCall, which keeps metadata.toolsUsed, with its error and duration when it has them. */
async function recordCall(sessionId: string, call: ToolCallRecord): Promise<AgentSessionEvent> {
  if (call === null || typeof call !== "object") throw errors.validation("call", "expected {tool, args?, result?}");
  return toAgentEvent(await write((b) => b.recordToolCall(sessionId, call.tool, call.args, call.result, toolCallOutcome(call))));
}

export async function recordLearning(sessionId: string, insight: string, expertiseFile?: string): Promise<AgentSessionEvent> {
  if (typeof insight !== "string" || insight === "") throw errors.validation("insight", "expected a non-empty string");
  const data: JsonObject = { insight, ...(expertiseFile !== undefined ? { expertiseFile } : {}) };
  return toAgentEvent(await write((b) => b.appendEvent(sessionId, "learning", data)));
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
  return toAgentEvent(await write((b) => b.appendEvent(sessionId, type, (data ?? {}) as JsonObject)));
}

/** Appends through the embedded engine: what `withSession` scopes record into. */
const embeddedRecorder: SessionRecorder = {
  recordToolCall: (sessionId, call) => recordCall(sessionId, call),
  addEvent: (sessionId, type, data) => addEvent(sessionId, type, data),
  environment: "server",
  sessionPaths: (ref) => {
    const b = backend();
    const session = b.findSync(ref);
    return session && sessionPaths(b.config, session);
  },
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
 * @param options.environment what the code runs as (`agent`, `persona`…; seed 002's environments); default `server`
 */
export function withSession<T>(sessionId: string, fn: () => T, options: { environment?: ContinuumEnvironment } = {}): T {
  return withScope(sessionId, fn, { recorder: embeddedRecorder, ...options });
}

/** Merges `updates` into the context (JSON Merge Patch: nested objects merge, null deletes). */
export async function updateContext(sessionId: string, updates: Record<string, unknown>): Promise<AgentSession> {
  return toAgentSession(await write((b) => b.mergeContext(sessionId, updates as JsonObject)));
}

/**
 * Records a checkpoint: the session's context and iterations now, with your label and data, to
 * restore or fork from later (`sessiond checkpoint restore`, or the HTTP API). With `withFiles`
 * it also snapshots the session's workspace (docs/checkpoints.md), which a restore puts back and
 * a fork copies. Not in seed 004; works in any process on the data dir, owner or not.
 * @throws snapshot_too_large past `maxSnapshotBytes` (nothing written)
 * @example
 * await createCheckpoint(session.id, { label: "tested", data: { next: "ship" }, withFiles: true });
 */
export async function createCheckpoint(sessionId: string, options: { label?: string; data?: Record<string, unknown>; withFiles?: boolean } = {}): Promise<Checkpoint> {
  if (options === null || typeof options !== "object") throw errors.validation("options", "expected {label?, data?, withFiles?}");
  if (options.withFiles !== undefined && typeof options.withFiles !== "boolean") throw errors.validation("withFiles", "expected a boolean");
  return write((b) =>
    b.createCheckpoint(sessionId, {
      ...(options.label !== undefined ? { label: options.label } : {}),
      ...(options.data !== undefined ? { data: options.data as JsonObject } : {}),
      ...(options.withFiles ? { with_files: true } : {}),
    }),
  );
}

// ---- synchronous reads -----------------------------------------------------------------------

/**
 * The session, or null when there is none with this id, name or `agent_id/name`.
 * @throws ambiguous_name for a bare name that sessions of several agents have
 */
export function getSession(sessionId: string): AgentSession | null {
  const session = backend().findSync(sessionId);
  return session ? toAgentSession(session) : null;
}

/** What an agent needs to resume, or null when there is no such session. */
export function getSessionContext(sessionId: string): SessionResumeContext | null {
  const b = backend();
  const session = b.findSync(sessionId);
  if (!session) return null;
  const recent = b.config.recentHistoryLength
    ? b.listEventsSync(session.id, { descending: true, limit: b.config.recentHistoryLength }).reverse()
    : [];
  return resumeContext(session, recent);
}

/** True when resumeSession would succeed: the session is paused, or crashed (recovery). */
export function isSessionResumable(sessionId: string): boolean {
  const status = backend().findSync(sessionId)?.status;
  return status === "paused" || status === "crashed";
}

export function findSessions(query: SessionQuery = {}): AgentSession[] {
  const b = backend();
  const filter = toFilter(query);
  const wanted = query.limit ?? Number.POSITIVE_INFINITY;
  const found: AgentSession[] = [];
  let cursor: string | undefined;
  do {
    const page = b.listSync(filter, { limit: Math.min(1000, wanted - found.length), ...(cursor ? { cursor } : {}) });
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
  return toStatsSummary(backend().statsSync(toFilter(query)));
}

/** Deletes sessions that ended (completed, failed, timeout) more than `days` days ago; returns how many. */
export function cleanupSessions(days: number): number {
  return writeSync((b) => b.cleanupSync(days));
}

/** Deletes a session with its history; false when there was none. */
export function removeSession(sessionId: string): boolean {
  return writeSync((b) => b.deleteSync(sessionId));
}

/**
 * Registers a webhook for session events, stored in the data dir: this process delivers the
 * events it writes, a server on the same data dir those written through it.
 * @throws validation naming `url` when it is not http(s), carries credentials, or points at a
 *   private or local address that config `webhookAllowHosts` does not list (docs/events.md)
 */
export function configureWebhook(url: string, options: WebhookOptions = {}): WebhookRecord {
  const refusal = new WebhookTargetPolicy(backend().config.webhookAllowHosts).check(url);
  if (refusal !== undefined) throw errors.validation("url", refusal);
  // The same check wherever the data dir's owner is: a typo must not pass here and fail elsewhere.
  if (options.events !== undefined && !Array.isArray(options.events)) throw errors.validation("events", "expected an array of event names");
  options.events?.forEach((event, i) => {
    if (!isWebhookEvent(event)) throw errors.validation(`events.${i}`, `expected one of ${WEBHOOK_EVENTS.join(", ")}`);
  });
  const webhook: WebhookRecord = {
    id: newId(),
    url,
    events: options.events ?? [],
    secret: options.secret ?? null,
    created_at: new Date().toISOString(),
  };
  return writeSync((b) => b.putWebhookSync(webhook));
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
    const page = backend().listEventsSync(s.id, { after_seq: all.at(-1)?.seq ?? 0, to_seq: s.last_seq, limit: 10_000 });
    if (!page.length) return all;
    all.push(...page);
  }
}

