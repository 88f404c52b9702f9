import { homedir } from "node:os";
import {
  type Config,
  type JsonObject,
  type Session,
  type SessionEvent,
  type SessionFilter,
  type SessionKind,
  type SessionStatus,
  errors,
  newId,
  resolveConfig,
} from "../core/index.js";
import { SessionManager } from "../engine/index.js";
import { type WebhookRecord, openSqliteStore } from "../store/index.js";

/**
 * Seed 004's function API, embedded: the same names, arguments and return shapes, backed by the
 * engine on the SQLite store in SESSIOND_HOME (default ~/.sessiond). Reads are synchronous,
 * as seed 004 uses them; writes return promises that resolve once the write is durable.
 */

/** A session in seed 004's camelCase shape. */
export interface AgentSession {
  id: string;
  name: string;
  userId?: string;
  channelId?: string;
  agentId?: string;
  mode: string;
  task: string;
  workspace?: string;
  status: SessionStatus;
  createdAt: string;
  updatedAt: string;
  iterations: number;
  /** null when the session has no bound (sessions created through REST may have none). */
  maxIterations: number | null;
  context: Record<string, unknown>;
  /** The whole event history, read when first accessed. */
  readonly history: AgentSessionEvent[];
  result?: unknown;
  error?: string;
  metadata?: Record<string, unknown>;
}

/** An event in seed 004's shape, with its seq. */
export interface AgentSessionEvent {
  seq: number;
  timestamp: string;
  type: string;
  data: Record<string, unknown>;
}

export interface StartSessionOptions {
  userId?: string;
  channelId?: string;
  agentId?: string;
  /** @default config `defaultMaxIterations` (50) */
  maxIterations?: number;
  context?: Record<string, unknown>;
  workspace?: string;
  metadata?: Record<string, unknown>;
  name?: string;
  type?: string;
  kind?: SessionKind;
  labels?: Record<string, string>;
}

/** Filters of findSessions and the get*Sessions helpers. */
export interface SessionQuery {
  userId?: string;
  channelId?: string;
  agentId?: string;
  mode?: string;
  type?: string;
  kind?: SessionKind | SessionKind[];
  status?: SessionStatus | SessionStatus[];
  labels?: Record<string, string>;
  createdAfter?: string;
  createdBefore?: string;
  /** At most this many, newest first; all when absent. */
  limit?: number;
}

/** What getSessionContext returns: what an agent needs to pick up where it left off. */
export interface SessionResumeContext {
  sessionId: string;
  task: string;
  mode: string;
  status: SessionStatus;
  iterations: number;
  maxIterations: number | null;
  context: Record<string, unknown>;
  /** The newest events, oldest first (config `recentHistoryLength`). */
  recentHistory: AgentSessionEvent[];
  result?: unknown;
  error?: string;
}

export interface SessionStatsSummary {
  total: number;
  byStatus: Record<string, number>;
  byMode: Record<string, number>;
  byKind: Record<string, number>;
  /** Percent of ended sessions that completed. */
  successRate: number;
  averageIterations: number;
  averageDurationMs: number;
}

export interface WebhookOptions {
  /** Seed 004 event names to deliver (start, pause, resume, complete, error, timeout); all when empty. */
  events?: string[];
  /** Signs deliveries (HMAC-SHA256) when set. */
  secret?: string;
}

let current: { manager: SessionManager; config: Config } | undefined;

/**
 * Points the embedded API at a data dir or config, or at a SessionManager you built. Closes the
 * one in use. Without a call, the first function used opens SESSIOND_HOME.
 */
export function configureSessions(options: { home?: string; config?: Partial<Config>; manager?: SessionManager } = {}): void {
  current?.manager.closeSync();
  current = undefined;
  if (options.manager) {
    current = { manager: options.manager, config: resolveConfig({ env: environment(), flags: options.config }) };
    return;
  }
  const flags = { ...options.config, ...(options.home ? { home: options.home } : {}) };
  const config = resolveConfig({ env: environment(), flags });
  current = { manager: new SessionManager({ store: openSqliteStore(config), config }), config };
}

/** Flushes and closes the embedded engine; the next call opens it again. */
export async function closeSessions(): Promise<void> {
  const open = current;
  current = undefined;
  await open?.manager.close();
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
  const session = await manager.create({
    task,
    mode,
    kind: options.kind ?? "agent",
    max_iterations: options.maxIterations ?? config.defaultMaxIterations,
    ...defined({
      user_id: options.userId,
      channel_id: options.channelId,
      agent_id: options.agentId,
      context: options.context,
      workspace: options.workspace,
      metadata: options.metadata,
      name: options.name,
      type: options.type,
      labels: options.labels,
    }),
  });
  return toAgentSession(session);
}

