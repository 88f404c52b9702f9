import type { Checkpoint, SessionEvent, SessionState, ToolCallOutcome } from "../../core/events.js";
import type {
  CreateSessionInput,
  JsonObject,
  Page,
  PageRequest,
  Session,
  SessionFilter,
  SessionPageRequest,
  SessionStats,
  SessionStatus,
  UpdateSessionInput,
} from "../../core/session.js";
import type { UndoResult } from "./environment.js";
import { headerValue } from "./wire.js";
import type { RequestSender, RequestSpec } from "./transport.js";

/** A conditional write: `ifMatch` is the version the session must be at (sent as `If-Match: W/"<n>"`), or a raw If-Match value such as `*`. */
export interface WriteOptions {
  ifMatch?: number | string;
}

/** Which events to read; `types` filters, `order: "desc"` reads newest first. */
export interface EventListOptions extends PageRequest {
  after_seq?: number;
  to_seq?: number;
  types?: string[];
  order?: "asc" | "desc";
}

/** A recovered session and the latest checkpoint to resume from. */
export interface Recovery {
  session: Session;
  checkpoint: Checkpoint | null;
  /** With `replay: true`: the cells run again, in order (docs/interpreters.md#recovery-by-replay). */
  replay?: {
    cells: number;
    replayed: { source_seq: number; exec_seq: number; exec_id: string; status: string }[];
    stopped_at: number | null;
    skipped?: { seq: number; reason: string }[];
    note?: string;
  };
}

/** Seed 003's per-session metrics. */
export interface SessionMetrics {
  session_id: string;
  status: SessionStatus;
  duration_ms: number;
  idle_ms: number;
  iterations: number;
  events_total: number;
  events_by_type: Record<string, number>;
  checkpoints: number;
}

/** The state right after event `seq`. */
export interface StateAt extends SessionState {
  seq: number;
}

/**
 * A mode's own start options, beside `mode` (or `kind`); another mode's option is refused
 * (400 naming it). See docs/exec-sessions.md, "Start options".
 */
export interface ModeStartOptions {
  /** python: the python3 to run, an absolute path to an executable (default: config pythonPath). */
  interpreter?: string;
  /** llm: the model (default: config llmModel). */
  model?: string;
  /** llm: the OpenAI-compatible endpoint, `http(s)://…/v1` (default: config llmBaseUrl). */
  base_url?: string;
  /**
   * llm: the endpoint's key, held in the server's memory only (over config llmApiKey); `""` for
   * an endpoint that takes none. Without any key, a session whose endpoint is not on loopback is
   * refused (validation naming `api_key`).
   */
  api_key?: string;
  /**
   * typescript: type-check each cell (against the cells before it) before it runs; a type error
   * is the cell's error and the cell does not run (default: config typescriptTypecheck). Needs the
   * `typescript` package installed with the server.
   */
  typecheck?: boolean;
}

/** A POST /sessions/ body: the create fields, seed 003's `session_type` alias, and a live session's process and mode options. */
export type NewSession = CreateSessionInput &
  ModeStartOptions & {
  session_type?: string | null;
  /** Live sessions: the working directory, extra environment and terminal size of the process. */
  cwd?: string;
  env?: Record<string, string>;
  cols?: number;
  rows?: number;
};

/** What one exec answers (a command that exits non-zero is a result, not an error). */
export interface ExecuteResult {
  exec_id: string;
  seq: number;
  input: string;
  stdout: string;
  stderr: string;
  exit_code: number | null;
  status: string;
  started_at: string;
  duration_ms: number;
  truncated: boolean;
  /** True when the session's process ended during this exec (it ran `exit`, or was killed): recover the session for a fresh one. */
  process_exited?: boolean;
  /** Present when this exec woke the session from hibernation: cells replayed, those that failed again or were skipped. */
  woke?: { hibernated_at: string; slept_ms: number; replayed: number; failed: { seq: number; status: string; error: string }[]; skipped: { seq: number; reason: string }[]; duration_ms: number };
  [key: string]: unknown;
}

