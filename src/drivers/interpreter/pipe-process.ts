import { type ChildProcess, spawn } from "node:child_process";
import { closeSync } from "node:fs";
import { constants as osConstants } from "node:os";
import { join } from "node:path";
import type { Readable, Writable } from "node:stream";
import { SessiondError } from "../../core/index.js";
import type { ExecOutcome, ExecRequest, LiveProcess, OutputStream, ProcessExit, ProcessState, RuntimeState, StartSpec } from "../driver.js";
import { ExitNotice } from "../exit-notice.js";
import { FIFO_IDLE_POLL_MS, FIFO_POLL_MS, SessionFifo, nextReadMs } from "../fifo.js";
import type { DriverLog } from "../log.js";
import { OutputCapture } from "../output.js";
import { readStat, sessionMembers, signal, stillRunning, terminateSession } from "../process-tree.js";
import { type Launch, findProgram, prepareLaunch, programExit } from "../sandbox/index.js";
import { type BrokenReplies, type HelperReply, LineReader, MAX_REPLY_LINE_CHARS } from "./protocol.js";

/**
 * What a language adds around the shared pipe protocol: how an exec's input becomes the helper's
 * request, and what the helper's reply adds to the output.
 */
export interface CellLanguage {
  /** Language name for errors and logs ("python", "typescript"). */
  readonly kind: "python" | "typescript" | "llm";
  /**
   * Turns an exec's input into the fields of the helper's `exec` request, or into an immediate
   * failed result (a syntax error found before the helper sees the cell: a result, not a throw).
   */
  prepare(input: string, cell: number): Promise<{ readonly request: Record<string, unknown> } | { readonly error: string }>;
  /** Text to append to stdout / stderr from the helper's reply (the value, a mapped stack…). */
  finish(reply: HelperReply): { readonly stdout?: string; readonly stderr?: string };
  /** Whether `input` may have changed the working directory or the environment. */
  mayChangeState(input: string): boolean;
}

/** How to start a helper. */
export interface PipeProcessOptions {
  readonly command: string;
  readonly args: readonly string[];
  readonly language: CellLanguage;
  readonly log: DriverLog;
  /** Extra variables for the helper (on top of `spec.env`). */
  readonly env?: Readonly<Record<string, string>>;
  /** Host paths the helper needs to see in a sandbox (its interpreter, its scripts), read-only. */
  readonly readOnlyPaths?: readonly string[];
}

/** One exec in flight. */
interface Running {
  readonly id: number;
  readonly capture: OutputCapture;
  readonly resolve: (outcome: ExecOutcome) => void;
  reply: HelperReply | undefined;
  /** The request is written: the helper runs (or is about to run) the cell. */
  sent: boolean;
  interrupts: number;
  timers: NodeJS.Timeout[];
  /** The next read of the output pipes while the cell runs. */
  poll: NodeJS.Timeout | undefined;
  done: boolean;
}

/** The FIFOs the helper's fds 1 and 2 are, read by the server. */
type OutputFifos = Readonly<Record<OutputStream, SessionFifo>>;

const STARTUP_OUTPUT_BYTES = 16 * 1024;

/**
 * A live session whose process is a helper of ours (the Python or Node REPL helper) speaking
 * newline-delimited JSON on two extra pipes: requests on fd 3, replies on fd 4 — so whatever the
 * user's code prints on stdout and stderr can never be taken for the protocol. A cell is one
 * write (the request) and one read (the reply): the helper's fds 1 and 2 are FIFOs in the
 * session's runtime folder that the server reads synchronously (see ../fifo.ts), and the helper
 * writes its reply only once all the cell printed is in them. So when the reply is read, the
 * cell's output is read to the last byte and the exec settles — nothing cut off, nothing left to
 * leak into the next cell, what a subprocess of the cell wrote before the end included. While a
 * cell runs, the FIFOs are read every few milliseconds (output streams as chunks); between cells,
 * slowly, so that a thread the user left printing never blocks on a full pipe (what it printed is
 * dropped; what is left of it when the next cell comes, the helper drops before running the cell,
 * or, for a helper that cannot, the server right before the request).
 *
 * The helper runs in a terminal session and process group of its own (setsid), so stop and the
 * orphan sweep after a restart end everything it started. Interrupt is SIGINT to the helper (a
 * KeyboardInterrupt in Python, a "Script execution interrupted" in Node), then, after
 * `interruptGraceMs`, SIGKILL to what the cell started, then to the helper itself (the session is
 * then crashed, and recoverable).
 */
