/**
 * The session: one model for agent runs (record only) and live execution sessions
 * (DESIGN.md §3). Field names are snake_case because that is the wire and storage shape;
 * the embedded seed-004 API maps them to camelCase at its edge.
 */

import type { Participant, ParticipantInput } from "./participants.js";

/** What a session is: a record of an agent run, or a live execution context. The kinds this build ships. */
export const SESSION_KINDS = ["agent", "shell", "python", "typescript", "llm"] as const;
/** A kind this build ships. */
export type BuiltinKind = (typeof SESSION_KINDS)[number];
/**
 * A built-in kind, or a mode a registered driver adds (docs/drivers.md): any name matching
 * {@link MODE_NAME_PATTERN}. `string & {}` keeps the built-in names as suggestions.
 */
export type SessionKind = BuiltinKind | (string & {});
/** The names a mode may have: lower case, digits, `_` and `-`, at most 32 characters, starting with a letter. */
export const MODE_NAME_PATTERN = "^[a-z][a-z0-9_-]{0,31}$";

/** Lifecycle states; see status.ts for the transitions between them. */
export const SESSION_STATUSES = ["active", "paused", "completed", "failed", "timeout", "crashed"] as const;
export type SessionStatus = (typeof SESSION_STATUSES)[number];

/** Where the session's work runs (seed 003). */
export const RUNTIME_BACKENDS = ["local", "kubernetes", "unknown"] as const;
export type RuntimeBackend = (typeof RUNTIME_BACKENDS)[number];

/** A JSON object as stored in context, checkpoint, metadata and the like. */
export type JsonObject = { [key: string]: unknown };

/** A session as held in memory, stored and sent over the wire. Treat it as immutable. */
export interface Session {
  /** UUID v7 for new sessions; imported sessions keep the id they had. */
  readonly id: string;
  /** Unique, human-readable; generated when not given. Lookups accept the id or the name. */
  readonly name: string;
  readonly kind: SessionKind;
  /** Free category: conversation, development, task, batch… (seed 003's `session_type`). */
  readonly type: string | null;
  /** Free: the agent's role (seed 004's `mode`). */
  readonly mode: string | null;
  readonly agent_id: string | null;
  readonly user_id: string | null;
  readonly channel_id: string | null;
  readonly labels: Readonly<Record<string, string>>;
  readonly task: string | null;
  readonly workspace: string | null;
  readonly status: SessionStatus;
  readonly iterations: number;
  /** Reaching it moves the session to `timeout`; null means no bound. */
  readonly max_iterations: number | null;
  readonly context: JsonObject;
  /** The latest checkpoint's data. */
  readonly checkpoint: JsonObject | null;
  readonly runtime_backend: RuntimeBackend;
  readonly runtime_metadata: JsonObject;
  /** Where a live session runs: `local` or `ssh`. */
  readonly server: string;
  readonly result: unknown;
  readonly error: string | null;
  /** Model, tokens, cost, tools used… */
  readonly metadata: JsonObject;
  /** The session this one was forked from. */
  readonly parent: string | null;
  readonly created_at: string;
  readonly updated_at: string;
  readonly started_at: string;
  readonly ended_at: string | null;
  readonly last_activity_at: string;
  /** The seq of the newest event. */
  readonly last_seq: number;
  /** +1 on every change to this record; the ETag and `expected_version` compare against it. */
  readonly version: number;
  /**
   * Who took part (seed 002), in the order they joined: the creation's own and agent_id/user_id,
   * then whoever attached or wrote. A join moves neither `version` nor `updated_at`, as an
   * event append does not (docs/api.md#participants).
   */
  readonly participants: readonly Participant[];
}

/** Fields a caller may set both when creating and when updating a session (all optional). */
export interface SettableSessionFields {
  name?: string;
  type?: string | null;
  mode?: string | null;
  agent_id?: string | null;
  user_id?: string | null;
  channel_id?: string | null;
  labels?: Record<string, string>;
  task?: string | null;
  workspace?: string | null;
  max_iterations?: number | null;
  context?: JsonObject;
  runtime_backend?: RuntimeBackend;
  runtime_metadata?: JsonObject;
  server?: string;
  metadata?: JsonObject;
}

