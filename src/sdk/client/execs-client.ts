import type { ExecuteResult } from "./sessions-client.js";
import type { RequestSender } from "./transport.js";

/** Options of an exec sent without waiting. */
export interface SubmitOptions {
  /** @default config `execTimeoutMs` */
  timeout_ms?: number;
  /** The command reads its terminal: feed it with `stdin()` (default: it reads /dev/null). */
  stdin?: boolean;
  /** Start it as a background job: it answers at once with its pid and log_path. */
  background?: boolean;
  /** false: rebuilds of the interpreter (restore, undo, fork, wake, recovery) never run this cell again; they report it as skipped. @default true */
  replay?: boolean;
}

/** An exec's state; `result` once it finished. */
export interface ExecState {
  exec_id: string;
  state: "queued" | "running" | "finished";
  result?: ExecuteResult;
}

/** One of a live session's processes besides its shell. */
export interface SessionProcess {
  pid: number;
  pgid: number;
  ppid: number;
  state: string;
  command: string;
  /** The exec that started it with `background: true`. */
  exec_id: string | null;
  log_path: string | null;
}

/** What an exec sent while another runs does. */
export type ExecPolicy = "queue" | "reject" | "interrupt";

/**
 * Interactive and long-running work in a live session (`/sessions/{id}/execs/…`, `/processes`,
 * `/exec-policy`, `/lifetime`): execs sent without waiting, their state, stdin, per-exec
 * interrupt and kill, background processes.
 *
 * @example
 * const { exec_id } = await client.execs.submit(id, "read name; echo hi $name", { stdin: true });
 * await client.execs.stdin(id, exec_id, "ada\n");
 * for await (const c of client.streams.execOutput(id, exec_id)) process.stdout.write(c.bytes);
 * (await client.execs.status(id, exec_id)).result?.stdout; // "hi ada\n"
 */
export class ExecsClient {
  constructor(private readonly transport: RequestSender) {}

  /** POST /sessions/{id}/exec with `wait: false` → `{exec_id, state}` at once (202). */
  async submit(ref: string, input: string, options: SubmitOptions = {}): Promise<{ exec_id: string; state: string }> {
    return (await this.transport.request<{ exec_id: string; state: string }>({ method: "POST", path: `${base(ref)}/exec`, body: { input, ...options, wait: false } })).body;
  }

  /** GET /sessions/{id}/execs/{exec_id}: queued, running, or finished with its result. @throws not_found */
  async status(ref: string, execId: string): Promise<ExecState> {
    return (await this.transport.request<ExecState>({ method: "GET", path: execPath(ref, execId) })).body;
  }

  /** Writes to a running exec's terminal input (it must have been sent with `stdin: true`); `eof` then ends it. @throws exec_not_running */
  async stdin(ref: string, execId: string, data: string, options: { eof?: boolean } = {}): Promise<{ exec_id: string; bytes: number }> {
    return (await this.transport.request<{ exec_id: string; bytes: number }>({ method: "POST", path: `${execPath(ref, execId)}/stdin`, body: { data, ...options } })).body;
  }

  /** Ctrl-C to one running exec; the session and its queued execs stay. */
  async interrupt(ref: string, execId: string): Promise<{ exec_id: string; signalled: boolean }> {
    return (await this.transport.request<{ exec_id: string; signalled: boolean }>({ method: "POST", path: `${execPath(ref, execId)}/interrupt` })).body;
  }

  /** SIGKILL to one running exec's process group. */
  async kill(ref: string, execId: string): Promise<{ exec_id: string; signalled: boolean }> {
    return (await this.transport.request<{ exec_id: string; signalled: boolean }>({ method: "POST", path: `${execPath(ref, execId)}/kill` })).body;
  }

  /** The session's processes besides its shell (background jobs, what runs now). */
  async processes(ref: string): Promise<SessionProcess[]> {
    return (await this.transport.request<SessionProcess[]>({ method: "GET", path: `${base(ref)}/processes` })).body;
  }

  /** Signals one of the session's processes (its group when it leads one). @default signal SIGTERM */
  async killProcess(ref: string, pid: number, signal?: string): Promise<{ pid: number; signal: string }> {
    return (await this.transport.request<{ pid: number; signal: string }>({ method: "POST", path: `${base(ref)}/processes/${pid}/kill`, body: signal ? { signal } : {} })).body;
  }

  /** PUT /sessions/{id}/exec-policy. */
  async setPolicy(ref: string, policy: ExecPolicy): Promise<{ exec_policy: ExecPolicy }> {
    return (await this.transport.request<{ exec_policy: ExecPolicy }>({ method: "PUT", path: `${base(ref)}/exec-policy`, body: { exec_policy: policy } })).body;
  }

  /** Moves the end set by maxLifetimeMs out by `extendMs`. */
  async extendLifetime(ref: string, extendMs: number): Promise<{ lifetime_ends_at: string | null }> {
    return (await this.transport.request<{ lifetime_ends_at: string | null }>({ method: "POST", path: `${base(ref)}/lifetime`, body: { extend_ms: extendMs } })).body;
  }
}

function base(ref: string): string {
  return `/sessions/${encodeURIComponent(ref)}`;
}

function execPath(ref: string, execId: string): string {
  return `${base(ref)}/execs/${encodeURIComponent(execId)}`;
}