export class PipeProcess implements LiveProcess {
  readonly target = "local";
  private currentState: ProcessState = "starting";
  private running: Running | undefined;
  private readonly exitNotice: ExitNotice;
  private workingDir: string;
  private starttime: number | undefined;
  /** The helper's host pid: the spawned process, or inside a sandbox bubblewrap's grandchild. */
  private helperPid: number;
  private nextId = 1;
  private cells = 0;
  private readonly pending = new Map<number, (reply: HelperReply) => void>();
  private readonly requests: Writable;
  private helperInfo: Record<string, string | number> = {};
  /** What the helper prints while it starts (shown in spawn_failed); undefined once it is ready. */
  private startup: OutputCapture | undefined = new OutputCapture(STARTUP_OUTPUT_BYTES);
  private readonly idlePoll: NodeJS.Timeout;
  /** The helper drops what is left in its output pipes from between cells before it runs one (its ready reply says so). */
  private helperDropsStale = false;

  private constructor(
    child: ChildProcess & { pid: number },
    private readonly outputs: OutputFifos,
    private readonly spec: StartSpec,
    private readonly options: PipeProcessOptions,
    private readonly launch: Launch,
  ) {
    this.workingDir = spec.cwd;
    this.helperPid = child.pid;
    this.exitNotice = new ExitNotice(options.log);
    this.requests = child.stdio[3] as Writable;
    // The helper may die while we write: its exit is what counts, not the EPIPE.
    this.requests.on("error", () => {});
    new LineReader(child.stdio[4] as Readable, {
      onReply: (reply) => this.onReply(reply),
      onBroken: (why) => this.onBrokenReplies(why),
    });
    child.on("exit", (code, sig) => this.onProcessExit(programExit(launch, code, sig ? (osConstants.signals[sig] ?? null) : null)));
    this.idlePoll = setInterval(() => {
      if (!this.running) this.drainOutput();
    }, FIFO_IDLE_POLL_MS);
    this.idlePoll.unref();
  }

