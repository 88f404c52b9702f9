/**
 * Seed 004's shapes (camelCase sessions, events, queries, stats) and their mapping from and to
 * sessiond's snake_case records. Pure: shared by the embedded API and the remote one, so both
 * answer exactly the same objects.
 */
import type { SessionEvent, ToolCallOutcome } from "../core/events.js";
import type { CreateSessionInput, JsonObject, Session, SessionFilter, SessionKind, SessionStats, SessionStatus } from "../core/session.js";
import type { ToolCallRecord } from "./context.js";

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
  /** The whole event history (embedded: read when first accessed; remote: use `getHistory(id)`). */
  readonly history: AgentSessionEvent[];
  result?: unknown;
  error?: string;
  metadata?: Record<string, unknown>;
}

/** A session as the remote API returns it: everything but `history`, which is one more request (`getHistory`). */
export type RemoteAgentSession = Omit<AgentSession, "history">;

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

/** A session in seed 004's shape, without history. */
export function agentSessionFields(s: Session): RemoteAgentSession {
  return {
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
  };
}

/** An event in seed 004's shape. */
export function toAgentEvent(e: SessionEvent): AgentSessionEvent {
  return { seq: e.seq, timestamp: e.ts, type: e.type, data: e.data };
}

/** startSession's arguments as a create input; `defaultMaxIterations` applies when the options give none. */
export function createInput(task: string, mode: string, options: StartSessionOptions, defaultMaxIterations: number): CreateSessionInput {
  return {
    task,
    mode,
    kind: options.kind ?? "agent",
    max_iterations: options.maxIterations ?? defaultMaxIterations,
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
  } as CreateSessionInput;
}

/** getSessionContext's answer for a session and its newest events (oldest first). */
export function resumeContext(session: Session, recent: readonly SessionEvent[]): SessionResumeContext {
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

/** A seed 004 query as sessiond's filter. */
export function toFilter(q: SessionQuery): SessionFilter {
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

/** sessiond's stats in seed 004's shape. */
export function toStatsSummary(s: SessionStats): SessionStatsSummary {
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

/** The object without its undefined members. */
export function defined<T extends Record<string, unknown>>(value: T): { [K in keyof T]?: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as never;
}

/** The error and duration of a seed-004 tool call record, as the engine's recordToolCall takes them. */
export function toolCallOutcome(call: ToolCallRecord): ToolCallOutcome {
  return { ...(call.error !== undefined ? { error: call.error } : {}), ...(call.duration_ms !== undefined ? { duration_ms: call.duration_ms } : {}) };
}
