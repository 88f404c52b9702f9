import { randomBytes } from "node:crypto";
import { closeSync, constants, openSync, readSync, writeFileSync, writeSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { spawnSync } from "node:child_process";
import type { IPty } from "node-pty";
import { SessiondError } from "../../core/index.js";
import type { ExecOutcome, ExecRequest, LiveProcess, ProcessExit, ProcessState, RuntimeState, StartSpec } from "../driver.js";
import type { DriverLog } from "../log.js";
import { PidsCgroup } from "../cgroup.js";
import { OutputCapture } from "../output.js";
import { readStat, signal, terminateSession } from "../process-tree.js";
import { parseExports } from "./export-parse.js";
import { MarkerScanner, goMarker, parsePayload, stderrMarker, stdoutMarkerPrefix } from "./markers.js";
import { ansiCPieces } from "./quote.js";
import { execLines, shellRc } from "./rc.js";

// node-pty is CommonJS with a native addon; load it on first use only.
const require = createRequire(import.meta.url);
let ptyModule: typeof import("node-pty") | undefined;
function nodePty(): typeof import("node-pty") {
  ptyModule ??= require("node-pty") as typeof import("node-pty");
  return ptyModule;
}

const EMPTY = Buffer.alloc(0);
/** A FIFO's capacity on Linux, and what one read takes from it. */
const PIPE_CHUNK = 65_536;
/** While an exec runs, its stderr is read at least this often (at once again when a read found the pipe full). */
const STDERR_POLL_MS = 10;
/** Between execs, stderr (of background jobs) is read this often, so that they never block on a full pipe. */
const STDERR_IDLE_POLL_MS = 250;
/** Output kept while the shell starts (shown in spawn_failed when it does not come up). */
const STARTUP_OUTPUT_BYTES = 16 * 1024;
/** Output the internal state capture (`export -p`) may produce. */
const STATE_OUTPUT_BYTES = 8 * 1024 * 1024;
/** Variables of the shell's own making, never restored. */
const VOLATILE_ENV = new Set(["PWD", "OLDPWD", "SHLVL", "_", "PROMPT_COMMAND", "BASHOPTS", "SHELLOPTS"]);
/**
 * Commands that may change the exported environment or the state recovery restores: a cheap
 * guess (assignments, export/unset/declare, source and `.`, cd…), so those execs are followed by
 * a state capture at once; others are caught by the periodic sync.
 */
const MAY_CHANGE_STATE = /\b(export|unset|declare|typeset|readonly|local|source|set|shopt|cd|pushd|popd|eval|exec)\b|(^|[\s;&|(])\.\s|[A-Za-z_][A-Za-z0-9_]*(\[[^\]]*\])?\+?=/;

/** One exec in flight, from the line written to both markers read. */
interface Running {
  readonly nonce: string;
  readonly capture: OutputCapture;
  readonly stdoutScanner: MarkerScanner;
  readonly stderrScanner: MarkerScanner;
  readonly prefixLength: number;
  readonly resolve: (outcome: ExecOutcome) => void;
  /** Finds the go marker, which the exec line writes on the stderr pipe just before the command runs. */
  readonly goScanner: MarkerScanner;
  readonly goLength: number;
  /** The go marker was read: the command runs, and an interrupt may be sent. */
  started: boolean;
  phase: "running" | "trailer" | "done";
  trailer: Buffer;
  stdoutDone: boolean;
  stderrDone: boolean;
  exitCode: number | null;
  interrupts: number;
  interruptPending: boolean;
  timers: NodeJS.Timeout[];
  poll: NodeJS.Timeout | undefined;
}

/**
 * One bash on a PTY (see docs/exec-sessions.md). Commands go in as `$'…'`-quoted lines and run
 * with `eval` in the shell itself, so cwd, variables, functions and aliases persist; stdout is the
 * terminal, stderr a FIFO of its own; completion is the nonce marker PROMPT_COMMAND prints on
 * both, with the exit status and any new cwd in it.
 *
 * The terminal is read as it comes (node-pty). The stderr FIFO is read synchronously, without a
 * wakeup of its own: when the end marker arrives on the terminal (bash wrote the stderr marker
 * before it, so it is in the pipe by then), every few milliseconds while an exec runs, and slowly
 * between execs so that background jobs never block on a full pipe.
 */
export class ShellProcess implements LiveProcess {
  readonly target = "local";
  private currentState: ProcessState = "starting";
  private running: Running | undefined;
  private exitInfo: ProcessExit | undefined;
  private readonly exitListeners = new Set<(exit: ProcessExit) => void>();
  private readonly exited: Promise<ProcessExit>;
  private markExited!: (exit: ProcessExit) => void;
  private workingDir: string;
  private readonly starttime: number | undefined;
  private stderrFd: number | undefined;
  private readonly readBuffer = Buffer.allocUnsafe(PIPE_CHUNK);
  private readonly idlePoll: NodeJS.Timeout;

  private constructor(
    private readonly pty: IPty,
    stderrFd: number,
    private readonly spec: StartSpec,
    private readonly log: DriverLog,
    private readonly cgroup: PidsCgroup | undefined,
  ) {
    this.stderrFd = stderrFd;
    this.workingDir = spec.cwd;
    this.starttime = readStat(pty.pid)?.starttime;
    this.exited = new Promise((resolve) => (this.markExited = resolve));
    pty.onData((data) => this.onTerminal(data as unknown as Buffer));
    pty.onExit(({ exitCode, signal: sig }) => this.onProcessExit({ exitCode: sig ? null : exitCode, signal: sig || null }));
    this.idlePoll = setInterval(() => {
      if (!this.running) this.drainStderr();
    }, STDERR_IDLE_POLL_MS);
    this.idlePoll.unref();
  }

  /**
   * Starts bash in `spec.cwd` with exactly `spec.env`, and resolves once the setup has run.
   * @throws spawn_failed with the shell's output when it exits or hangs first
   */
  static async start(spec: StartSpec, shellPath: string, log: DriverLog): Promise<ShellProcess> {
    const fail = (reason: string, cause?: unknown) =>
      new SessiondError("spawn_failed", { kind: "shell", reason }, cause === undefined ? undefined : { cause });
    const pipePath = join(spec.runtimeDir, "stderr");
    const mkfifo = spawnSync("mkfifo", ["-m", "600", pipePath], { encoding: "utf8" });
    if (mkfifo.status !== 0) throw fail(`mkfifo failed: ${mkfifo.error?.message ?? mkfifo.stderr}`);
    // Read-write, so that opening does not wait for a writer and reads never see end-of-file;
    // non-blocking, so that a read of an empty pipe returns at once.
    const fd = openSync(pipePath, constants.O_RDWR | constants.O_NONBLOCK);
    const readyNonce = newNonce();
    const rcPath = join(spec.runtimeDir, "rc");
    writeFileSync(rcPath, shellRc({ stderrPipe: pipePath, readyNonce, maxProcesses: spec.limits.maxProcesses }), { mode: 0o600 });
    let pty: IPty;
    try {
      pty = nodePty().spawn(shellPath, ["--norc", "--noprofile", "--noediting", "-i"], {
        name: spec.env.TERM ?? "xterm-256color",
        cols: spec.cols,
        rows: spec.rows,
        cwd: spec.cwd,
        env: { ...spec.env, PROMPT_COMMAND: `. '${rcPath.replaceAll("'", "'\\''")}'` },
        encoding: null,
      });
    } catch (err) {
      closeSync(fd);
      throw fail(String((err as Error)?.message ?? err), err);
    }
    // At once, so that everything the setup and the commands fork is in the cgroup.
    let cgroup = spec.limits.cgroup ? PidsCgroup.create(spec.sessionId, spec.limits.maxProcesses) : undefined;
    if (cgroup && !cgroup.add(pty.pid)) {
      await cgroup.destroy();
      cgroup = undefined;
    }
    const shell = new ShellProcess(pty, fd, spec, log, cgroup);
    log.debug({ pid: pty.pid, session: spec.sessionId }, "shell starting");
    const ready = shell.begin(readyNonce, true, STARTUP_OUTPUT_BYTES);
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<"timeout">((resolve) => (timer = setTimeout(() => resolve("timeout"), spec.limits.startTimeoutMs)));
    const outcome = await Promise.race([ready, timedOut]);
    clearTimeout(timer);
    if (outcome === "timeout" || outcome.processExited) {
      const output = outcome === "timeout" ? "" : `${outcome.stdout.toString("utf8")}${outcome.stderr.toString("utf8")}`.trim();
      await shell.stop(0);
      const why = outcome === "timeout" ? `not ready after ${spec.limits.startTimeoutMs} ms` : `it exited (${describeExit(shell.exit!)})`;
      throw fail(output ? `${why}: ${output.slice(0, 2000)}` : why);
    }
    shell.transition("ready");
    return shell;
  }

  get pid(): number {
    return this.pty.pid;
  }

  get state(): ProcessState {
    return this.currentState;
  }

  get cwd(): string {
    return this.workingDir;
  }

  get exit(): ProcessExit | undefined {
    return this.exitInfo;
  }

  get details(): Record<string, string | number> {
    return {
      shell: "bash",
      ...(this.starttime === undefined ? {} : { pid_starttime: this.starttime }),
      ...(this.cgroup ? { cgroup: this.cgroup.path } : {}),
    };
  }

  exec(request: ExecRequest): Promise<ExecOutcome> {
    if (this.running || this.currentState !== "ready") {
      return Promise.reject(new SessiondError("conflict", { reason: `the shell is ${this.running ? "busy" : this.currentState}` }));
    }
    const nonce = newNonce();
    const lines = execLines(nonce, ansiCPieces(request.input));
    // What background jobs wrote to stderr since the last exec is dropped when read: it comes
    // before the go marker.
    const outcome = this.begin(nonce, false, request.maxOutputBytes, request.onChunk);
    this.transition("running");
    this.send(`${lines.join("\n")}\n`);
    return outcome;
  }

  interrupt(): boolean {
    const run = this.running;
    if (!run || run.phase === "done" || this.currentState !== "running") return false;
    run.interrupts++;
    // Until the command runs, Ctrl-C would only discard the line bash has not read yet: wait for go.
    if (!run.started) this.drainStderr();
    if (run.started) this.send("\x03");
    else {
      run.interruptPending = true;
      this.pollStderr(run, 1);
    }
    if (run.interrupts === 1) {
      const grace = this.spec.limits.interruptGraceMs;
      run.timers.push(
        setTimeout(() => this.escalate(run), grace),
        setTimeout(() => {
          if (this.running !== run) return;
          this.log.warn({ pid: this.pid }, "the shell did not come back from an interrupt; killing it");
          void terminateSession(this.pid, 0, this.killOptions("SIGKILL"));
        }, 2 * grace),
      );
    }
    return true;
  }

  resize(cols: number, rows: number): void {
    if (this.currentState === "exited" || this.currentState === "stopping") return;
    this.pty.resize(cols, rows);
  }

  async captureState(): Promise<RuntimeState> {
    const outcome = await this.exec({ input: "export -p", maxOutputBytes: STATE_OUTPUT_BYTES });
    if (outcome.processExited || outcome.exitCode !== 0) {
      throw new SessiondError("conflict", { reason: "the shell ended before its state could be read" });
    }
    const env = parseExports(outcome.stdout);
    for (const name of VOLATILE_ENV) delete env[name];
    return { cwd: this.workingDir, env };
  }

  mayChangeState(input: string): boolean {
    return MAY_CHANGE_STATE.test(input);
  }

  async stop(graceMs: number): Promise<void> {
    if (this.currentState !== "exited") {
      this.transition("stopping");
      // Processes that left the terminal session are still in the cgroup: they get SIGTERM too.
      for (const pid of this.cgroup?.pids() ?? []) if (pid !== this.pid) signal(pid, "SIGTERM");
      await terminateSession(this.pid, graceMs, this.killOptions("SIGHUP"));
    }
    // The leader is killed by now; its exit is reported by node-pty's reaper thread.
    await this.exited;
  }

  onExit(listener: (exit: ProcessExit) => void): () => void {
    if (this.exitInfo) {
      const info = this.exitInfo;
      queueMicrotask(() => listener(info));
      return () => {};
    }
    this.exitListeners.add(listener);
    return () => this.exitListeners.delete(listener);
  }

  // ---- internals ---------------------------------------------------------------------------

  /**
   * Writes to the terminal at once when the kernel takes it all (an exec line does), else hands
   * the rest to node-pty's queue. node-pty writes through the thread pool (fs.write), a round
   * trip that costs more than the write itself on this path.
   */
  private send(text: string): void {
    const bytes = Buffer.from(text, "latin1");
    let written = 0;
    const fd = (this.pty as unknown as { fd?: number }).fd;
    if (typeof fd === "number") {
      try {
        written = writeSync(fd, bytes);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "EAGAIN") throw err;
      }
    }
    if (written < bytes.length) this.pty.write(bytes.subarray(written) as unknown as string);
  }

  private killOptions(leaderSignal: NodeJS.Signals) {
    return this.starttime === undefined ? { leaderSignal } : { leaderSignal, since: this.starttime };
  }

  private transition(to: ProcessState): void {
    if (this.currentState === to) return;
    this.log.debug({ pid: this.pty.pid, session: this.spec.sessionId, from: this.currentState, to }, "shell state");
    this.currentState = to;
  }

  /** Registers the exec whose markers carry `nonce` (`started` when no go marker is to come). */
  private begin(nonce: string, started: boolean, budget: number, onChunk?: ExecRequest["onChunk"]): Promise<ExecOutcome> {
    return new Promise<ExecOutcome>((resolve) => {
      const prefix = stdoutMarkerPrefix(nonce);
      const go = goMarker(nonce);
      const run: Running = {
        nonce,
        capture: new OutputCapture(budget, onChunk),
        stdoutScanner: new MarkerScanner(prefix),
        stderrScanner: new MarkerScanner(stderrMarker(nonce)),
        prefixLength: prefix.length,
        resolve,
        goScanner: new MarkerScanner(go),
        goLength: go.length,
        started,
        phase: "running",
        trailer: EMPTY,
        stdoutDone: false,
        stderrDone: false,
        exitCode: null,
        interrupts: 0,
        interruptPending: false,
        timers: [],
        poll: undefined,
      };
      this.running = run;
      this.pollStderr(run, STDERR_POLL_MS);
    });
  }

  /** Reads the stderr pipe again after `delayMs` while `run` lasts. */
  private pollStderr(run: Running, delayMs: number): void {
    if (run.poll) clearTimeout(run.poll);
    run.poll = setTimeout(() => {
      run.poll = undefined;
      if (this.running !== run || run.phase === "done") return;
      const read = this.drainStderr();
      if (this.running === run && (run.phase as Running["phase"]) !== "done") this.pollStderr(run, read >= PIPE_CHUNK || (run.interruptPending && !run.started) ? 1 : STDERR_POLL_MS);
    }, delayMs);
  }

  /**
   * Reads everything the stderr pipe holds now, without blocking, into the running exec (or
   * drops it between execs). @returns the bytes read
   */
  private drainStderr(): number {
    const fd = this.stderrFd;
    if (fd === undefined) return 0;
    let total = 0;
    for (;;) {
      let n: number;
      try {
        n = readSync(fd, this.readBuffer, 0, PIPE_CHUNK, null);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "EAGAIN") this.log.warn({ err, pid: this.pid }, "could not read the shell's stderr pipe");
        break;
      }
      if (n <= 0) break;
      total += n;
      this.onStderr(Buffer.from(this.readBuffer.subarray(0, n)));
      // A pipe read returns all it holds when that is less than asked: no need to ask again.
      if (n < PIPE_CHUNK) break;
    }
    return total;
  }

  private onTerminal(data: Buffer): void {
    const run = this.running;
    if (!run || run.phase === "done") return; // between execs: prompts, job notices, background output
    let rest = data;
    if (run.phase === "running") {
      const found = run.stdoutScanner.feed(rest);
      run.capture.push("stdout", found.before);
      if (!found.match) return;
      run.phase = "trailer";
      rest = found.match.subarray(run.prefixLength);
    }
    if (run.phase === "trailer") {
      run.trailer = run.trailer.length ? Buffer.concat([run.trailer, rest]) : rest;
      const payload = parsePayload(run.trailer);
      if (payload === undefined) return;
      if (payload === null) {
        // Our nonce with a payload we did not write: hand it on as output and keep looking.
        run.capture.push("stdout", Buffer.concat([stdoutMarkerPrefix(run.nonce), run.trailer]));
        run.trailer = EMPTY;
        run.phase = "running";
        return;
      }
      run.exitCode = payload.status;
      if (payload.cwd !== undefined) this.workingDir = payload.cwd;
      run.stdoutDone = true;
      // bash wrote the stderr marker before this one: it is in the pipe now.
      if (!run.stderrDone) this.drainStderr();
      this.settleWhenDone(run);
    }
  }

  private onStderr(data: Buffer): void {
    const run = this.running;
    if (!run || run.stderrDone || run.phase === "done") return;
    let rest = data;
    if (!run.started) {
      const go = run.goScanner.feed(rest);
      if (!go.match) return;
      run.started = true;
      rest = go.match.subarray(run.goLength);
      if (run.interruptPending) this.send("\x03");
    }
    const found = run.stderrScanner.feed(rest);
    run.capture.push("stderr", found.before);
    if (!found.match) return;
    run.stderrDone = true;
    this.settleWhenDone(run);
  }

  private settleWhenDone(run: Running): void {
    if (run.phase === "done") return;
    if (run.stdoutDone && run.stderrDone) return this.settle(run, false);
    if (run.stdoutDone) {
      // The stderr marker comes first in practice; if the command closed our descriptor it never does.
      run.timers.push(setTimeout(() => this.settle(run, false), this.spec.limits.interruptGraceMs));
    }
  }

  private settle(run: Running, processExited: boolean): void {
    if (run.phase === "done") return;
    run.phase = "done";
    for (const timer of run.timers) clearTimeout(timer);
    if (run.poll) clearTimeout(run.poll);
    if (processExited) {
      run.capture.push("stdout", run.stdoutScanner.flush());
      run.capture.push("stderr", run.stderrScanner.flush());
    }
    if (this.running === run) this.running = undefined;
    if (this.currentState === "running") this.transition("ready");
    run.resolve({
      stdout: run.capture.bytes("stdout"),
      stderr: run.capture.bytes("stderr"),
      exitCode: processExited ? (this.exitInfo?.exitCode ?? null) : run.exitCode,
      truncated: run.capture.truncated,
      processExited,
    });
  }

  /** The command did not stop on Ctrl-C: kill its process group, and nudge bash in case the marker was lost. */
  private escalate(run: Running): void {
    if (this.running !== run) return;
    const stat = readStat(this.pid);
    if (stat && stat.tpgid > 0 && stat.tpgid !== this.pid) {
      this.log.warn({ pid: this.pid, group: stat.tpgid }, "the command ignored an interrupt; killing its process group");
      signal(-stat.tpgid, "SIGKILL");
    } else {
      // bash itself is in the foreground: either a builtin loop (Ctrl-C again) or an interrupt
      // landed in PROMPT_COMMAND and ate the marker (an empty line runs it again).
      this.send("\x03\n");
    }
  }

  private onProcessExit(exit: ProcessExit): void {
    if (this.exitInfo) return;
    this.exitInfo = exit;
    const unexpected = this.currentState !== "stopping";
    this.transition("exited");
    this.log.debug({ pid: this.pid, session: this.spec.sessionId, ...exit, unexpected }, "shell exited");
    // Output still in flight on the terminal arrives before the exit in practice; what is held
    // back by a scanner is flushed into the exec.
    this.drainStderr();
    if (this.running) this.settle(this.running, true);
    clearInterval(this.idlePoll);
    if (this.stderrFd !== undefined) closeSync(this.stderrFd);
    this.stderrFd = undefined;
    const cleanup = (async () => {
      if (unexpected) await terminateSession(this.pid, this.spec.limits.stopGraceMs, this.killOptions("SIGKILL"));
      await this.cgroup?.destroy();
    })().catch((err: unknown) => this.log.warn({ err, pid: this.pid }, "could not clean up after the shell"));
    void cleanup.finally(() => {
      this.markExited(exit);
      for (const listener of this.exitListeners) {
        try {
          listener(exit);
        } catch (err) {
          this.log.warn({ err }, "an exit listener failed");
        }
      }
      this.exitListeners.clear();
    });
  }
}

let noncePool = Buffer.alloc(0);
let noncePoolAt = 0;

/** 96 random bits, hex; drawn from a pool refilled 4 KiB at a time (one syscall per 340 execs). */
function newNonce(): string {
  if (noncePoolAt + 12 > noncePool.length) {
    noncePool = randomBytes(4096);
    noncePoolAt = 0;
  }
  noncePoolAt += 12;
  return noncePool.toString("hex", noncePoolAt - 12, noncePoolAt);
}

function describeExit(exit: ProcessExit): string {
  return exit.signal ? `signal ${exit.signal}` : `code ${exit.exitCode}`;
}