  /**
   * Starts the helper in `spec.cwd` with exactly `spec.env` (plus `options.env`) and resolves once
   * it said it is ready.
   * @throws spawn_failed with what the helper printed when it exits, hangs or cannot be run
   */
  static async start(spec: StartSpec, options: PipeProcessOptions): Promise<PipeProcess> {
    const kind = options.language.kind;
    const fail = (reason: string, cause?: unknown) => new SessiondError("spawn_failed", { kind, reason }, cause === undefined ? undefined : { cause });
    const outputs = await openOutputs(spec, options.log).catch((err: unknown) => {
      throw fail(String((err as Error)?.message ?? err), err);
    });
    let launch: Launch | undefined;
    let child: ChildProcess;
    try {
      launch = await prepareLaunch(spec, {
        command: options.command,
        args: options.args,
        env: { ...spec.env, ...options.env },
        ...(options.readOnlyPaths ? { readOnlyPaths: options.readOnlyPaths } : {}),
        // In a sandbox, the helper (not bubblewrap) leads the session, so stop and interrupt reach what it started.
        newSession: true,
        // stdin, stdout, stderr, and the request and reply pipes (fds 3 and 4).
        keepDescriptors: 4,
      });
      child = spawnWithOutputs(launch, outputs);
    } catch (err) {
      closeOutputs(outputs);
      await launch?.cgroup?.destroy();
      throw err;
    }
    if (child.pid === undefined) {
      const err = await new Promise<Error>((resolve) => child.once("error", resolve));
      closeOutputs(outputs);
      await launch.cgroup?.destroy();
      throw fail(`${options.command}: ${err.message}`, err);
    }
    child.on("error", (err) => options.log.warn({ err, kind }, "helper process error"));
    const proc = new PipeProcess(child as ChildProcess & { pid: number }, outputs, spec, options, launch);
    const helper = await findProgram(launch, child.pid, spec.limits.startTimeoutMs);
    if (helper !== undefined) proc.helperPid = helper.pid;
    proc.starttime = readStat(proc.helperPid)?.starttime;
    options.log.debug({ pid: child.pid, session: spec.sessionId, kind }, "helper starting");
    let timer: NodeJS.Timeout | undefined;
    const outcome = await Promise.race([
      new Promise<HelperReply>((resolve) => proc.pending.set(0, resolve)),
      proc.exitNotice.settled.then(() => "exited" as const),
      new Promise<"timeout">((resolve) => (timer = setTimeout(() => resolve("timeout"), spec.limits.startTimeoutMs))),
    ]);
    clearTimeout(timer);
    // The helper's exit answers a pending ready with ok: false (see onProcessExit).
    const failed = outcome === "timeout" || outcome === "exited" || outcome.ok !== true ? outcome : undefined;
    if (failed !== undefined) {
      // Its exit reads what it printed into `startup` (see onProcessExit).
      await proc.stop(0);
      const printed = proc.startup!.bytes("stderr").toString("utf8").trim();
      const why = failed === "timeout" ? `not ready after ${spec.limits.startTimeoutMs} ms` : `it exited (${describeExit(proc.exit!)})`;
      throw fail(printed ? `${why}: ${printed.slice(0, 2000)}` : why);
    }
    const { id: _id, ok: _ok, ...info } = outcome as HelperReply;
    for (const [key, value] of Object.entries(info)) if (typeof value === "string" || typeof value === "number") proc.helperInfo[key] = value;
    proc.helperDropsStale = (outcome as HelperReply).dropsStaleOutput === true;
    proc.startup = undefined;
    proc.transition("ready");
    return proc;
  }

  get pid(): number {
    return this.helperPid;
  }

  get state(): ProcessState {
    return this.currentState;
  }

  get cwd(): string {
    return this.workingDir;
  }

  get exit(): ProcessExit | undefined {
    return this.exitNotice.exit;
  }

  /** The helper's own description (interpreter version…), the pid's start time, its cgroup. */
  get details(): Record<string, string | number> {
    return {
      ...this.helperInfo,
      ...(this.starttime === undefined ? {} : { pid_starttime: this.starttime }),
      ...(this.launch.cgroup ? { cgroup: this.launch.cgroup.path } : {}),
    };
  }

  /** Cells run so far (the execution counter; each exec is one cell, errors included). */
  get executionCount(): number {
    return this.cells;
  }

  async exec(request: ExecRequest): Promise<ExecOutcome> {
    if (this.running || this.currentState !== "ready") {
      throw new SessiondError("conflict", { reason: `the ${this.options.language.kind} session is ${this.running ? "busy" : this.currentState}` });
    }
    const id = this.nextId++;
    let resolve!: (outcome: ExecOutcome) => void;
    const outcome = new Promise<ExecOutcome>((r) => (resolve = r));
    const run: Running = {
      id,
      capture: new OutputCapture(request.maxOutputBytes, request.onChunk),
      resolve,
      reply: undefined,
      sent: false,
      interrupts: 0,
      timers: [],
      poll: undefined,
      done: false,
    };
    this.running = run;
    this.transition("running");
    const cell = ++this.cells;
    const prepared = await this.options.language.prepare(request.input, cell).catch((err: unknown) => ({ error: String((err as Error)?.message ?? err) }));
    if (run.done) return outcome;
    if ("error" in prepared || run.interrupts > 0) {
      const error = "error" in prepared ? prepared.error : "Interrupted before the cell ran\n";
      run.capture.push("stderr", Buffer.from(error.endsWith("\n") ? error : `${error}\n`));
      run.reply = { id, ok: false };
      this.settle(run, false);
      return outcome;
    }
    this.pending.set(id, (reply) => this.onExecReply(run, reply));
    // What a thread the user left running printed since the last cell is nobody's: read (and
    // dropped) now, so that only what comes after the request counts as the cell's — unless the
    // helper drops it itself before the cell (then the request costs no read of empty pipes here).
    if (!this.helperDropsStale) this.drainOutput();
    run.sent = true;
    this.requests.write(`${JSON.stringify({ id, op: "exec", cell, ...prepared.request })}\n`);
    this.pollOutput(run, FIFO_POLL_MS);
    return outcome;
  }

