import type { Session } from "../../core/session.js";
import { type ExecuteResult, type ModeStartOptions, execDeadline } from "./sessions-client.js";
import type { Transport } from "./transport.js";

/** What a live session keeps across its execs, as `GET /session/list` shows it (seed 000's `state`). */
export interface LiveSessionState {
  /** Its process: starting, live (taking execs), stopping, or hibernated (none: the next exec wakes it). */
  status: "starting" | "live" | "stopping" | "hibernated";
  /** Where the next exec runs; null for llm sessions. */
  cwd: string | null;
  paused: boolean;
  running_exec_id: string | null;
  queued: number;
}

/** A live session as seed 000's `GET /session/list` shows it: `{id, mode, server, state}`, then more. */
export interface LiveSessionInfo {
  /** The session's id. */
  id: string;
  /** shell, python, typescript or llm (its kind). */
  mode: string;
  /** local or ssh. */
  server: string;
  state: LiveSessionState;
  /** Repeats `id`. */
  session_id: string;
  name: string;
  /** Repeats `mode`. */
  kind: string;
  pid: number | null;
  cwd: string | null;
  started_at: string;
  last_activity_at: string;
  running_exec_id: string | null;
  queued: number;
  exec_policy: "queue" | "reject" | "interrupt";
  paused: boolean;
  lifetime_ends_at: string | null;
  /** Hibernated sessions only: since when. */
  hibernated_at?: string;
}

/** Seed 000's start options: `mode` is the kind (shell, …). */
export interface LiveStartOptions extends ModeStartOptions {
  name?: string;
  /** Where it runs: `local` (default) or `ssh`; `ssm` is refused with target_unavailable (501). */
  server?: string;
  cwd?: string;
  env?: Record<string, string>;
  cols?: number;
  rows?: number;
  [option: string]: unknown;
}

/**
 * Seed 000's `/session/*` routes, exactly as that seed calls them. The canonical equivalents
 * are `client.sessions.exec|interrupt|stop` on `/sessions/{id}`.
 *
 * @example
 * const { id } = await client.live.start("shell");
 * const r = await client.live.exec(id, "echo hi"); // r.stdout === "hi\n"
 */
export class LiveClient {
  constructor(private readonly transport: Transport) {}

  /** POST /session/start → `{id, startedAt}`. @throws validation naming `mode` when it is off or unknown */
  async start(mode: string, options: LiveStartOptions = {}): Promise<{ id: string; startedAt: string }> {
    return (await this.transport.request<{ id: string; startedAt: string }>({ method: "POST", path: "/session/start", body: { ...options, mode } })).body;
  }

  /** GET /session/list: the processes this server holds. */
  async list(): Promise<LiveSessionInfo[]> {
    return (await this.transport.request<LiveSessionInfo[]>({ method: "GET", path: "/session/list" })).body;
  }

  /** POST /session/{id}/exec. A command that exits non-zero is a result, not an error. `replay: false`: rebuilds never run this cell again. */
  async exec(ref: string, input: string, options: { timeout_ms?: number; replay?: boolean } = {}): Promise<ExecuteResult> {
    return (await this.transport.request<ExecuteResult>({ method: "POST", path: `${livePath(ref)}/exec`, body: { input, ...options }, ...execDeadline(this.transport, options.timeout_ms) })).body;
  }

  /** POST /session/{id}/stop: kills the process group; the session is completed. */
  async stop(ref: string): Promise<Session> {
    return (await this.transport.request<Session>({ method: "POST", path: `${livePath(ref)}/stop` })).body;
  }

  /** GET /session/{id}/logs: past execs, oldest first; `since` is a seq or an ISO time. */
  async logs(ref: string, options: { since?: number | string; limit?: number } = {}): Promise<ExecuteResult[]> {
    return (await this.transport.request<ExecuteResult[]>({ method: "GET", path: `${livePath(ref)}/logs`, query: { since: options.since, limit: options.limit } })).body;
  }
}

function livePath(ref: string): string {
  return `/session/${encodeURIComponent(ref)}`;
}
