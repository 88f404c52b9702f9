import { randomBytes } from "node:crypto";
import { SessiondError } from "../../core/index.js";
import type { ExecOutcome, ExecRequest, LiveProcess, ProcessExit, ProcessState, RuntimeState, StartSpec, TerminalTap } from "../driver.js";
import { ExitNotice } from "../exit-notice.js";
import { FIFO_HURRY_MS, FIFO_IDLE_POLL_MS as STDERR_IDLE_POLL_MS, FIFO_POLL_MS as STDERR_POLL_MS, nextReadMs } from "../fifo.js";
import type { DriverLog } from "../log.js";
import { loopTurn } from "../loop-turn.js";
import { ReadBudget } from "../read-budget.js";
import { OutputCapture } from "../output.js";
import { EnvRecords } from "./env-records.js";
import { parseExports } from "./export-parse.js";
import { spawnFailed } from "./local-transport.js";
import { type MarkerPayload, MarkerScanner, fenceRequestPrefix, goMarker, parseFenceToken, parsePayload, stderrMarker, stdoutMarkerPrefix } from "./markers.js";
import { ansiCPieces } from "./quote.js";
import { execLines, fenceLine, recoveryLine, shellRc } from "./rc.js";
import { MAX_TYPED_BACKLOG_BYTES, ShellTerminalTap } from "./terminal-tap.js";
import type { RcBuilder, SessionProcess, ShellTransport } from "./transport.js";

const EMPTY = Buffer.alloc(0);
/** What ends the line a person types: Enter (CR or LF), Ctrl-C, Ctrl-D. */
const LINE_ENDERS = new Set([0x0d, 0x0a, 0x03, 0x04]);
const CTRL_C = 0x03;
/** Ctrl-U: discards a line a person half typed through the tap, so that it does not run into an exec line. */
const KILL_LINE = "\x15";
/** Output kept while the shell starts (shown in spawn_failed when it does not come up). */
const STARTUP_OUTPUT_BYTES = 16 * 1024;
/** Output the state capture's payload (`export -p`) may hold. */
const STATE_OUTPUT_BYTES = 8 * 1024 * 1024;
/** Tries at a state capture whose records background output cut into, before it fails. */
const STATE_ATTEMPTS = 3;
/** Variables of the shell's own making, never restored. */
const VOLATILE_ENV = new Set(["PWD", "OLDPWD", "SHLVL", "_", "PROMPT_COMMAND", "BASHOPTS", "SHELLOPTS"]);
/**
 * Commands that may change the exported environment or the state recovery restores: a cheap
 * guess (assignments, export/unset/declare, source and `.`, cd…), so those execs are followed by
 * a state capture at once; others are caught by the periodic sync. A name is only tried from
 * its first character (the lookbehind), and a subscript up to 64 characters: tried from every
 * character, or to the end of the input, a long word made this quadratic (a 250 KB exec held the
 * server 39 s).
 */
const MAY_CHANGE_STATE = /\b(export|unset|declare|typeset|readonly|local|source|set|shopt|cd|pushd|popd|eval|exec)\b|(^|[\s;&|(])\.\s|(?<![A-Za-z0-9_])[A-Za-z_][A-Za-z0-9_]*(\[[^\]]{0,64}\])?\+?=/;

/** Whether a shell command may change the state recovery restores (see MAY_CHANGE_STATE). */
export function mayChangeShellState(input: string): boolean {
  return MAY_CHANGE_STATE.test(input);
}