/** A PATCH body: the update fields, plus seed 003's `session_type` alias. */
export type SessionPatch = UpdateSessionInput & { session_type?: string | null };

/**
 * Every session route of the REST API as a typed method. `ref` is a session's id, its name, or
 * `agent_id/name` (sent encoded; see docs/api.md#names).
 * Errors are the server's SessiondError, rebuilt (`err.code`, `err.field`, `err.status`).
 *
 * @example
 * const s = await client.sessions.createSession({ agent_id: "a1", task: "fix the build" });
 * await client.sessions.updateSession(s.id, { task: "…" }, { ifMatch: s.version });
 */
/** A session a cleanup would delete (a dry run's answer). */
export interface CleanupCandidate {
  readonly id: string;
  readonly name: string;
  readonly status: SessionStatus;
  readonly ended_at: string | null;
}

export class SessionsClient {
  constructor(private readonly transport: RequestSender) {}

  /** POST /sessions/ → the new session (201). */
  async createSession(input: NewSession = {}): Promise<Session> {
    return this.call<Session>({ method: "POST", path: "/sessions/", body: input });
  }

  /** GET /sessions/{ref}. @throws not_found */
  async getSession(ref: string): Promise<Session> {
    return this.call<Session>({ method: "GET", path: sessionPath(ref) });
  }

  /**
   * GET /sessions/ with filters (`q` searches names and tasks), newest first unless `page.sort`
   * and `page.order` say otherwise; pass `next_cursor` back as `cursor`, with the same sort and
   * order, for the next page.
   * @example
   * const page = await client.sessions.listSessions({ q: "build" }, { sort: "last_activity_at", limit: 20 });
   */
  async listSessions(filter: SessionFilter = {}, page: SessionPageRequest = {}): Promise<Page<Session>> {
    const { limit, cursor, sort, order } = page;
    const reply = await this.transport.request<Session[]>({ method: "GET", path: "/sessions/", query: { ...filterQuery(filter), limit, cursor, sort, order } });
    return { items: reply.body, next_cursor: headerValue(reply.headers, "x-next-cursor") || null };
  }

  /**
   * Every session matching `filter`, following the cursors: in pages of `options` sessions (a
   * number), or of `options.limit` (default 500) in `options.sort` and `options.order`.
   */
  async *iterateSessions(filter: SessionFilter = {}, options: number | Omit<SessionPageRequest, "cursor"> = {}): AsyncGenerator<Session> {
    const { limit = 500, ...order } = typeof options === "number" ? { limit: options } : options;
    let cursor: string | undefined;
    do {
      const page = await this.listSessions(filter, { ...order, limit, ...(cursor ? { cursor } : {}) });
      yield* page.items;
      cursor = page.next_cursor ?? undefined;
    } while (cursor);
  }

  /** PATCH /sessions/{ref} (JSON body: `context` replaces, `context_patch` merges). @throws version_conflict when `ifMatch` is stale */
  async updateSession(ref: string, patch: SessionPatch, options: WriteOptions = {}): Promise<Session> {
    return this.call<Session>({ method: "PATCH", path: sessionPath(ref), body: patch, headers: ifMatch(options) });
  }

  /** DELETE /sessions/{ref}, with its events, checkpoints and workspace. */
  async deleteSession(ref: string, options: WriteOptions = {}): Promise<void> {
    await this.call({ method: "DELETE", path: sessionPath(ref), headers: ifMatch(options) });
  }

  /** active → paused. */
  async pause(ref: string, reason?: string, options: WriteOptions = {}): Promise<Session> {
    return this.action(ref, "pause", reason === undefined ? {} : { reason }, options);
  }

  /** paused → active (a crashed session is recovered). */
  async resume(ref: string, options: WriteOptions = {}): Promise<Session> {
    return this.action(ref, "resume", {}, options);
  }

  /** active|paused → completed, with an optional result. */
  async complete(ref: string, result?: unknown, options: WriteOptions = {}): Promise<Session> {
    return this.action(ref, "complete", result === undefined ? {} : { result }, options);
  }

  /** active|paused|crashed → failed, recording the error. */
  async fail(ref: string, error: string, options: WriteOptions = {}): Promise<Session> {
    return this.action(ref, "fail", { error }, options);
  }