  interrupt(): boolean {
    const run = this.running;
    if (!run || run.done || this.currentState !== "running") return false;
    run.interrupts++;
    if (!run.sent) return true; // prepare() is still running: the cell will not be sent
    this.signalHelper("SIGINT");
    if (run.interrupts === 1) {
      const grace = this.spec.limits.interruptGraceMs;
      run.timers.push(
        setTimeout(() => {
          if (this.running !== run) return;
          this.options.log.warn({ pid: this.pid }, "the cell ignored an interrupt; killing what it started");
          this.signalHelper("SIGINT");
          for (const pid of sessionMembers(this.pid, this.starttime)) if (pid !== this.pid) signal(pid, "SIGKILL");
        }, grace),
        setTimeout(() => {
          if (this.running !== run) return;
          this.options.log.warn({ pid: this.pid }, "the helper did not come back from an interrupt; killing it");
          void terminateSession(this.pid, 0, this.killOptions("SIGKILL"));
        }, 2 * grace),
      );
    }
    return true;
  }

  /**
   * Kills what the running cell started (subprocesses) and interrupts the cell itself: the
   * helper holds the session's state, so it is never the thing killed here.
   * @returns false when no cell runs
   */
  async killRunning(): Promise<boolean> {
    const run = this.running;
    if (!run || run.done || this.currentState !== "running") return false;
    for (const pid of sessionMembers(this.pid, this.starttime)) if (pid !== this.pid) signal(pid, "SIGKILL");
    this.interrupt();
    return true;
  }

  /** Stops (SIGSTOP) or continues (SIGCONT) the helper and everything it started (pause/resume). */
  async suspend(on: boolean): Promise<void> {
    if (this.currentState === "exited" || this.currentState === "stopping") return;
    for (const pid of sessionMembers(this.pid, this.starttime)) signal(pid, on ? "SIGSTOP" : "SIGCONT");
  }

  /** Signals the helper itself, unless its pid is another process's now (it ended, and the pid was reused). */
  private signalHelper(sig: NodeJS.Signals): void {
    if (stillRunning(this.pid, this.starttime)) signal(this.pid, sig);
  }

  /** No terminal: a size is meaningless for a pipe helper. */
  resize(): void {}

  async captureState(): Promise<RuntimeState> {
    if (this.running || this.currentState !== "ready") {
      throw new SessiondError("conflict", { reason: `the ${this.options.language.kind} session is ${this.running ? "busy" : this.currentState}` });
    }
    const reply = await this.request({ op: "state" });
    const env: Record<string, string> = {};
    if (reply.env && typeof reply.env === "object") {
      for (const [name, value] of Object.entries(reply.env as Record<string, unknown>)) if (typeof value === "string") env[name] = value;
    }
    if (typeof reply.cwd === "string") this.workingDir = reply.cwd;
    return { cwd: this.workingDir, env };
  }

  mayChangeState(input: string): boolean {
    return this.options.language.mayChangeState(input);
  }

  async stop(graceMs: number): Promise<void> {
    if (this.currentState !== "exited") {
      this.transition("stopping");
      // End of its requests: a helper between cells exits at once; one busy in a cell gets SIGTERM.
      this.requests.end();
      await terminateSession(this.pid, graceMs, this.killOptions("SIGTERM"));
    }
    await this.exitNotice.settled;
  }