/** One exec in flight, from the line written to both markers read. */
interface Running {
  readonly nonce: string;
  readonly capture: OutputCapture;
  readonly stdoutScanner: MarkerScanner;
  /** Finds the end marker in a stderr pipe that is not drained when the terminal's arrives (ssh); none for a local one. */
  readonly stderrScanner: MarkerScanner | undefined;
  readonly prefixLength: number;
  readonly resolve: (outcome: ExecOutcome) => void;
  /** Finds the go marker, which the exec line writes on the stderr pipe just before the command runs. */
  readonly goScanner: MarkerScanner;
  readonly goLength: number;
  /** The setup's run: what the shell prints while it starts is kept for spawn_failed, not shown on the tap. */
  readonly startup: boolean;
  /**
   * Set for sessiond's own bookkeeping (a state capture): only its records are the exec's; the
   * rest of the terminal, and all of the stderr pipe, is background output.
   */
  readonly records: EnvRecords | undefined;
  /** The command reads the terminal (stdin can be sent to it), rather than /dev/null. */
  readonly stdin: boolean;
  /** The stdin sent so far ends inside a line (its last byte is no Enter, Ctrl-C or Ctrl-D): an end of input needs two Ctrl-Ds. */
  stdinMidLine: boolean;
  /** Stdin sent before the go marker, sent on once it comes (see {@link ShellProcess.writeStdin}). */
  readonly heldStdin: Buffer[];
  /** Looks for the request for its fence on the stderr pipe (an exec with stdin only). */
  readonly fenceScanner: MarkerScanner | undefined;
  /** What came after the fence request's prefix, until its token is whole. */
  fenceTrailer: Buffer | undefined;
  /** Its fence was sent (see {@link ShellProcess.fence}): only once, whatever the pipe says. */
  fenced: boolean;
  /**
   * bash writes a go marker on the stderr pipe as the command starts (see execLines). An exec
   * that is not announced counts as started from its line's write, and what the pipe takes from
   * then on is its stderr.
   */
  readonly announced: boolean;
  /** The go marker was read (or none comes): the command runs, and an interrupt may be sent. */
  started: boolean;
  /** Unannounced, a recovery line is due after a Ctrl-C that may have flushed its line (see sendCtrlCTo). */
  recoveryArmed: boolean;
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

/** Opens the transport a shell runs over, with the rc its stderr pipe's path gives. */
export type OpenTransport = (rc: RcBuilder) => Promise<ShellTransport>;

/**
 * One bash on a terminal (see docs/exec-sessions.md), over a {@link ShellTransport}: node-pty
 * locally, an ssh channel remotely. Commands go in as `$'…'`-quoted lines and run with `eval` in
 * the shell itself, so cwd, variables, functions and aliases persist; stdout is the terminal,
 * stderr a FIFO of its own; completion is the nonce marker PROMPT_COMMAND prints on the
 * terminal, with the exit status and any new cwd in it: one write per command.
 *
 * The terminal is read as it comes. A local stderr FIFO is read synchronously, without a wakeup
 * of its own: when the end marker arrives on the terminal (the command's writes to the pipe were
 * over before bash printed it, so they are all in the pipe by then), every few milliseconds
 * while an exec runs, and slowly between execs so that background jobs never block on a full
 * pipe. A remote one is pushed on a channel of its own, which can lag behind the terminal: there
 * PROMPT_COMMAND marks the end in the pipe too, and the exec ends when both markers are read.
 */
export class ShellProcess implements LiveProcess {
  private currentState: ProcessState = "starting";
  private running: Running | undefined;
  private readonly exitNotice: ExitNotice;
  private workingDir: string;
  private readonly idlePoll: NodeJS.Timeout | undefined;
  private readonly tap: ShellTerminalTap;
  private size: { cols: number; rows: number };
  private outputs = 0;
  private stopped = false;
  /** A person typed through the tap since the last exec line. */
  private typed = false;
  /** What a person typed last did not end their line (Enter, Ctrl-C or Ctrl-D). */
  private midLine = false;
  /** sessiond sent Ctrl-C since the last line it wrote (see sendCtrlC). */
  private ctrlCSent = false;
  /**
   * The status the next exec's `$?` starts from, as bash keeps it (`__sd_st`, see shellRc): the
   * last exec's, reported in its end marker; sessiond's own commands leave it.
   */
  private lastStatus = 0;
  /** The loop turn (loopTurn) in which the stderr pipe was last read at the end of an exec. */
  private stderrReadTurn = -1;
  /**
   * A command may have moved bash's stdout for good (it said `exec`, in an exec or typed through
   * the tap): the end markers go to the terminal's own descriptor from then on (rc.ts `__sd_o`).
   */
  private markersOnTerminal = false;
  /** Why the terminal is not read now: the tap's flow control, a rest of the background budget. */
  private readonly readHolds = new Set<"tap" | "budget">();
  /** Terminal output between execs is read within it (limits.backgroundOutputBytesPerSecond). */
  private readonly backgroundBudget: ReadBudget | undefined;
  private budgetRest: NodeJS.Timeout | undefined;

  /** Resolves once the setup's ready marker is read (see start). */
  private readonly ready: Promise<ExecOutcome>;

  private constructor(
    private readonly transport: ShellTransport,
    private readonly spec: StartSpec,
    private readonly log: DriverLog,
    private readonly shellName: string,
    readyNonce: string,
  ) {
    this.workingDir = spec.cwd;
    this.size = { cols: spec.cols, rows: spec.rows };
    this.exitNotice = new ExitNotice(log);
    const rate = spec.limits.backgroundOutputBytesPerSecond ?? 0;
    this.backgroundBudget = rate > 0 ? new ReadBudget(rate) : undefined;
    this.tap = new ShellTerminalTap({
      send: (data) => this.typedInput(data),
      shellReadsLine: () => this.shellReadsLine(),
      inputBacklog: () => this.transport.inputBacklog,
      discardInput: () => this.transport.discardInput(),
      pauseReading: () => this.holdReading("tap", true),
      resumeReading: () => this.holdReading("tap", false),
      size: () => this.size,
    });
    // Waiting for the ready marker before listening: a transport hands on what the shell printed
    // while it was being opened as soon as it has a listener, and the marker may be in it.
    this.ready = this.begin(readyNonce, { announced: false, budget: STARTUP_OUTPUT_BYTES, startup: true, stdin: false });
    transport.onData((data) => this.onTerminal(data));
    transport.onStderr((data) => this.onStderr(data));
    transport.onExit((exit) => this.onProcessExit(exit));
    if (transport.stderrNeedsPolling) {
      this.idlePoll = setInterval(() => {
        if (!this.running) this.transport.drainStderr();
      }, STDERR_IDLE_POLL_MS);
      this.idlePoll.unref();
    }
  }