  /** active|paused → crashed, for recovery. */
  async crash(ref: string, reason?: string, options: WriteOptions = {}): Promise<Session> {
    return this.action(ref, "crash", reason === undefined ? {} : { reason }, options);
  }

  /** crashed → active, with the latest checkpoint to resume from; `replay` (python, typescript) runs the session's successful cells again once it is back. */
  async recover(ref: string, options: WriteOptions & { replay?: boolean } = {}): Promise<Recovery> {
    const body = options.replay === undefined ? {} : { replay: options.replay };
    return this.call<Recovery>({ method: "POST", path: `${sessionPath(ref)}/recover`, body, headers: ifMatch(options) });
  }

  /** POST /sessions/recover: every crashed session (of `agent_id`/`user_id` when given) back to active. */
  async recoverAll(owner: { agent_id?: string; user_id?: string; limit?: number } = {}): Promise<Recovery[]> {
    return this.call<Recovery[]>({ method: "POST", path: "/sessions/recover", body: owner });
  }

  /** Counts an iteration (an `iteration` event with `data`); reaching max_iterations moves the session to timeout. */
  async incrementIteration(ref: string, data: JsonObject = {}, options: WriteOptions = {}): Promise<Session> {
    return this.action(ref, "iterations", { data }, options);
  }

  /** Records a `tool_call` event (seed 004) and adds the tool to metadata.toolsUsed; a failed call gives `error` instead of a result. */
  async recordToolCall(ref: string, tool: string, args?: unknown, result?: unknown, outcome: ToolCallOutcome = {}): Promise<SessionEvent> {
    return this.call<SessionEvent>({
      method: "POST",
      path: `${sessionPath(ref)}/tool-calls`,
      body: { tool, ...(args !== undefined ? { args } : {}), ...(result !== undefined ? { result } : {}), ...outcome },
    });
  }

  /** Appends a custom event; resolves once it is durable. */
  async appendEvent(ref: string, type: string, data: JsonObject = {}, options: WriteOptions = {}): Promise<SessionEvent> {
    return this.call<SessionEvent>({ method: "POST", path: `${sessionPath(ref)}/events`, body: { type, data }, headers: ifMatch(options) });
  }

  /** A page of the session's events, oldest first unless `order: "desc"`. */
  async listEvents(ref: string, options: EventListOptions = {}): Promise<Page<SessionEvent>> {
    const reply = await this.transport.request<SessionEvent[]>({
      method: "GET",
      path: `${sessionPath(ref)}/events`,
      query: { after_seq: options.after_seq, to_seq: options.to_seq, type: options.types, order: options.order, limit: options.limit, cursor: options.cursor },
    });
    return { items: reply.body, next_cursor: headerValue(reply.headers, "x-next-cursor") || null };
  }

  /**
   * Up to `options.limit` events matching `options`, following the cursor when the server cut a
   * page short (its `maxPageBytes`, for large events): fewer than `limit` means there are no more.
   */
  async listEventsUpTo(ref: string, options: Omit<EventListOptions, "cursor"> & { limit: number }): Promise<SessionEvent[]> {
    const events: SessionEvent[] = [];
    for await (const event of this.iterateEvents(ref, options)) {
      events.push(event);
      if (events.length === options.limit) break;
    }
    return events;
  }

  /** Every event matching `options`, following the cursors (oldest first unless `order: "desc"`). */
  async *iterateEvents(ref: string, options: Omit<EventListOptions, "cursor"> = {}): AsyncGenerator<SessionEvent> {
    let cursor: string | undefined;
    do {
      const page = await this.listEvents(ref, { ...options, ...(cursor ? { cursor } : {}) });
      yield* page.items;
      cursor = page.next_cursor ?? undefined;
    } while (cursor);
  }