  onExit(listener: (exit: ProcessExit) => void): () => void {
    return this.exitNotice.onExit(listener);
  }

  // ---- internals ---------------------------------------------------------------------------

  /** A request outside execs (state capture); the helper answers between cells only. */
  private request(message: Record<string, unknown>): Promise<HelperReply> {
    const id = this.nextId++;
    return new Promise<HelperReply>((resolve, reject) => {
      const onExit = this.onExit(() => reject(new SessiondError("conflict", { reason: `the ${this.options.language.kind} helper exited` })));
      this.pending.set(id, (reply) => {
        onExit();
        resolve(reply);
      });
      this.requests.write(`${JSON.stringify({ id, ...message })}\n`);
    });
  }

  /** @returns false when no request waits for the reply's id */
  private onReply(reply: HelperReply): boolean {
    const handler = this.pending.get(reply.id);
    if (!handler) return false;
    this.pending.delete(reply.id);
    handler(reply);
    return true;
  }

  /**
   * The reply pipe carried what this helper never writes: code in the session wrote on its fd 4.
   * The protocol can no longer be trusted, so this session's helper ends (the exec reports it,
   * and the session can be recovered); the server and its other sessions go on.
   */
  private onBrokenReplies(why: BrokenReplies): void {
    this.options.log.warn({ pid: this.pid, session: this.spec.sessionId, why, maxChars: MAX_REPLY_LINE_CHARS }, "the helper's reply pipe carried what no helper writes; ending the helper");
    void terminateSession(this.pid, 0, this.killOptions("SIGKILL"));
  }

  private onExecReply(run: Running, reply: HelperReply): void {
    run.reply = reply;
    if (typeof reply.cwd === "string") this.workingDir = reply.cwd;
    // The helper wrote this reply after all the cell printed had been written to fds 1 and 2
    // (and what the cell's subprocesses wrote before it ended): it is all in the pipes now. A
    // pipe the helper saw empty after that has been read to the end already (reading an empty
    // pipe is the costly part of an exec that prints nothing).
    const unread = Array.isArray(reply.unread) ? (reply.unread as unknown[]) : [];
    if (unread[0] !== 0) this.drainOutput("stdout");
    if (unread[1] !== 0) this.drainOutput("stderr");
    this.settle(run, false);
  }

  /**
   * Reads the output pipes (both, or `only` one) now.
   * @returns the most read from one (PIPE_CHUNK or more: the writer may be waiting on a full pipe)
   */
  private drainOutput(only?: OutputStream): number {
    const stdout = only === "stderr" ? 0 : this.outputs.stdout.drain((data) => this.onOutput("stdout", data));
    const stderr = only === "stdout" ? 0 : this.outputs.stderr.drain((data) => this.onOutput("stderr", data));
    return Math.max(stdout, stderr);
  }

  /** Reads the output pipes again after `delayMs` while `run` lasts. */
  private pollOutput(run: Running, delayMs: number): void {
    run.poll = setTimeout(() => {
      run.poll = undefined;
      if (run.done) return;
      const read = this.drainOutput();
      if (!run.done) this.pollOutput(run, nextReadMs(read, run.capture.truncated));
    }, delayMs);
  }

  private onOutput(stream: OutputStream, data: Buffer): void {
    if (this.startup) return this.startup.push("stderr", data);
    const run = this.running;
    // Between execs (a thread the user left running): nobody's output, dropped.
    if (!run || run.done || !run.sent) return;
    run.capture.push(stream, data);
  }

  private settle(run: Running, processExited: boolean): void {
    if (run.done) return;
    run.done = true;
    for (const timer of run.timers) clearTimeout(timer);
    if (run.poll) clearTimeout(run.poll);
    this.pending.delete(run.id);
    if (!processExited && run.reply) {
      const extra = this.options.language.finish(run.reply);
      if (extra.stdout) run.capture.push("stdout", Buffer.from(extra.stdout));
      if (extra.stderr) run.capture.push("stderr", Buffer.from(extra.stderr));
    }
    if (this.running === run) this.running = undefined;
    if (this.currentState === "running") this.transition("ready");
    run.resolve({
      stdout: run.capture.bytes("stdout"),
      stderr: run.capture.bytes("stderr"),
      exitCode: processExited ? null : run.reply?.ok === true ? 0 : 1,
      truncated: run.capture.truncated,
      processExited,
    });
  }