  /**
   * Opens the transport (bash in `spec.cwd` with `spec.env`), and resolves once the setup has run.
   * @throws spawn_failed with the shell's output when it exits or hangs first
   */
  static async start(spec: StartSpec, open: OpenTransport, log: DriverLog, shellName = "bash"): Promise<ShellProcess> {
    const readyNonce = newNonce();
    const transport = await open((stderrPipe, stateFile) => shellRc({ stderrPipe, stateFile, readyNonce, maxProcesses: spec.limits.maxProcesses, fenceWaitMs: spec.limits.interruptGraceMs }));
    const shell = new ShellProcess(transport, spec, log, shellName, readyNonce);
    log.debug({ pid: transport.pid, target: transport.target, session: spec.sessionId }, "shell starting");
    const { ready } = shell;
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<"timeout">((resolve) => (timer = setTimeout(() => resolve("timeout"), spec.limits.startTimeoutMs)));
    const outcome = await Promise.race([ready, timedOut]);
    clearTimeout(timer);
    if (outcome === "timeout" || outcome.processExited) {
      const output = outcome === "timeout" ? "" : `${outcome.stdout.toString("utf8")}${outcome.stderr.toString("utf8")}`.trim();
      await shell.stop(0);
      const why = outcome === "timeout" ? `not ready after ${spec.limits.startTimeoutMs} ms` : `it exited (${describeExit(shell.exit!)})`;
      throw spawnFailed(output ? `${why}: ${output.slice(0, 2000)}` : why);
    }
    shell.transition("ready");
    return shell;
  }

  get target(): string {
    return this.transport.target;
  }