  /**
   * Records a checkpoint of the session now; `data` becomes the session's `checkpoint`. With
   * `withFiles`, the checkpoint also holds a snapshot of the session's workspace
   * (`state.workspace`), which restore puts back and fork copies (docs/checkpoints.md).
   * @throws snapshot_too_large past the server's `maxSnapshotBytes` (nothing written)
   * @example
   * const cp = await client.sessions.createCheckpoint("build-42", { label: "green", withFiles: true });
   */
  async createCheckpoint(
    ref: string,
    input: { label?: string | null; data?: JsonObject; withFiles?: boolean } = {},
    options: WriteOptions = {},
  ): Promise<Checkpoint> {
    const { withFiles, ...rest } = input;
    const body = withFiles ? { ...rest, with_files: true } : rest;
    return this.call<Checkpoint>({ method: "POST", path: `${sessionPath(ref)}/checkpoints`, body, headers: ifMatch(options) });
  }

  /** The session's checkpoints, oldest first. */
  async listCheckpoints(ref: string): Promise<Checkpoint[]> {
    return this.call<Checkpoint[]>({ method: "GET", path: `${sessionPath(ref)}/checkpoints` });
  }

  /** One checkpoint. @throws not_found */
  async getCheckpoint(ref: string, checkpointId: string): Promise<Checkpoint> {
    return this.call<Checkpoint>({ method: "GET", path: checkpointPath(ref, checkpointId) });
  }

  /** Rewinds context and iterations to the checkpoint (history kept), and the workspace when the checkpoint holds one. */
  async restore(ref: string, checkpointId: string, options: WriteOptions = {}): Promise<Session> {
    return this.call<Session>({ method: "POST", path: `${checkpointPath(ref, checkpointId)}/restore`, body: {}, headers: ifMatch(options) });
  }

  /** A new active session from the checkpoint, with its own copy of the checkpoint's workspace if it holds one; its `parent` names the source. */
  async fork(ref: string, checkpointId: string, options: { name?: string } = {}): Promise<Session> {
    return this.call<Session>({ method: "POST", path: `${checkpointPath(ref, checkpointId)}/fork`, body: options });
  }

  /** The session's context, status and iterations right after event `seq` (default: the newest). */
  async stateAt(ref: string, seq?: number): Promise<StateAt> {
    return this.call<StateAt>({ method: "GET", path: `${sessionPath(ref)}/state`, query: { seq } });
  }

  /** Seed 003's session metrics. */
  async metrics(ref: string): Promise<SessionMetrics> {
    return this.call<SessionMetrics>({ method: "GET", path: `${sessionPath(ref)}/metrics` });
  }

  /**
   * Runs a command in a live session; execs queue in order. `replay: false`: rebuilds of a python
   * or typescript interpreter (restore, undo, fork, wake, recovery) never run this cell again. A
   * hibernated session wakes first: the result's `woke` says so.
   * @throws session_not_active unless the session is live
   */
  async exec(ref: string, input: string, options: { timeout_ms?: number; stdin?: boolean; background?: boolean; replay?: boolean } = {}): Promise<ExecuteResult> {
    return this.call<ExecuteResult>({ method: "POST", path: `${sessionPath(ref)}/exec`, body: { input, ...options }, ...execDeadline(this.transport, options.timeout_ms) });
  }

  /** Interrupts the running exec of a live session (Ctrl-C). */
  async interrupt(ref: string): Promise<{ interrupted: boolean; exec_id: string | null }> {
    return this.call({ method: "POST", path: `${sessionPath(ref)}/interrupt` });
  }

  /**
   * POST /sessions/{id}/undo: steps a python or typescript session back one exec — its
   * interpreter rebuilt without its latest cell, and its workspace as before it when the session
   * was started with `undo_files: true`.
   * @throws conflict (409) with nothing to undo, while an exec runs, or for a shell or llm session
   */
  async undo(ref: string): Promise<UndoResult> {
    return this.call<UndoResult>({ method: "POST", path: `${sessionPath(ref)}/undo` });
  }

  /**
   * POST /sessions/{id}/hibernate: stops the session's process now, keeping its state; its next
   * exec wakes it (that exec's result has `woke`). Active or paused; admin or the owning agent.
   * @throws session_not_active (409) without a live process; conflict (409) while an exec runs
   */
  async hibernate(ref: string): Promise<Session> {
    return this.call<Session>({ method: "POST", path: `${sessionPath(ref)}/hibernate` });
  }