export async function pauseSession(sessionId: string, reason?: string): Promise<AgentSession> {
  return toAgentSession(await engine().manager.pause(sessionId, reason));
}

/** Paused → active; a crashed session is recovered. */
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

export async function recordToolCall(sessionId: string, tool: string, args: unknown, result?: unknown): Promise<AgentSessionEvent> {
  return toAgentEvent(await engine().manager.recordToolCall(sessionId, tool, args, result));
}

export async function recordLearning(sessionId: string, insight: string, expertiseFile?: string): Promise<AgentSessionEvent> {
  if (typeof insight !== "string" || insight === "") throw errors.validation("insight", "expected a non-empty string");
  const data: JsonObject = { insight, ...(expertiseFile !== undefined ? { expertiseFile } : {}) };
  return toAgentEvent(await engine().manager.appendEvent(sessionId, "learning", data));
}

export async function addEvent(sessionId: string, type: string, data: Record<string, unknown> = {}): Promise<AgentSessionEvent> {
  return toAgentEvent(await engine().manager.appendEvent(sessionId, type, data));
}

/** Merges `updates` into the context (JSON Merge Patch: nested objects merge, null deletes). */
export async function updateContext(sessionId: string, updates: Record<string, unknown>): Promise<AgentSession> {
  return toAgentSession(await engine().manager.updateContext(sessionId, updates, { merge: true }));
}

// ---- synchronous reads -----------------------------------------------------------------------

/** The session, or null when there is none with this id or name. */
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
  return {
    sessionId: session.id,
    task: session.task ?? "",
    mode: session.mode ?? "",
    status: session.status,
    iterations: session.iterations,
    maxIterations: session.max_iterations,
    context: session.context,
    recentHistory: recent.map(toAgentEvent),
    ...defined({ result: session.result ?? undefined, error: session.error ?? undefined }),
  };
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
  const s = engine().manager.statsSync(toFilter(query));
  return {
    total: s.total,
    byStatus: s.by_status,
    byMode: s.by_mode,
    byKind: s.by_kind,
    successRate: s.success_rate,
    averageIterations: s.average_iterations,
    averageDurationMs: s.average_duration_ms,
  };
}

/** Deletes sessions that ended (completed, failed, timeout) more than `days` days ago; returns how many. */
export function cleanupSessions(days: number): number {
  return engine().manager.cleanupSync(days);
}

/** Deletes a session with its history; false when there was none. */
export function removeSession(sessionId: string): boolean {
  return engine().manager.deleteSync(sessionId);
}

/** Registers a webhook for session events (delivered by the server's webhook sender). */
export function configureWebhook(url: string, options: WebhookOptions = {}): WebhookRecord {
  try {
    const parsed = new URL(url);
    if (parsed.protocol !== "http:" && parsed.protocol !== "https:") throw new Error("not http");
  } catch {
    throw errors.validation("url", "expected an http or https URL");
  }
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
  const agent = {
    id: s.id,
    name: s.name,
    ...defined({
      userId: s.user_id ?? undefined,
      channelId: s.channel_id ?? undefined,
      agentId: s.agent_id ?? undefined,
      workspace: s.workspace ?? undefined,
      result: s.result ?? undefined,
      error: s.error ?? undefined,
    }),
    mode: s.mode ?? "",
    task: s.task ?? "",
    status: s.status,
    createdAt: s.created_at,
    updatedAt: s.updated_at,
    iterations: s.iterations,
    maxIterations: s.max_iterations,
    context: s.context,
    metadata: s.metadata,
  } as Omit<AgentSession, "history">;
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

function toAgentEvent(e: SessionEvent): AgentSessionEvent {
  return { seq: e.seq, timestamp: e.ts, type: e.type, data: e.data };
}

function toFilter(q: SessionQuery): SessionFilter {
  return defined({
    user_id: q.userId,
    channel_id: q.channelId,
    agent_id: q.agentId,
    mode: q.mode,
    type: q.type,
    kind: q.kind,
    status: q.status,
    labels: q.labels,
    created_after: q.createdAfter,
    created_before: q.createdBefore,
  });
}

/** The object without its undefined members. */
function defined<T extends Record<string, unknown>>(value: T): { [K in keyof T]?: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as never;
}