  get pid(): number {
    return this.transport.pid;
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

  get details(): Record<string, string | number> {
    return { shell: this.shellName, ...this.transport.details };
  }

  get terminal(): TerminalTap {
    return this.tap;
  }

  get personAtTerminal(): boolean {
    if (this.currentState !== "ready") return false;
    return this.midLine || this.transport.shellInForeground() === false;
  }

  get outputsBetweenExecs(): number {
    return this.outputs;
  }

  exec(request: ExecRequest): Promise<ExecOutcome> {
    return this.run(request);
  }

  /** Sends `data` to the running exec's stdin (the terminal); `eof` ends its input (Ctrl-D). @returns false when no exec reads stdin now */
  writeStdin(data: Buffer, eof: boolean): boolean {
    const run = this.running;
    // Past its fence the command has ended, and what came now would reach bash as commands.
    if (!run || run.phase === "done" || !run.stdin || run.fenced || this.currentState !== "running") return false;
    // A command in raw mode that reads nothing keeps what is sent to it: as for typing at the
    // terminal (the tap), no more is taken past the backlog's cap.
    const waiting = this.transport.inputBacklog + run.heldStdin.reduce((sum, chunk) => sum + chunk.length, 0);
    if (waiting > MAX_TYPED_BACKLOG_BYTES) {
      throw new SessiondError("rate_limited", { reason: `the command has not read the ${waiting} bytes of input sent before (more than ${MAX_TYPED_BACKLOG_BYTES} wait); send more once it reads` });
    }
    const parts = [data];
    if (data.length > 0) run.stdinMidLine = !LINE_ENDERS.has(data[data.length - 1]!);
    // Ctrl-D ends the input at the start of a line; after a partial line (sent now or before) it
    // only flushes it, so a second one is needed.
    if (eof) parts.push(run.stdinMidLine ? EOF_AFTER_PARTIAL : EOF);
    if (eof) run.stdinMidLine = false;
    const bytes = Buffer.concat(parts);
    if (run.started) {
      this.transport.send(bytes);
      return true;
    }
    // Not before the go marker: until then bash may not have read the exec's line, and a Ctrl-C
    // in the input would flush that line from the terminal, or a Ctrl-D end bash's input; what
    // followed would be read as commands. Held here, it is sent the moment the command starts.
    run.heldStdin.push(bytes);
    this.pollStderr(run, FIFO_HURRY_MS);
    return true;
  }

  /**
   * Kills the running command's process group (not the shell), and ends the exec there: bash is
   * told of it as of a Ctrl-C (see ShellTransport.killForeground), so a list such as `a; b` does
   * not go on to `b`. Until the command is in the terminal's foreground (bash may still be
   * reading its line, or a builtin runs in the shell itself) it looks again every few
   * milliseconds; after interruptGraceMs it also sends Ctrl-C (which ends a builtin), and after
   * twice that it gives up (the exec's timeout still applies). It never kills the shell.
   * @returns false when nothing runs
   */
  async killRunning(): Promise<boolean> {
    const run = this.running;
    if (!run || run.phase === "done" || this.currentState !== "running") return false;
    const grace = this.spec.limits.interruptGraceMs;
    const start = Date.now();
    let nudged = false;
    while (this.running === run && (run.phase as Running["phase"]) !== "done" && !run.fenced && Date.now() - start < 2 * grace) {
      if (run.started && (await this.transport.killForeground())) {
        // The Ctrl-C bash is told of may land as the command ends, in PROMPT_COMMAND, and cut its marker.
        run.timers.push(setTimeout(() => this.recover(run), grace * 1.5));
        return true;
      }
      if (!nudged && run.started && Date.now() - start >= grace) {
        nudged = true;
        this.sendCtrlCTo(run);
      }
      await new Promise((resolve) => setTimeout(resolve, STDERR_POLL_MS));
      if (!run.started && this.transport.stderrNeedsPolling) this.transport.drainStderr();
    }
    return true;
  }

  /** Stops (SIGSTOP) or continues (SIGCONT) the shell and every process of its terminal session. */
  async suspend(on: boolean): Promise<void> {
    if (this.currentState === "exited" || this.currentState === "stopping") return;
    await this.transport.signalAll(on ? "SIGSTOP" : "SIGCONT");
  }

  processes(): Promise<SessionProcess[]> {
    return this.transport.processes();
  }

  signalProcess(pid: number, sig: NodeJS.Signals): Promise<boolean> {
    return this.transport.signalProcess(pid, sig);
  }

  fileSizes(paths: readonly string[]): Promise<number[]> {
    return this.transport.fileSizes(paths);
  }

  interrupt(): boolean {
    const run = this.running;
    if (!run || run.phase === "done" || this.currentState !== "running") return false;
    // Its command has ended and bash finishes the exec: nothing to interrupt (a Ctrl-C would only flush the fence).
    if (run.fenced) return false;
    run.interrupts++;
    // Until the command runs, Ctrl-C would only discard the line bash has not read yet: wait for go.
    if (!run.started) this.transport.drainStderr();
    if (run.started) {
      // What a person typed that the command never read goes, as the terminal's own Ctrl-C drops
      // it: the Ctrl-C must not wait behind it.
      this.transport.discardInput();
      this.sendCtrlCTo(run);
    }
    else {
      // Stdin held for the command goes, as the terminal's Ctrl-C would flush it.
      run.heldStdin.length = 0;
      run.interruptPending = true;
      this.pollStderr(run, FIFO_HURRY_MS);
    }
    if (run.interrupts === 1) {
      const grace = this.spec.limits.interruptGraceMs;
      run.timers.push(
        // A Ctrl-C sent just as bash forks the command reaches bash, not the command: send it
        // again while the command (not bash) holds the terminal, before escalating to a kill.
        setTimeout(() => this.repeatInterrupt(run), grace / 4),
        setTimeout(() => this.repeatInterrupt(run), grace / 2),
        setTimeout(() => void this.escalate(run), grace),
        setTimeout(() => this.recover(run), grace * 1.5),
        setTimeout(() => {
          if (this.running !== run) return;
          this.log.warn({ pid: this.pid }, "the shell did not come back from an interrupt; killing it");
          void this.transport.terminate(0, "SIGKILL");
        }, 2 * grace),
      );
    }
    return true;
  }

  resize(cols: number, rows: number): void {
    if (this.currentState === "exited" || this.currentState === "stopping") return;
    this.size = { cols, rows };
    this.transport.resize(cols, rows);
  }

  /**
   * Reads the exported environment (`export -p`) in records (see {@link EnvRecords}), so that what
   * background jobs print meanwhile is shown and counted as theirs, never read as variables.
   * @throws conflict when the shell ended first, the capture failed or was too big, or background
   * output kept cutting into its records
   */
  async captureState(): Promise<RuntimeState> {
    for (let attempt = 1; ; attempt++) {
      const records = new EnvRecords(newNonce(), STATE_OUTPUT_BYTES, (data) => this.background("stdout", data));
      const outcome = await this.run({ input: records.command, maxOutputBytes: 0 }, records);
      if (outcome.processExited) throw new SessiondError("conflict", { reason: "the shell ended before its state could be read" });
      // The state file was taken away or made unwritable (by the session's own code, as its uid).
      if (outcome.exitCode !== 0) throw new SessiondError("conflict", { reason: `reading the shell's state failed (status ${outcome.exitCode})` });
      const exports = records.payload();
      if (exports) {
        const env = parseExports(exports);
        for (const name of VOLATILE_ENV) delete env[name];
        return { cwd: this.workingDir, env };
      }
      if (records.tooBig) {
        throw new SessiondError("conflict", { reason: `the exported environment is over ${STATE_OUTPUT_BYTES} bytes` });
      }
      if (attempt === STATE_ATTEMPTS) {
        throw new SessiondError("conflict", { reason: "background output kept cutting into the shell's state as it was read" });
      }
    }
  }

  mayChangeState(input: string): boolean {
    return mayChangeShellState(input);
  }

  async stop(graceMs: number): Promise<void> {
    if (this.currentState !== "exited" && !this.stopped) {
      this.stopped = true;
      this.transition("stopping");
      // A stopped (paused) shell would not react to its signals.
      await this.transport.signalAll("SIGCONT").catch(() => {});
      await this.transport.terminate(graceMs, "SIGHUP");
    }
    // The shell is killed by now; its exit is reported by the transport.
    await this.exitNotice.settled;
  }

  onExit(listener: (exit: ProcessExit) => void): () => void {
    return this.exitNotice.onExit(listener);
  }

  // ---- internals ---------------------------------------------------------------------------

  /** Runs `request` in the shell; with `records`, it is sessiond's own (see {@link Running.records}). */
  private run(request: ExecRequest, records?: EnvRecords): Promise<ExecOutcome> {
    if (this.running || this.currentState !== "ready") {
      return Promise.reject(new SessiondError("conflict", { reason: `the shell is ${this.running ? "busy" : this.currentState}` }));
    }
    const nonce = newNonce();
    const stdin = request.stdin === true;
    // The go marker is needed where stdin waits for the command to start, and where the pipe is
    // pushed to us (ssh) rather than read at will: there only it tells a background job's output
    // from the command's. Elsewhere what the pipe holds now is background output, and the rest is
    // the command's, as on the terminal.
    const announced = stdin || !this.transport.stderrNeedsPolling;
    // An exec that starts in the turn the last one ended in (queued behind it, or sent by an
    // embedding program as soon as that one answered) finds the pipe as that exec's end left it:
    // read then, it is not read again (an empty pipe's read is a thrown EAGAIN, a tenth of the
    // server's work for an exec of `true`). A background job's write in those microseconds counts
    // as this exec's, as one during the exec does.
    if (!announced && this.stderrReadTurn !== loopTurn()) this.transport.drainStderr();
    if (request.input.includes(MAY_MOVE_STDOUT_WORD)) this.markersOnTerminal = true;
    const lines = execLines(nonce, ansiCPieces(request.input), { stdin, announce: announced, lastStatus: this.lastStatus, markersOnTerminal: this.markersOnTerminal });
    // Only after a person typed through the tap: a terminal left in raw mode would take Ctrl-U literally.
    const clear = this.typed ? KILL_LINE : "";
    this.typed = false;
    this.midLine = false;
    // Sent first and registered after: bash (on another core) starts on the line while the exec's
    // scanners and timers are set up, and nothing it answers is read before this returns.
    this.send(`${clear}${this.leadingNewline()}${lines.join("\n")}\n`);
    const outcome = this.begin(nonce, { announced, budget: request.maxOutputBytes, startup: false, records, stdin, onChunk: request.onChunk });
    this.transition("running");
    this.endBudgetRest();
    return outcome;
  }

  private send(text: string): void {
    this.transport.send(Buffer.from(text, "latin1"));
  }

  /**
   * What a person typed through the tap, on its way to the terminal. A Ctrl-C in it, before an
   * announced command starts, is an interrupt (which waits for the go marker): sent now it would
   * flush the exec's line, which bash may not have read, and the exec would wait out its timeout.
   * Else it goes to the terminal, as on any terminal (a program in raw mode takes it as a key),
   * and for an unannounced exec the recovery line is armed, as that Ctrl-C may have flushed its line.
   */
  private typedInput(data: Buffer): void {
    this.typed = true;
    if (data.includes(MAY_MOVE_STDOUT_WORD)) this.markersOnTerminal = true;
    let bytes = data;
    if (bytes.includes(CTRL_C)) {
      const run = this.running?.phase === "done" ? undefined : this.running;
      if (run && !run.started) {
        bytes = Buffer.from(bytes.filter((b) => b !== CTRL_C));
        this.interrupt();
      } else {
        this.ctrlCSent = true;
        if (run) this.armRecovery(run);
      }
    }
    if (bytes.length === 0) return;
    this.midLine = !LINE_ENDERS.has(bytes[bytes.length - 1]!);
    this.transport.send(bytes);
  }

  /**
   * Ctrl-C on the terminal (`then` after it). A program that put the terminal in raw mode takes
   * it as a byte, not a signal, and may leave it unread when it ends: bash then reads it in front
   * of the next line it is sent, which would spoil that line (`\x03__sd_n=…` is no assignment, and
   * no end marker would count). So the next line sessiond writes starts with a newline: the
   * leftover is a line of its own (bash says it is no command), or an empty one.
   */
  private sendCtrlC(then = ""): void {
    this.ctrlCSent = true;
    this.send(`\x03${then}`);
  }

  /**
   * Ctrl-C to `run`'s command. Unannounced, the exec may not have been read by bash yet: then the
   * Ctrl-C flushes its line, and no marker comes until the recovery line, typed once a quarter
   * grace later (harmless once the marker came).
   */
  private sendCtrlCTo(run: Running): void {
    this.sendCtrlC();
    this.armRecovery(run);
  }

  /** The recovery line, a quarter grace after a Ctrl-C that may have flushed `run`'s unannounced line. */
  private armRecovery(run: Running): void {
    if (run.announced || run.recoveryArmed) return;
    run.recoveryArmed = true;
    run.timers.push(setTimeout(() => this.recover(run), this.spec.limits.interruptGraceMs / 4));
  }

  /** What the next line sessiond writes starts with: a newline after a Ctrl-C (see sendCtrlC). */
  private leadingNewline(): string {
    const lead = this.ctrlCSent ? "\n" : "";
    this.ctrlCSent = false;
    return lead;
  }

  /** bash itself reads its input line now: between execs, or running a builtin that reads. */
  private shellReadsLine(): boolean {
    // Between execs a person may have started a program through the tap: it echoes for itself.
    if (this.currentState === "ready") return this.transport.shellInForeground() ?? true;
    if (this.currentState !== "running") return false;
    return this.transport.shellInForeground() ?? false;
  }

  private transition(to: ProcessState): void {
    if (this.currentState === to) return;
    this.log.debug({ pid: this.pid, session: this.spec.sessionId, from: this.currentState, to }, "shell state");
    this.currentState = to;
  }

  /** Registers the exec whose markers carry `nonce` (started at once unless `announced`). */
  private begin(
    nonce: string,
    options: { announced: boolean; budget: number; startup: boolean; records?: EnvRecords; stdin: boolean; onChunk?: ExecRequest["onChunk"] },
  ): Promise<ExecOutcome> {
    return new Promise<ExecOutcome>((resolve) => {
      const prefix = stdoutMarkerPrefix(nonce);
      const go = goMarker(nonce);
      const run: Running = {
        nonce,
        capture: new OutputCapture(options.budget, options.onChunk),
        stdoutScanner: new MarkerScanner(prefix),
        stderrScanner: this.transport.stderrNeedsPolling ? undefined : new MarkerScanner(stderrMarker(nonce)),
        prefixLength: prefix.length,
        resolve,
        goScanner: new MarkerScanner(go),
        goLength: go.length,
        startup: options.startup,
        records: options.records,
        stdin: options.stdin,
        fenceScanner: options.stdin ? new MarkerScanner(fenceRequestPrefix(nonce)) : undefined,
        fenceTrailer: undefined,
        heldStdin: [],
        stdinMidLine: false,
        fenced: false,
        announced: options.announced,
        started: !options.announced,
        recoveryArmed: false,
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
      if (this.transport.stderrNeedsPolling) this.pollStderr(run, STDERR_POLL_MS);
    });
  }

  /** Reads the stderr pipe again after `delayMs` while `run` lasts. */
  private pollStderr(run: Running, delayMs: number): void {
    if (!this.transport.stderrNeedsPolling) return;
    if (run.poll) clearTimeout(run.poll);
    run.poll = setTimeout(() => {
      run.poll = undefined;
      if (this.running !== run || run.phase === "done") return;
      const read = this.transport.drainStderr();
      // Until the go marker is read, an interrupt waits on it: look again at once.
      const next = (run.interruptPending || run.heldStdin.length > 0) && !run.started ? FIFO_HURRY_MS : nextReadMs(read, run.capture.truncated);
      if (this.running === run && (run.phase as Running["phase"]) !== "done") this.pollStderr(run, next);
    }, delayMs);
  }

  private onTerminal(data: Buffer): void {
    const run = this.running;
    // Past the exec's end marker (over ssh its stderr may still be read) the terminal is no exec's.
    if (!run || run.phase === "done" || run.stdoutDone) return this.background("stdout", data);
    let rest = data;
    for (;;) {
      if (run.phase === "running") {
        const found = run.stdoutScanner.feed(rest);
        this.execStdout(run, found.before);
        if (!found.match) return;
        run.phase = "trailer";
        rest = found.match.subarray(run.prefixLength);
      }
      run.trailer = run.trailer.length ? Buffer.concat([run.trailer, rest]) : rest;
      const payload = parsePayload(run.trailer);
      if (payload === undefined) return;
      if (payload !== null) {
        const after = run.trailer.subarray(payload.length);
        this.ended(run, payload);
        return this.background("stdout", after);
      }
      // Our nonce with a payload we did not write (code in the session can print one: it can
      // read the nonce like anything the shell holds): the prefix is output, and what followed
      // it is scanned again, since the real marker may be in it.
      this.execStdout(run, stdoutMarkerPrefix(run.nonce));
      rest = run.trailer;
      run.trailer = EMPTY;
      run.phase = "running";
    }
  }

  /**
   * Output that is no exec's: between execs (prompts, job notices, background jobs, what people
   * run through the tap), or a background job's while sessiond's own bookkeeping runs.
   */
  private background(stream: "stdout" | "stderr", data: Buffer): void {
    if (data.length === 0) return;
    this.outputs++;
    if (stream === "stdout") {
      this.tap.terminalOutput(data);
      // Between execs only: during one (a state capture's records among it) the terminal is read at full speed.
      if (!this.running) this.spendBackground(data.length);
    } else {
      this.tap.stderrOutput(data);
    }
  }

  /**
   * Counts terminal output between execs against the background budget, and rests from reading
   * the terminal once it is spent: the flood's writer waits on a full terminal meanwhile, as on a
   * slow one, and the server's CPU goes to other sessions. (The stderr pipe has its own, slower
   * pace between execs: FIFO_IDLE_POLL_MS.)
   */
  private spendBackground(bytes: number): void {
    const rest = this.backgroundBudget?.spend(bytes) ?? 0;
    if (rest === 0 || this.budgetRest || this.currentState === "exited") return;
    this.holdReading("budget", true);
    this.budgetRest = setTimeout(() => this.endBudgetRest(), rest);
  }

  /** Ends a rest of the background budget: at its time, or at once when an exec starts. */
  private endBudgetRest(): void {
    if (!this.budgetRest) return;
    clearTimeout(this.budgetRest);
    this.budgetRest = undefined;
    this.holdReading("budget", false);
  }

  /** Stops reading the terminal while anything holds it (the tap's flow control, a budget's rest). */
  private holdReading(reason: "tap" | "budget", on: boolean): void {
    const held = this.readHolds.size > 0;
    if (on) this.readHolds.add(reason);
    else this.readHolds.delete(reason);
    if (!held && this.readHolds.size > 0) this.transport.pause();
    else if (held && this.readHolds.size === 0) this.transport.resume();
  }

  /** What the running exec wrote to the terminal, up to its end marker. */
  private execStdout(run: Running, data: Buffer): void {
    if (data.length === 0) return;
    if (run.records) return run.records.feed(data);
    if (!run.startup) this.tap.terminalOutput(data);
    run.capture.push("stdout", data);
  }

  /** What the running exec wrote to the stderr pipe, from its go marker to its end. */
  private execStderr(run: Running, data: Buffer): void {
    if (data.length === 0) return;
    // sessiond's own commands write nothing there: it is a background job's.
    if (run.records) return this.background("stderr", data);
    if (!run.startup) this.tap.stderrOutput(data);
    run.capture.push("stderr", data);
  }

  /**
   * The command of an exec with stdin has ended, and bash reads what it left unread up to this
   * fence before it reads commands again (rc.ts `__sd_done`): input still held here is dropped
   * first, so that all of it comes before the fence and none is run as a command.
   */
  private fence(run: Running, token: string): void {
    run.fenced = true;
    this.transport.discardInput();
    this.send(fenceLine(token));
  }

  /** The terminal's end marker was read: the exec's status and cwd are known. */
  private ended(run: Running, payload: MarkerPayload): void {
    run.exitCode = payload.status;
    if (!run.records) this.lastStatus = payload.status;
    if (payload.cwd !== undefined) this.workingDir = payload.cwd;
    // What the records held back (in case a record began there) comes before what follows.
    run.records?.end();
    run.stdoutDone = true;
    // Whatever the command wrote to the pipe is in it now (and, where the pipe has an end
    // marker of its own, bash wrote that before this one).
    if (!run.stderrDone) {
      this.transport.drainStderr();
      this.stderrReadTurn = loopTurn();
    }
    if (!run.stderrScanner) run.stderrDone = true;
    this.settleWhenDone(run);
  }

  private onStderr(data: Buffer): void {
    const run = this.running;
    if (!run || run.stderrDone || run.phase === "done") return this.background("stderr", data);
    let rest = data;
    if (!run.started) {
      const go = run.goScanner.feed(rest);
      // Written before the command ran: background jobs' (the previous exec's was all read at its end).
      this.background("stderr", go.before);
      if (!go.match) return;
      run.started = true;
      rest = go.match.subarray(run.goLength);
      if (run.heldStdin.length) this.transport.send(Buffer.concat(run.heldStdin.splice(0)));
      if (run.interruptPending) this.sendCtrlC();
    }
    if (run.fenceScanner && !run.fenced) {
      if (!run.fenceTrailer) {
        const request = run.fenceScanner.feed(rest);
        this.commandStderr(run, request.before);
        if (!request.match) return;
        rest = request.match.subarray(fenceRequestPrefix(run.nonce).length);
      }
      run.fenceTrailer = run.fenceTrailer ? Buffer.concat([run.fenceTrailer, rest]) : rest;
      const token = parseFenceToken(run.fenceTrailer);
      if (token === undefined) return;
      rest = run.fenceTrailer;
      run.fenceTrailer = undefined;
      if (token === null) {
        // Not bash's (code in the session can write the prefix): output, and what followed is looked at again.
        this.commandStderr(run, fenceRequestPrefix(run.nonce));
        return this.onStderr(rest);
      }
      this.fence(run, token.token);
      rest = rest.subarray(token.length);
    }
    this.commandStderr(run, rest);
  }

  /** What came on the stderr pipe after the go marker: the command's, up to the exec's end marker there. */
  private commandStderr(run: Running, rest: Buffer): void {
    if (rest.length === 0 || run.stderrDone) return this.background("stderr", rest);
    if (!run.stderrScanner) return this.execStderr(run, rest);
    const found = run.stderrScanner.feed(rest);
    this.execStderr(run, found.before);
    if (!found.match) return;
    run.stderrDone = true;
    this.settleWhenDone(run);
    this.background("stderr", found.match.subarray(stderrMarker(run.nonce).length));
  }

  private settleWhenDone(run: Running): void {
    if (run.phase === "done") return;
    if (run.stdoutDone && run.stderrDone) return this.settle(run, false);
    if (run.stdoutDone) {
      // A remote pipe's marker comes soon after; if the command closed our descriptor it never does.
      run.timers.push(setTimeout(() => this.settle(run, false), this.spec.limits.interruptGraceMs));
    }
  }

  private settle(run: Running, processExited: boolean): void {
    if (run.phase === "done") return;
    run.phase = "done";
    for (const timer of run.timers) clearTimeout(timer);
    if (run.poll) clearTimeout(run.poll);
    if (processExited) {
      this.execStdout(run, run.stdoutScanner.flush());
      run.records?.end();
      if (run.stderrScanner) this.execStderr(run, run.stderrScanner.flush());
      if (run.fenceScanner && !run.fenced) this.execStderr(run, run.fenceTrailer ? Buffer.concat([fenceRequestPrefix(run.nonce), run.fenceTrailer]) : run.fenceScanner.flush());
    }
    if (this.running === run) this.running = undefined;
    if (this.currentState === "running") this.transition("ready");
    run.resolve({
      stdout: run.capture.bytes("stdout"),
      stderr: run.capture.bytes("stderr"),
      exitCode: processExited ? (this.exitNotice.exit?.exitCode ?? null) : run.exitCode,
      truncated: run.capture.truncated,
      processExited,
    });
  }

  /**
   * Half again interruptGraceMs after an interrupt, no end marker yet and bash holds the terminal:
   * the interrupt may have cut the marker's printf, or the command cleared the nonce. A line that
   * ends the exec with status 130, unless its marker was printed (rc.ts `__sd_r`): the shell lives on.
   */
  private recover(run: Running): void {
    if (this.running !== run || run.phase === "done" || this.transport.shellInForeground() === false) return;
    this.send(`${this.leadingNewline()}${recoveryLine(run.nonce)}`);
  }

  private repeatInterrupt(run: Running): void {
    if (this.running !== run || run.phase === "done" || !run.started || run.fenced) return;
    if (this.transport.shellInForeground() === false) this.sendCtrlC();
  }

  /** The command did not stop on Ctrl-C: kill its process group, and nudge bash in case the marker was lost. */
  private async escalate(run: Running): Promise<void> {
    if (this.running !== run || run.fenced) return;
    if (await this.transport.killForeground()) {
      this.log.warn({ pid: this.pid }, "the command ignored an interrupt; killed its process group");
    } else if (this.running === run) {
      // bash itself is in the foreground: either a builtin loop (Ctrl-C again) or an interrupt
      // landed in PROMPT_COMMAND and ate the marker (an empty line runs it again).
      this.sendCtrlC("\n");
    }
  }

  private onProcessExit(exit: ProcessExit): void {
    if (!this.exitNotice.record(exit)) return;
    const unexpected = this.currentState !== "stopping";
    this.transition("exited");
    this.log.debug({ pid: this.pid, session: this.spec.sessionId, ...exit, unexpected }, "shell exited");
    // Output still in flight on the terminal arrives before the exit in practice; what is held
    // back by a scanner is flushed into the exec.
    this.transport.drainStderr();
    if (this.running) this.settle(this.running, true);
    if (this.budgetRest) clearTimeout(this.budgetRest);
    if (this.idlePoll) clearInterval(this.idlePoll);
    this.tap.close();
    const cleanup = this.transport
      .release(unexpected, this.spec.limits.stopGraceMs)
      .catch((err: unknown) => this.log.warn({ err, pid: this.pid }, "could not clean up after the shell"));
    void cleanup.finally(() => this.exitNotice.announce());
  }
}

/**
 * What a command that moves bash's stdout for good says (`exec >log`). Matched loosely, as a
 * string: a false match costs the session a redirection per exec, a missed one (a sourced script
 * that says it) an exec ended by the recovery line (rc.ts `__sd_r`).
 */
const MAY_MOVE_STDOUT_WORD = "exec";
const EOF = Buffer.from("\x04");
const EOF_AFTER_PARTIAL = Buffer.from("\x04\x04");

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
