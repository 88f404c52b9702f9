import { join } from "node:path";
import { SessiondError, errors } from "../core/index.js";
import type { LiveProcess, SessionProcess } from "./driver.js";
import type { ExecResult } from "./exec-result.js";
import type { ArtifactCategory } from "./workspace.js";

/** Signals a caller may send to one of a session's processes. */
const KILL_SIGNALS: readonly NodeJS.Signals[] = ["SIGTERM", "SIGKILL", "SIGINT", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2"];
/** Background job logs go in the workspace's artifact folder of this name. */
const ARTIFACT_LOGS: ArtifactCategory = "logs";

/** A job started with `background: true`. */
interface BackgroundJob {
  readonly pid: number;
  readonly exec_id: string;
  readonly command: string;
  readonly log_path: string;
  readonly started_at: string;
  /** The log's size when last looked at (growth is activity). */
  logBytes: number;
}

/** One of a session's processes, with the background job it leads, if any (GET /sessions/{id}/processes). */
export type JobProcess = SessionProcess & { exec_id: string | null; log_path: string | null };

/** Where the background job of exec `execId` writes its output: `<workspace>/logs/bg-<exec_id>.log`. */
export function backgroundLogPath(workspace: string, execId: string): string {
  return join(workspace, ARTIFACT_LOGS, `bg-${execId}.log`);
}

/**
 * The signal of a kill request, checked before the session is looked up.
 * @throws validation naming `signal` unless it is one a caller may send
 */
export function killSignal(signal: string): NodeJS.Signals {
  if (!KILL_SIGNALS.includes(signal as NodeJS.Signals)) throw errors.validation("signal", `expected one of ${KILL_SIGNALS.join(", ")}`);
  return signal as NodeJS.Signals;
}

/**
 * Signals one of the session's processes (its whole process group when it leads one).
 * @throws not_found (404) when the pid is not one of the session's
 */
export async function signalProcess(proc: LiveProcess | undefined, pid: number, signal: NodeJS.Signals): Promise<{ pid: number; signal: string }> {
  const done = (await proc?.signalProcess?.(pid, signal)) ?? false;
  if (!done) throw new SessiondError("not_found", { what: "process", ref: String(pid) });
  return { pid, signal };
}

/**
 * The background jobs of one live session by pid: what the process list names, and whose output
 * keeps the session from idling out while no exec runs.
 */
export class BackgroundJobs {
  private readonly jobs = new Map<number, BackgroundJob>();
  /** The process's outputsBetweenExecs when last looked at. */
  private seenOutputs: number | undefined;

  /**
   * Records the job an exec started, from the pid the exec printed.
   * @returns the exec's result with the job's `pid` (null when it could not start) and `log_path`
   */
  note(result: ExecResult, command: string, logPath: string): ExecResult {
    const pid = Number(result.stdout.trim());
    if (result.status !== "ok" || !Number.isInteger(pid) || pid <= 0) return { ...result, pid: null, log_path: logPath };
    this.jobs.set(pid, { pid, exec_id: result.exec_id, command, log_path: logPath, started_at: result.started_at, logBytes: 0 });
    return { ...result, pid, log_path: logPath };
  }

  /** Calls `active` for output shown between execs, or written to a job's log, since the last look. */
  async noteActivity(proc: LiveProcess | undefined, active: () => void): Promise<void> {
    // Output on the terminal between execs (a `cmd &` printing), counted by the process: what it
    // showed before the first look (its start-up) is not activity.
    const outputs = proc?.outputsBetweenExecs;
    if (outputs !== undefined && outputs !== this.seenOutputs) {
      if (this.seenOutputs !== undefined) active();
      this.seenOutputs = outputs;
    }
    const jobs = [...this.jobs.values()];
    if (!jobs.length || !proc?.fileSizes) return;
    const sizes = await proc.fileSizes(jobs.map((job) => job.log_path)).catch(() => []);
    jobs.forEach((job, i) => {
      const size = sizes[i] ?? -1;
      if (size >= 0 && size !== job.logBytes) {
        job.logBytes = size;
        active();
      }
    });
  }

  /** The processes `proc` started that are alive now, each with the job it leads; jobs that ended are forgotten. */
  async list(proc: LiveProcess | undefined): Promise<JobProcess[]> {
    const list = (await proc?.processes?.()) ?? [];
    const pids = new Set(list.map((p) => p.pid));
    for (const pid of this.jobs.keys()) if (!pids.has(pid)) this.jobs.delete(pid);
    return list.map((p) => {
      const job = this.jobs.get(p.pgid);
      return { ...p, exec_id: job?.exec_id ?? null, log_path: job?.log_path ?? null };
    });
  }
}

/**
 * The exec line that starts `input` as a background job of the shell: its own process group
 * (job control is on), stdin from /dev/null, stdout and stderr to `logPath` (its folder created),
 * and its pid printed. It outlives the exec and is killed with the session.
 */
export function backgroundCommand(input: string, logPath: string): string {
  const quoted = `'${logPath.replaceAll("'", "'\\''")}'`;
  const dir = `'${logPath.slice(0, logPath.lastIndexOf("/")).replaceAll("'", "'\\''")}'`;
  // No `exit` here: the line runs in the shell itself.
  return `if mkdir -p -- ${dir} && : > ${quoted}; then\n{\n${input}\n} > ${quoted} 2>&1 < /dev/null &\necho "$!"\nelse false; fi`;
}
