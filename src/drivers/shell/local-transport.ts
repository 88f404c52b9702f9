import { readFileSync, writeFileSync, writeSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { stat } from "node:fs/promises";
import type { IPty } from "node-pty";
import { SessiondError } from "../../core/index.js";
import type { ProcessExit, StartSpec } from "../driver.js";
import { FIFO_POLL_MS, SessionFifo } from "../fifo.js";
import type { DriverLog } from "../log.js";
import { listProcesses, readStat, sessionMembers, signal, stillRunning, terminateSession } from "../process-tree.js";
import { type Launch, findProgram, hostPidOf, innermostPid, prepareLaunch, programExit } from "../sandbox/index.js";
import type { RcBuilder, SessionProcess, ShellTransport } from "./transport.js";

// node-pty is CommonJS with a native addon; load it on first use only.
const require = createRequire(import.meta.url);
let ptyModule: typeof import("node-pty") | undefined;
function nodePty(): typeof import("node-pty") {
  ptyModule ??= require("node-pty") as typeof import("node-pty");
  return ptyModule;
}

/** Command lines listed by processes() are cut here. */
const COMMAND_CHARS = 512;


/**
 * The shell's state file (see rc.ts) inside a sandbox: on the session's own /tmp, a tmpfs charged
 * to its memory, so that nothing a session writes there reaches the host's disk (the runtime
 * folder is read-only to it). Outside a sandbox it is in the runtime folder.
 */
const SANDBOX_STATE_FILE = "/tmp/.sessiond-state";

/**
 * The `local` target: bash on a node-pty PTY, stderr on a FIFO in the session's runtime dir read
 * synchronously (without a wakeup of its own), processes found and signalled through /proc, in
 * the session's cgroup and sandbox where it has them (see ../sandbox). Inside a sandbox the PTY's
 * own process is bubblewrap; `pid` is the shell's host pid, and the pids the API shows are the
 * session's own (its PID namespace's), as `$!` and `ps` print them inside.
 */
export class LocalTransport implements ShellTransport {
  readonly target = "local";
  readonly stderrNeedsPolling = true;
  private readonly stderr: SessionFifo;
  private starttime: number | undefined;
  private shellPid: number;
  /** bubblewrap and its init: in the cgroup, but not the session's processes. */
  private wrappers: readonly number[] = [];
  private stderrListener: (data: Buffer) => void = () => {};
  /** Terminal output and the exit, held until ShellProcess listens: the sandbox's start is awaited in between. */
  private early: Buffer[] | undefined = [];
  private dataListener: ((data: Buffer) => void) | undefined;
  private exitListener: ((exit: ProcessExit) => void) | undefined;
  private exited: ProcessExit | undefined;
  /** What the terminal did not take yet (its program is not reading), in order; written again every FIFO_POLL_MS. */
  private readonly backlog: Buffer[] = [];
  private backlogBytes = 0;
  private backlogRetry: NodeJS.Timeout | undefined;

  private constructor(
    private readonly pty: IPty,
    stderr: SessionFifo,
    private readonly launch: Launch,
    private readonly log: DriverLog,
  ) {
    this.stderr = stderr;
    this.shellPid = pty.pid;
    pty.onData((data) => {
      const bytes = data as unknown as Buffer;
      if (this.dataListener) this.dataListener(bytes);
      else this.early?.push(bytes);
    });
    pty.onExit(({ exitCode, signal: sig }) => {
      const exit = programExit(launch, exitCode, sig || null);
      this.exited = exit;
      this.exitListener?.(exit);
    });
  }

  /**
   * Creates the stderr FIFO and the rc in `spec.runtimeDir`, starts bash on a PTY in `spec.cwd`
   * with exactly `spec.env` (plus the PROMPT_COMMAND that sources the rc), in the session's cgroup
   * and sandbox.
   * @throws spawn_failed
   */
  static async start(spec: StartSpec, shellPath: string, rc: RcBuilder, log: DriverLog): Promise<LocalTransport> {
    const pipePath = join(spec.runtimeDir, "stderr");
    const stderr = await SessionFifo.create(pipePath, spec.sandbox, log).catch((err: unknown) => {
      throw spawnFailed(String((err as Error)?.message ?? err), err);
    });
    const rcPath = join(spec.runtimeDir, "rc");
    const statePath = spec.sandbox ? SANDBOX_STATE_FILE : join(spec.runtimeDir, "state");
    // Readable by a sandboxed shell's uid; it holds nothing but the setup.
    writeFileSync(rcPath, rc({ path: pipePath, drained: true }, statePath), { mode: 0o644 });
    const launch = await prepareLaunch(spec, {
      command: shellPath,
      args: ["--norc", "--noprofile", "--noediting", "-i"],
      env: { ...spec.env, PROMPT_COMMAND: `. '${rcPath.replaceAll("'", "'\\''")}'` },
    });
    let pty: IPty;
    try {
      pty = nodePty().spawn(launch.file, [...launch.args], {
        name: spec.env.TERM ?? "xterm-256color",
        cols: spec.cols,
        rows: spec.rows,
        cwd: launch.cwd,
        env: { ...launch.env },
        encoding: null,
      });
    } catch (err) {
      stderr.close();
      await launch.cgroup?.destroy();
      throw spawnFailed(String((err as Error)?.message ?? err), err);
    }
    const transport = new LocalTransport(pty, stderr, launch, log);
    const shell = await findProgram(launch, pty.pid, spec.limits.startTimeoutMs);
    if (shell === undefined) {
      const printed = Buffer.concat(transport.early ?? []).toString("utf8").trim();
      await transport.release(true, 0);
      throw spawnFailed(`the sandbox did not start${printed ? `: ${printed.slice(0, 2000)}` : ""}`);
    }
    transport.shellPid = shell.pid;
    transport.wrappers = shell.wrappers;
    transport.starttime = readStat(shell.pid)?.starttime;
    return transport;
  }

  get pid(): number {
    return this.shellPid;
  }

  get details(): Record<string, string | number> {
    return {
      ...(this.starttime === undefined ? {} : { pid_starttime: this.starttime }),
      ...(this.launch.cgroup ? { cgroup: this.launch.cgroup.path } : {}),
    };
  }

  /**
   * Writes at once when the kernel takes it all (an exec line does); what it does not take waits
   * in a backlog of ours, written again every FIFO_POLL_MS, in order. (node-pty's own queue writes
   * through the thread pool, a round trip that costs more than the write itself on the exec path,
   * and it is unbounded and unmeasured: keystrokes to a program that never reads grew the server
   * without end.)
   */
  send(bytes: Buffer): void {
    if (this.backlogBytes === 0) bytes = bytes.subarray(this.writeNow(bytes));
    if (bytes.length === 0) return;
    this.backlog.push(bytes);
    this.backlogBytes += bytes.length;
    if (!this.backlogRetry) {
      this.backlogRetry = setInterval(() => this.writeBacklog(), FIFO_POLL_MS);
      // Keystrokes a program never reads do not keep an embedding process alive.
      this.backlogRetry.unref();
    }
  }

  get inputBacklog(): number {
    return this.backlogBytes;
  }

  discardInput(): void {
    this.stopBacklog();
  }

  onData(listener: (data: Buffer) => void): void {
    // Handed over after the caller's synchronous setup (ShellProcess registers the ready exec
    // right after subscribing): output that came early is the ready marker, which must find it.
    queueMicrotask(() => {
      const early = this.early ?? [];
      this.early = undefined;
      for (const chunk of early) listener(chunk);
      this.dataListener = listener;
    });
  }

  onStderr(listener: (data: Buffer) => void): void {
    this.stderrListener = listener;
  }

  onExit(listener: (exit: ProcessExit) => void): void {
    this.exitListener = listener;
    if (this.exited) listener(this.exited);
  }

  drainStderr(): number {
    return this.stderr.drain(this.stderrListener);
  }

  resize(cols: number, rows: number): void {
    this.pty.resize(cols, rows);
  }

  pause(): void {
    this.pty.pause();
  }

  resume(): void {
    this.pty.resume();
  }

  shellInForeground(): boolean | undefined {
    const stat = readStat(this.pid);
    return stat ? stat.tpgid === this.pid : undefined;
  }

  async killForeground(): Promise<boolean> {
    const stat = readStat(this.pid);
    // A pid reused by another process: its terminal's foreground group is not ours to kill.
    if (!stat || (this.starttime !== undefined && stat.starttime !== this.starttime)) return false;
    if (stat.tpgid <= 0 || stat.tpgid === this.pid) return false;
    // The terminal may still name a job's group once the job is gone (bash, stopped or busy, has
    // not taken the terminal back), and by then that number may be a stranger's group: a host
    // with pid_max 32768 reuses pids within a minute. Only a group in this terminal's session is ours.
    if (!listProcesses().some((p) => p.pgrp === stat.tpgid && p.session === stat.session)) return false;
    // bash, waiting on its foreground job, takes this as a Ctrl-C: once the job is gone it drops
    // the rest of the command line instead of running the next command of a list.
    signal(this.pid, "SIGINT");
    signal(-stat.tpgid, "SIGKILL");
    return true;
  }

  async signalAll(sig: "SIGSTOP" | "SIGCONT"): Promise<void> {
    const others = this.members().filter((pid) => pid !== this.pid);
    // The shell is stopped before its jobs and continued after them, so that it never sees a job
    // stop (it would take the terminal back and end the exec as if the job were suspended).
    // Its pid is another process's once it has ended (reused): members() is empty then.
    const shell = stillRunning(this.pid, this.starttime);
    if (sig === "SIGSTOP" && shell) signal(this.pid, sig);
    for (const pid of others) signal(pid, sig);
    if (sig === "SIGCONT" && shell) signal(this.pid, sig);
  }

  async processes(): Promise<SessionProcess[]> {
    const list: SessionProcess[] = [];
    for (const pid of this.members()) {
      if (pid === this.pid) continue;
      const stat = readStat(pid);
      if (!stat) continue;
      list.push({ pid: this.view(pid), pgid: this.view(stat.pgrp), ppid: this.view(stat.ppid), state: stat.state, command: commandLine(pid) });
    }
    return list.sort((a, b) => a.pid - b.pid);
  }

  async signalProcess(sessionPid: number, sig: NodeJS.Signals): Promise<boolean> {
    const members = this.members();
    const pid = this.launch.sandboxed ? hostPidOf(sessionPid, members) : sessionPid;
    if (pid === undefined || pid === this.pid || !members.includes(pid)) return false;
    const stat = readStat(pid);
    if (!stat) return false;
    if (stat.pgrp === pid) signal(-pid, sig);
    else signal(pid, sig);
    return true;
  }

  fileSizes(paths: readonly string[]): Promise<number[]> {
    return Promise.all(paths.map((path) => stat(path).then((s) => s.size, () => -1)));
  }

  async terminate(graceMs: number, leaderSignal: NodeJS.Signals): Promise<void> {
    // Processes that left the terminal session are still in the cgroup: they get SIGTERM too.
    for (const pid of this.launch.cgroup?.pids() ?? []) if (pid !== this.pid && !this.wrappers.includes(pid)) signal(pid, "SIGTERM");
    await terminateSession(this.pid, graceMs, this.killOptions(leaderSignal));
  }

  async release(unexpected: boolean, graceMs: number): Promise<void> {
    this.stopBacklog();
    this.stderr.close();
    if (unexpected) await terminateSession(this.pid, graceMs, this.killOptions("SIGKILL"));
    await this.launch.cgroup?.destroy();
  }

  /** Writes what the terminal takes now. @returns the bytes written */
  private writeNow(bytes: Buffer): number {
    const fd = (this.pty as unknown as { fd?: number }).fd;
    if (typeof fd !== "number" || this.exited) return bytes.length;
    try {
      return writeSync(fd, bytes);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      // EAGAIN: full for now; EIO and the like: the shell is gone, which its exit reports.
      if (code === "EAGAIN") return 0;
      return bytes.length;
    }
  }

  private writeBacklog(): void {
    while (this.backlog.length > 0) {
      const head = this.backlog[0]!;
      const written = this.writeNow(head);
      this.backlogBytes -= written;
      if (written < head.length) {
        this.backlog[0] = head.subarray(written);
        return;
      }
      this.backlog.shift();
    }
    this.stopBacklog();
  }

  private stopBacklog(): void {
    if (this.backlogRetry) clearInterval(this.backlogRetry);
    this.backlogRetry = undefined;
    this.backlog.length = 0;
    this.backlogBytes = 0;
  }

  private members(): number[] {
    const pids = new Set(sessionMembers(this.pid, this.starttime));
    for (const pid of this.launch.cgroup?.pids() ?? []) pids.add(pid);
    for (const pid of this.wrappers) pids.delete(pid);
    return [...pids];
  }

  /** A host pid as the session sees it. */
  private view(pid: number): number {
    return this.launch.sandboxed ? innermostPid(pid) : pid;
  }

  private killOptions(leaderSignal: NodeJS.Signals) {
    return this.starttime === undefined ? { leaderSignal } : { leaderSignal, since: this.starttime };
  }
}

function commandLine(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").replaceAll("\0", " ").trim().slice(0, COMMAND_CHARS);
  } catch {
    return "";
  }
}

/** spawn_failed for the shell. */
export function spawnFailed(reason: string, cause?: unknown): SessiondError {
  return new SessiondError("spawn_failed", { kind: "shell", reason }, cause === undefined ? undefined : { cause });
}