/** What a caller may give when creating a session. */
export interface CreateSessionInput extends SettableSessionFields {
  /** Kept as given (imports); a UUID v7 otherwise. */
  id?: string;
  kind?: SessionKind;
  /** Recorded as the session's first checkpoint. */
  checkpoint?: JsonObject | null;
  /**
   * Who takes part from the start, besides the agent_id (an AI) and user_id (a human), which
   * are added by themselves. A persona is named here.
   */
  participants?: ParticipantInput[];
}

/**
 * A partial update. `context` replaces the context (seed 003); `context_patch` merges into it
 * (RFC 7396). `checkpoint` records a new checkpoint. `status` goes through the status machine.
 */
export interface UpdateSessionInput extends SettableSessionFields {
  status?: SessionStatus;
  context_patch?: JsonObject;
  checkpoint?: JsonObject;
  result?: unknown;
  error?: string | null;
}

/** Filters for listing sessions; every one is backed by an index. */
export interface SessionFilter {
  agent_id?: string;
  user_id?: string;
  channel_id?: string;
  /** One status or several (any of). */
  status?: SessionStatus | SessionStatus[];
  kind?: SessionKind | SessionKind[];
  type?: string;
  mode?: string;
  /** Every label given must match. */
  labels?: Record<string, string>;
  /** ISO timestamps, inclusive after / exclusive before. */
  created_after?: string;
  created_before?: string;
  /**
   * Text the session's name or the first {@link TASK_SEARCH_CHARS} characters of its task
   * contain, ignoring the case of ASCII letters (every character is itself: `%` and `_` are no
   * wildcards); at most {@link MAX_SEARCH_LENGTH} characters. Not backed by an index: a listing
   * reads the sessions in its order until it has a page of matches or has read config
   * `listScanRows` of them (then the page is short, and its cursor goes on from there).
   */
  q?: string;
}

/** The longest text `q` searches for. */
export const MAX_SEARCH_LENGTH = 200;

/**
 * How much of a task `q` searches: its first 1,024 characters. A task may be megabytes long (up to
 * the request body limit); a search reads this much of each session it looks at, whatever the size.
 */
export const TASK_SEARCH_CHARS = 1024;

/** A page request: newest first, `cursor` taken from the previous page's `next_cursor`. */
export interface PageRequest {
  /** @default 50 */
  limit?: number;
  cursor?: string;
}

/**
 * What a list of sessions may be ordered by. Ties are broken by created_at, then id (created_at
 * itself by id alone), in the same direction, so every order is total and pages by cursor.
 */
export const SESSION_SORT_KEYS = ["created_at", "last_activity_at", "updated_at", "name", "status", "kind", "agent_id", "iterations"] as const;
export type SessionSortKey = (typeof SESSION_SORT_KEYS)[number];

/** Ascending or descending. */
export const SORT_ORDERS = ["desc", "asc"] as const;
export type SortOrder = (typeof SORT_ORDERS)[number];

/**
 * A page of a session listing in a chosen order. The order belongs to the page, not the filter:
 * a cursor continues only the order it was made in (stats take the filter alone).
 */
export interface SessionPageRequest extends PageRequest {
  /** @default "created_at" */
  sort?: SessionSortKey;
  /** @default "desc" */
  order?: SortOrder;
}

export interface Page<T> {
  items: T[];
  /** Pass back as `cursor` for the next page; null on the last page. */
  next_cursor: string | null;
}

/** Aggregates over stored sessions. */
export interface SessionStats {
  total: number;
  by_status: Record<string, number>;
  by_mode: Record<string, number>;
  by_kind: Record<string, number>;
  /** completed / (completed + failed + timeout), in percent; 0 when none ended. */
  success_rate: number;
  average_iterations: number;
  /** Mean of ended_at - started_at over ended sessions, in milliseconds. */
  average_duration_ms: number;
}