  /** Stops a live session: its process group is killed and the session completed. */
  async stop(ref: string): Promise<Session> {
    return this.call<Session>({ method: "POST", path: `${sessionPath(ref)}/stop` });
  }

  /** GET /stats: aggregates over the sessions matching `filter`. */
  async stats(filter: SessionFilter = {}): Promise<SessionStats> {
    return this.call<SessionStats>({ method: "GET", path: "/stats/", query: filterQuery(filter) });
  }

  /** Deletes sessions that ended more than `olderThanDays` ago (admin only). */
  async cleanup(olderThanDays: number): Promise<{ deleted: number }> {
    return this.call<{ deleted: number }>({ method: "POST", path: "/sessions/cleanup", body: { older_than_days: olderThanDays } });
  }

  /** What `cleanup(olderThanDays)` would delete now, deleting nothing (admin only): the first 1000, longest ended first. */
  async cleanupPreview(olderThanDays: number): Promise<{ would_delete: CleanupCandidate[]; more: boolean }> {
    const answer = await this.call<{ would_delete: CleanupCandidate[]; more: boolean }>({
      method: "POST",
      path: "/sessions/cleanup",
      body: { older_than_days: olderThanDays, dry_run: true },
    });
    return { would_delete: answer.would_delete, more: answer.more };
  }

  /**
   * POST /import/sessions (admin only): stores a session with its original id, timestamps, events
   * and checkpoints — given as sessiond records it, or as one session's files the way the seeds
   * write them (`{layout: "activity", files: [{name: "meta.json", content, mtime}, …]}`, as
   * `sessiond import` sends them; docs/import-export.md). Idempotent by id: `imported` is false
   * when a session with that id already exists (it is left as it is).
   */
  async importSession(
    body:
      | {
          session: Record<string, unknown> & { id: string; created_at: string };
          events: readonly SessionEvent[];
          checkpoints?: readonly Omit<Checkpoint, "session_id">[];
        }
      | { layout: "sessions" | "activity"; files: readonly { name: string; content: unknown; mtime?: string }[] },
  ): Promise<{ id: string; name: string; imported: boolean }> {
    return this.call({ method: "POST", path: "/import/sessions", body });
  }

  private action(ref: string, name: string, body: Record<string, unknown>, options: WriteOptions): Promise<Session> {
    return this.call<Session>({ method: "POST", path: `${sessionPath(ref)}/${name}`, body, headers: ifMatch(options) });
  }

  private async call<T>(spec: RequestSpec): Promise<T> {
    return (await this.transport.request<T>(spec)).body;
  }
}

function sessionPath(ref: string): string {
  return `/sessions/${encodeURIComponent(ref)}`;
}

function checkpointPath(ref: string, checkpointId: string): string {
  return `${sessionPath(ref)}/checkpoints/${encodeURIComponent(checkpointId)}`;
}

function ifMatch(options: WriteOptions): Record<string, string> {
  if (options.ifMatch === undefined) return {};
  return { "if-match": typeof options.ifMatch === "number" ? `W/"${options.ifMatch}"` : options.ifMatch };
}

/** A SessionFilter as the list's query parameters (`label=key:value`, repeatable). */
export function filterQuery(filter: SessionFilter): RequestSpec["query"] {
  const { labels, ...rest } = filter;
  return {
    ...rest,
    label: labels ? Object.entries(labels).map(([k, v]) => `${k}:${v}`) : undefined,
  };
}

/** The longest delay a Node timer takes; a longer one fires at once, with a TimeoutOverflowWarning. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * An exec may run `timeout_ms`: wait that long plus the client's usual deadline for its answer
 * (at most a timer's reach: a `timeout_ms` that far out is the server's to refuse, naming it).
 */
export function execDeadline(transport: Pick<RequestSender, "timeoutMs">, timeoutMs: number | undefined): { timeoutMs?: number } {
  return timeoutMs === undefined ? {} : { timeoutMs: Math.min(timeoutMs + transport.timeoutMs, MAX_TIMER_MS) };
}