  private killOptions(leaderSignal: NodeJS.Signals) {
    return this.starttime === undefined ? { leaderSignal } : { leaderSignal, since: this.starttime };
  }

  private transition(to: ProcessState): void {
    if (this.currentState === to) return;
    this.options.log.debug({ pid: this.pid, session: this.spec.sessionId, from: this.currentState, to }, `${this.options.language.kind} helper state`);
    this.currentState = to;
  }

  private onProcessExit(exit: ProcessExit): void {
    if (!this.exitNotice.record(exit)) return;
    const unexpected = this.currentState !== "stopping";
    this.transition("exited");
    this.options.log.debug({ pid: this.pid, session: this.spec.sessionId, ...exit, unexpected }, "helper exited");
    clearInterval(this.idlePoll);
    // What the helper wrote before it died is in the pipes: the running exec's (or the startup's).
    this.drainOutput();
    if (this.running) this.settle(this.running, true);
    for (const [id, handler] of this.pending) if (id === 0) handler({ id: 0, ok: false });
    this.pending.clear();
    const cleanup = (async () => {
      // What the helper started (a cell's subprocesses) does not outlive it.
      if (unexpected) await terminateSession(this.pid, this.spec.limits.stopGraceMs, this.killOptions("SIGKILL"));
      // Nor what left its terminal session (setsid): the cgroup holds those too.
      await this.launch.cgroup?.destroy();
    })().catch((err: unknown) => this.options.log.warn({ err, pid: this.pid }, "could not clean up after the helper"));
    void cleanup.finally(() => {
      // Only now: until its subprocesses are gone, a write to a pipe without a reader would kill them with SIGPIPE.
      closeOutputs(this.outputs);
      this.exitNotice.announce();
    });
  }
}

function describeExit(exit: ProcessExit): string {
  return exit.signal ? `signal ${exit.signal}` : `code ${exit.exitCode}`;
}

/** Makes the FIFOs the helper's stdout and stderr will be, in the session's runtime folder. */
async function openOutputs(spec: StartSpec, log: DriverLog): Promise<OutputFifos> {
  const stdout = await SessionFifo.create(join(spec.runtimeDir, "stdout"), spec.sandbox, log);
  try {
    return { stdout, stderr: await SessionFifo.create(join(spec.runtimeDir, "stderr"), spec.sandbox, log) };
  } catch (err) {
    stdout.close();
    throw err;
  }
}

function closeOutputs(outputs: OutputFifos): void {
  outputs.stdout.close();
  outputs.stderr.close();
}

/**
 * Spawns the launch with the FIFOs' write ends as its fds 1 and 2, given by the server (not
 * opened by the helper): so all that runs before the helper's own code — the launcher, bubblewrap,
 * the interpreter failing to start — prints into them too, for spawn_failed to show, and a
 * sandboxed helper needs no path to them.
 */
function spawnWithOutputs(launch: Launch, outputs: OutputFifos): ChildProcess {
  const stdout = outputs.stdout.openWriter();
  try {
    const stderr = outputs.stderr.openWriter();
    try {
      return spawn(launch.file, [...launch.args], {
        cwd: launch.cwd,
        env: { ...launch.env },
        // A session (and process group) of its own: stop and interrupt reach exactly what it started.
        detached: true,
        // stdin, stdout, stderr, and the request and reply pipes (fds 3 and 4).
        stdio: ["ignore", stdout, stderr, "pipe", "pipe"],
      });
    } finally {
      // The child has its own copies; the server keeps only its reading ends.
      closeSync(stderr);
    }
  } finally {
    closeSync(stdout);
  }
}
