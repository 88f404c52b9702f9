import { stat } from "node:fs/promises";
import { totalmem } from "node:os";
import { Type } from "@sinclair/typebox";
import {
  type Config,
  type Session,
  type SessionStatus,
  SessiondError,
  dataPaths,
  errors,
  isSessiondError,
  isTerminal,
  newId,
  notActiveHint,
  validate,
} from "../core/index.js";
import type { SessionChange, SessionManager } from "../engine/index.js";
import { BackgroundJobs, type JobProcess, backgroundCommand, backgroundLogPath, killSignal, signalProcess } from "./background-jobs.js";
import type { LiveProcess, OutputChunk, ProcessExit, RuntimeState, SessionDriver, TerminalTap } from "./driver.js";
import { ExecBook, type ExecState } from "./exec-book.js";
import { ExecQueue } from "./exec-queue.js";
import { readExecLogs } from "./exec-logs.js";
import { type ExecRecord, type ExecResult, type ExecStatus, execEventData, execRecord } from "./exec-result.js";
import {
  type ExecOptions,
  type ExecPolicy,
  ExecPolicySchema,
  type LiveInfo,
  type LiveState,
  LiveStartSchema,
  type LogsQuery,
  type OutputEvent,
  type StartInput,
  execPolicyOf,
} from "./live-api.js";
import { type DriverLog, silentLog } from "./log.js";
import { MODE_OPTION_NAMES, type ModeOptions, ModeOptionsSchema } from "./mode-options.js";
import { EXEC_KINDS, type ExecKind, assertModeEnabled, enabledModes, isExecKind } from "./modes.js";
import { crashOrphan, markOrphansCrashed } from "./orphans.js";
import { Reaper, overLimit } from "./reaper.js";
import { SERVER_GONE } from "./server-gone.js";
import { DriverRegistry, defaultDrivers } from "./registry.js";
import { resolveSshTarget } from "./shell/ssh-options.js";
import { envToSave, processEnv, sameState, savedState, withoutSessiondEnv } from "./runtime-state.js";
import { SessionClocks, extendMsOf } from "./session-clocks.js";
import { ensureWorkspace, freshRuntimeDir, removeRuntimeDir } from "./workspace.js";
import { type SandboxCheck, SandboxPlanner, checkSandbox, hostPathOf, workspaceBytes } from "./sandbox/index.js";
import type { SandboxPlan } from "./driver.js";
import {
  type EnvironmentHost,
  LiveEnvironment,
  type ProcessView,
  type RebuildReason,
  type Rebuilt,
  type UndoReport,
  type UndoSnapshots,
  type WakeReport,
  hibernatedInfo,
  hibernatedMark,
  wokeSummary,
} from "./environment/index.js";

/** What LiveSessions runs on. */
export interface LiveSessionsOptions {
  readonly manager: SessionManager;
  readonly config: Config;
  /** @default defaultDrivers(config) — the shell */
  readonly drivers?: DriverRegistry;
  readonly log?: DriverLog;
  /**
   * The server's environment, from which a new shell inherits the variables named in config
   * `shellEnv` (and nothing else).
   * @default process.env
   */
  readonly hostEnv?: Readonly<Record<string, string | undefined>>;
  /**
   * Creates a session's workspace folder with its artifact folders and returns it; the server
   * passes its Workspaces so both agree on the folder.
   * @default ensureWorkspace: `$SESSIOND_HOME/workspaces/<name>/{logs,screenshots,files,recordings,devtools}`
   */
  readonly workspace?: (session: Session) => Promise<string>;
  /**
   * Whether the sandbox (config `sandbox: "bwrap"`) can start on this host.
   * @default checkSandbox: probed once per process
   */
  readonly sandboxCheck?: () => SandboxCheck;
  /** Told of every process started (tests check that none outlives its session; metrics may count). */
  readonly onProcess?: (event: { readonly sessionId: string; readonly pid: number }) => void;
  /** @default Date.now */
  readonly clock?: () => number;
  /**
   * Workspace snapshots for undo (start option `undo_files`).
   * @default the SessionManager's (its `files`)
   */
  readonly snapshots?: UndoSnapshots;
}

interface RunningExec {
  readonly exec_id: string;
  /** Its stdin is the terminal (started with `stdin: true`). */
  readonly stdin: boolean;
  /** Set when the exec is being cut short: by its timeout, or by interrupt/stop. */
  reason?: "timeout" | "interrupted";
}

interface Entry {
  readonly sessionId: string;
  /** Its session's agent_id (config maxLiveSessionsPerAgent counts entries by it). */
  readonly agent: string | undefined;
  name: string;
  readonly kind: ExecKind;
  readonly server: string;
  state: LiveState;
  process: LiveProcess | undefined;
  readonly ready: Promise<void>;
  readonly queue: ExecQueue;
  /** Since the start and since the last activity; they stand still while the session is paused. */
  readonly clocks: SessionClocks;
  running: RunningExec | undefined;
  /** Exec events being written (awaited before a crash or stop is recorded, so they come first). */
  readonly persisting: Set<Promise<unknown>>;
  /** The state last captured; runtime_metadata holds it without its secret-looking variables (envToSave). */
  saved: RuntimeState | undefined;
  /** Execs ran since the state was last captured. */
  dirty: boolean;
  /** A failed capture was logged, and none succeeded since: the next failures are logged at debug. */
  syncWarned: boolean;
  lastExecAt: number;
  syncTimer: NodeJS.Timeout | undefined;
  /** Resolves when a stop in progress is over. */
  stopped: Promise<void> | undefined;
  /** What an exec sent while another runs does. */
  policy: ExecPolicy;
  /** Execs by id: queued, running and recently finished. */
  readonly book: ExecBook;
  /** Background jobs started with `background: true`. */
  readonly background: BackgroundJobs;
  /** How the process is sandboxed; its uid goes back to the pool when the entry goes. */
  sandbox: SandboxPlan | undefined;
  /** When its workspace was last measured against sessionDiskBytes. */
  diskCheckedAt: number;
}

/** The parts of a start request that are never stored: target settings (ssh key) and secrets. */
interface HeldForRecovery {
  readonly target?: Readonly<Record<string, unknown>>;
  readonly secrets?: Readonly<Record<string, string>>;
}

/** How a live session ends when sessiond ends it. */
type Ending =
  | { readonly status: "completed" }
  | { readonly status: "timeout"; readonly reason: string }
  | { readonly status: "crashed"; readonly reason: string }
  /**
   * Someone else already moved the session (deleted it, completed it through the API), or it is
   * being rebuilt or hibernated: only stop the process. `keep`: what the start held in memory
   * (secrets, target settings) stays for the next process.
   */
  | { readonly status: "none"; readonly keep?: boolean };

const ACTIVE_OR_PAUSED: readonly SessionStatus[] = ["active", "paused"];

/**
 * The coordinator of live execution sessions: seed 000's verbs (start, exec, stop, logs) plus
 * interrupt, resize, recover and list, over the drivers, with their limits (docs/exec-sessions.md) — a queue
 * per session (an exec sent while another runs waits its turn, in order), per-exec timeout →
 * interrupt → `timeout`, an output cap → `truncated`, idle and lifetime limits enforced by a
 * reaper (status `timeout`, the reason in its event), a cap on live sessions (429), crash
 * detection (`crashed` with an event) and recovery with the last cwd and environment.
 *
 * Every exec is persisted as an `exec` event through the SessionManager; its seq is the result's
 * seq. Status changes made through the SessionManager directly are followed: a session completed,
 * failed, timed out, crashed or deleted that way has its process stopped, and one recovered that
 * way has its process restarted.
 *
 * @example
 * const live = new LiveSessions({ manager, config });
 * const session = await live.start({ kind: "shell", name: "build" });
 * const result = await live.exec("build", "make -j4");
 * await live.stop("build");
 */
export class LiveSessions {
  private readonly manager: SessionManager;
  private readonly config: Config;
  private readonly drivers: DriverRegistry;
  private readonly log: DriverLog;
  private readonly hostEnv: Readonly<Record<string, string | undefined>>;
  /** Input bytes of the execs waiting in every session's queue (config maxQueuedExecBytes). */
  private queuedInputBytes = 0;
  private readonly workspace: (session: Session) => Promise<string>;
  private readonly onProcess: LiveSessionsOptions["onProcess"];
  private readonly clock: () => number;
  private readonly entries = new Map<string, Entry>();
  /** What a session's start gave that is never stored, by session id: kept in memory for recovery. */
  private readonly held = new Map<string, HeldForRecovery>();
  private readonly outputListeners = new Set<(event: OutputEvent) => void>();
  private readonly reaper: Reaper;
  private readonly unsubscribe: () => void;
  private orphanWatch: NodeJS.Timeout | undefined;
  /** Slots taken by starts that have not registered their entry yet. */
  private reserved = 0;
  /** Starts under way (`reserved`) by agent_id. */
  private readonly reservedFor = new Map<string, number>();
  /** Execs running now (past their queue), on every session: see persistExec. */
  private runningExecs = 0;
  private readonly sandboxes: SandboxPlanner;
  private closed = false;
  private readonly createdAt: number;
  /** Rebuilds, hibernation and wakes (src/drivers/environment). */
  private readonly environment: LiveEnvironment;

  constructor(options: LiveSessionsOptions) {
    this.manager = options.manager;
    this.config = options.config;
    this.log = options.log ?? silentLog;
    // The manager goes to the drivers for llm sessions, which keep their conversation as events.
    this.drivers = options.drivers ?? defaultDrivers(options.config, this.log, options.manager);
    this.hostEnv = options.hostEnv ?? process.env;
    this.workspace = options.workspace ?? ((session) => ensureWorkspace(this.config, session));
    this.onProcess = options.onProcess;
    this.clock = options.clock ?? Date.now;
    this.createdAt = this.clock();
    this.sandboxes = new SandboxPlanner(this.config, options.sandboxCheck ?? (() => checkSandbox(this.hostEnv.PATH)));
    this.reaper = new Reaper(this.config.reaperIntervalMs, () => this.sweep());
    this.environment = new LiveEnvironment(this.environmentHost(), options.snapshots ?? options.manager.files);
    const unfollow = this.manager.bus.subscribe((change) => this.follow(change));
    // Another node took the session over (this node stalled past its lease): its process here
    // must stop, and nothing of it may be recorded — the session is the other node's now.
    const unlose = this.manager.onSessionLost((id) => {
      const entry = this.entries.get(id);
      if (!entry) return;
      this.log.warn({ session: id }, "another node took this live session over; stopping its process here");
      void this.end(entry, { status: "none" }).catch(() => {});
    });
    // A session taken over from a node that stopped answering had its process there: crashed,
    // naming the node, before the request that reached it here is served.
    const untake = this.manager.onSessionTakenOver(async (id, fromNode) => {
      if (this.entries.has(id)) return;
      const session = await this.manager.find(id);
      if (!session || !ACTIVE_OR_PAUSED.includes(session.status) || !this.drivers.get(session.kind)) return;
      await crashOrphan(this.manager, id, fromNode).catch((err: unknown) => {
        this.log.error({ err, session: id }, "could not mark a session of a node that stopped answering crashed");
      });
    });
    this.unsubscribe = () => {
      unfollow();
      unlose();
      untake();
    };
  }

  // ---- seed 000's verbs --------------------------------------------------------------------

  /**
   * Creates a session of an exec kind and starts its process in the session's workspace
   * (`$SESSIOND_HOME/workspaces/<name>/` with seed 002's artifact folders) unless `cwd` is given.
   * @returns the session, active, with `runtime_metadata` {target, pid, cwd, env, …}
   * @throws validation (400) for a kind that is unknown or off (listing the enabled ones), a
   *   target the driver lacks, a bad cwd/env; rate_limited (429) past maxLiveSessions;
   *   spawn_failed (500) when the process does not come up (the session is then failed)
   */
  async start(input: StartInput): Promise<Session> {
    this.assertOpen();
    const { kind, cwd, env, cols, rows, network, server_options, exec_policy, secrets, undo_files, ...rest } = input ?? ({} as StartInput);
    const { modeFields, create } = splitModeOptions(rest);
    const policy = exec_policy === undefined ? undefined : validate(ExecPolicySchema, exec_policy, "exec_policy");
    const options = validate(LiveStartSchema, dropUndefined({ cwd, env, cols, rows, secrets, network, undo_files }));
    const given = validate(ModeOptionsSchema, dropUndefined(modeFields));
    const driver = this.driverFor(kind, "kind");
    if (secrets !== undefined && driver.kind !== "llm") throw errors.validation("secrets", "only llm sessions take secrets (api_key)");
    this.assertModeOptions(driver, given);
    // Config typescriptTypecheck kept as an option when it applies (an unset typecheck is off), so a recovery checks alike whatever the config says then.
    const defaulted = this.config.typescriptTypecheck && given.typecheck === undefined && driver.startOptions?.includes("typecheck");
    const withDefaults = defaulted ? { ...given, typecheck: true } : given;
    const { stored, secrets: held } = modeOptionsToKeep(withDefaults, options.secrets);
    if (options.undo_files !== undefined && !["python", "typescript"].includes(driver.kind)) {
      throw errors.validation("undo_files", `only python and typescript sessions can be undone, not ${driver.kind}`);
    }
    if (create.mode != null && create.mode !== driver.kind) {
      throw errors.validation("mode", `a live session's mode is its kind (${driver.kind}); leave mode out`);
    }
    const server = create.server ?? "local";
    this.assertTarget(driver, server);
    const target = await this.resolveTarget(server, server_options);
    await driver.checkStart?.({
      options: stored,
      secrets: held,
      metadata: create.metadata ?? {},
      visible: (path) => server !== "local" || this.sandboxes.visible(path),
      timeoutMs: this.config.startTimeoutMs,
    });
    // A remote cwd is checked on the remote host (the login's home when it is missing there).
    if (server === "local") {
      this.sandboxes.assertAvailable();
      if (options.cwd !== undefined) {
        // Visibility first: whether a path the sandbox does not show exists on the host is not
        // the caller's to learn. Every workspace counts as visible until this session has its own
        // (its launch checks the cwd against that one): no answer about other sessions' folders.
        this.sandboxes.assertVisible(options.cwd);
        const workspaces = dataPaths(this.config).workspaces;
        if (options.cwd !== workspaces && !options.cwd.startsWith(`${workspaces}/`)) await assertDirectory(options.cwd, "cwd");
      }
    }
    const agent = create.agent_id ?? undefined;
    this.reserve(agent);
    let session: Session;
    try {
      session = await this.manager.create({
        ...create,
        kind: driver.kind,
        mode: driver.kind,
        server,
        runtime_backend: "local",
        ...(Object.keys(stored).length || options.undo_files
          ? { runtime_metadata: { ...create.runtime_metadata, ...(Object.keys(stored).length ? { mode_options: stored } : {}), ...(options.undo_files ? { undo_files: true } : {}) } }
          : {}),
      });
    } finally {
      this.unreserve(agent);
    }
    const { secrets: _secrets, undo_files: _undo, ...processOptions } = options;
    if (target || held) this.held.set(session.id, { ...(target ? { target } : {}), ...(held ? { secrets: held } : {}) });
    return this.launch(session, driver, { ...processOptions, restart: false, ...(policy ? { policy } : {}) });
  }

  /**
   * Runs one exec and records it as an `exec` event. An exec sent while another runs waits for
   * it (in order). A command that fails is a result (`status: "error"`), not a throw.
   * @throws session_not_active (409) unless the session is active with a live process;
   *   validation / too_large naming `input` or `timeout_ms`; rate_limited (429) when
   *   maxQueuedExecs already wait
   */
  async exec(ref: string, input: string, options: ExecOptions = {}): Promise<ExecResult> {
    return (await this.submit(ref, input, options)).done;
  }

  /**
   * Queues an exec (or runs it at once) and returns its id without waiting: `done` resolves to
   * its result (the route's `wait: false`). The session's exec policy decides what happens when
   * another exec runs: `queue` waits in order, `reject` refuses (409 session_busy), `interrupt`
   * interrupts the running one first. With `background`, the command starts as a background job
   * (its output in `<workspace>/logs/bg-<exec_id>.log`) and the exec ends at once with its pid.
   * @throws as {@link exec}; session_busy under the reject policy
   */
  async submit(ref: string, input: string, options: ExecOptions = {}): Promise<{ exec_id: string; state: ExecState; done: Promise<ExecResult> }> {
    const { timeoutMs } = this.checkExec(input, options);
    if (options.replay !== undefined && typeof options.replay !== "boolean") throw errors.validation("replay", "expected a boolean");
    const session = await this.manager.get(ref);
    const { entry, woke } = await this.entryWaking(session, "exec");
    // A background job is a shell's (`{ …; } >log 2>&1 &`): taken, a cell would get shell syntax.
    if (options.background === true && session.kind !== "shell") {
      throw errors.validation("background", `a ${session.kind} session has no background jobs (they are a shell's; a cell can start a thread or a process of its own)`);
    }
    const stdin = options.stdin === true && !options.background;
    // Only a terminal has input to send: taken, a cell would run and `stdin` do nothing.
    if (stdin && entry.process && !entry.process.writeStdin) {
      throw errors.validation("stdin", `a ${entry.kind} session has no terminal to read input from (stdin is for shell sessions; a cell takes its data in its code)`);
    }
    const running = entry.running;
    if ((running || entry.queue.waitingExecs > 0) && entry.policy === "reject") {
      throw new SessiondError("session_busy", { ref: session.name, exec_id: running?.exec_id ?? "(queued)" });
    }
    entry.queue.assertRoom();
    // What waits holds its input until it runs: bounded in all sessions together, not only in
    // count per session. Refused here, it has interrupted nothing yet.
    let queued = running || entry.queue.busy || entry.queue.waitingExecs > 0 ? this.holdQueuedInput(Buffer.byteLength(input)) : 0;
    if (entry.policy === "interrupt" && running && entry.process?.interrupt()) running.reason ??= "interrupted";
    const unqueue = () => {
      this.queuedInputBytes -= queued;
      queued = 0;
    };
    const execId = newId();
    entry.book.add(execId, stdin);
    let procInput = input;
    let logPath: string | undefined;
    if (options.background) {
      logPath = backgroundLogPath(String(session.runtime_metadata.workspace ?? session.workspace ?? this.config.home), execId);
      procInput = backgroundCommand(input, logPath);
    }
    const done = entry.queue
      .run(() => {
        unqueue();
        return this.runExec(entry, execId, input, timeoutMs, { stdin, procInput, replay: options.replay !== false });
      })
      .then(
        async ({ record, persisted }) => {
          const event = await persisted;
          let result: ExecResult = { exec_id: record.exec_id, seq: event.seq, ...withoutId(record), ...(woke ? { woke: wokeSummary(woke) } : {}) };
          if (logPath !== undefined) result = entry.background.note(result, input, logPath);
          entry.book.finish(execId, result);
          return result;
        },
        (err: unknown) => {
          unqueue();
          entry.book.finish(execId);
          throw err;
        },
      );
    return { exec_id: execId, state: entry.book.get(execId)?.state ?? "queued", done };
  }

  /**
   * Whether a cwd kept from a session's earlier process (runtime_metadata, which its code can
   * write through the helper's reply pipe) can start its next one: a folder the sandbox shows.
   * Judged where the path leads on the host (hostPathOf), so that a link the session planted in
   * its workspace neither starts it where the sandbox has nothing (a crash at every recovery) nor
   * tells it, by the difference, whether a host folder exists. A remote target's is the remote's.
   */
  private async cwdUsable(session: Session, cwd: string, workspace: string): Promise<boolean> {
    if (session.server !== "local") return true;
    const real = await hostPathOf(cwd);
    return this.sandboxes.visible(real, workspace) && (await isDirectory(real));
  }

  /**
   * Counts `bytes` of input as waiting in an exec queue.
   * @returns bytes
   * @throws rate_limited when config maxQueuedExecBytes would be passed
   */
  private holdQueuedInput(bytes: number): number {
    const max = this.config.maxQueuedExecBytes;
    if (this.queuedInputBytes + bytes > max) {
      throw new SessiondError("rate_limited", { reason: `the execs waiting in all sessions already hold ${this.queuedInputBytes} bytes of input, and ${bytes} more would pass ${max} (maxQueuedExecBytes); wait for them to run` });
    }
    this.queuedInputBytes += bytes;
    return bytes;
  }

  /**
   * Where an exec is, with its result once finished.
   * @throws not_found (404) for an exec this server does not know (or has forgotten: see logs)
   */
  async execStatus(ref: string, execId: string): Promise<{ exec_id: string; state: ExecState; result?: ExecResult }> {
    const entry = await this.entryFor(ref, "read an exec");
    const known = entry.book.get(execId);
    if (!known) throw new SessiondError("not_found", { what: "exec", ref: execId });
    return { exec_id: execId, state: known.state, ...(known.result ? { result: known.result } : {}) };
  }

  /**
   * Sends `data` to a running exec's stdin (it must have been started with `stdin: true`); `eof`
   * ends its input (Ctrl-D).
   * @throws exec_not_running (409) when it is queued or finished, or reads /dev/null; not_found; validation / too_large naming `data`
   */
  async stdin(ref: string, execId: string, data: string, eof = false): Promise<{ exec_id: string; bytes: number }> {
    if (typeof data !== "string") throw errors.validation("data", "expected a string");
    const bytes = Buffer.from(data, "utf8");
    if (bytes.length > this.config.maxExecInputBytes) throw errors.tooLarge("data", bytes.length, this.config.maxExecInputBytes);
    const entry = await this.liveEntry(await this.manager.get(ref), "send stdin");
    this.runningExec(entry, execId, "send stdin");
    const readsStdin = entry.book.get(execId)?.stdin === true;
    if (!readsStdin || !entry.process?.writeStdin?.(bytes, eof)) {
      const state = readsStdin ? "finishing: its command has ended" : "running with stdin from /dev/null (start it with stdin: true)";
      throw new SessiondError("exec_not_running", { action: "send stdin", exec_id: execId, state });
    }
    entry.clocks.activeAt(this.clock());
    return { exec_id: execId, bytes: bytes.length };
  }

  /**
   * Interrupts (Ctrl-C) or kills (SIGKILL to its process group) one running exec, leaving the
   * session and queued execs alone; its result has status `interrupted`.
   * @throws exec_not_running (409) when it is queued or finished; not_found
   */
  async signalExec(ref: string, execId: string, how: "interrupt" | "kill"): Promise<{ exec_id: string; signalled: boolean }> {
    // Not while paused: a stopped command cannot take Ctrl-C, and the escalation would kill the shell.
    const entry = await this.liveEntry(await this.manager.get(ref), how);
    const running = this.runningExec(entry, execId, how);
    const proc = entry.process;
    // Marked first: the command may end (and its result be made) before the kill's answer comes back.
    const marked = running.reason === undefined;
    running.reason ??= "interrupted";
    const signalled = how === "interrupt" ? (proc?.interrupt() ?? false) : ((await proc?.killRunning?.()) ?? false);
    if (!signalled && marked) running.reason = undefined;
    return { exec_id: execId, signalled };
  }

  /** Sets what an exec sent while another runs does (kept in runtime_metadata.exec_policy). @throws validation naming `exec_policy` */
  async setExecPolicy(ref: string, policy: unknown): Promise<{ exec_policy: ExecPolicy }> {
    const value = validate(ExecPolicySchema, policy, "exec_policy");
    const entry = await this.entryFor(ref, "set the exec policy");
    entry.policy = value;
    const session = await this.manager.get(entry.sessionId);
    await this.manager.update(entry.sessionId, { runtime_metadata: { ...session.runtime_metadata, exec_policy: value } });
    return { exec_policy: value };
  }

  /**
   * Moves the end of the session's lifetime (maxLifetimeMs) out by `extendMs`.
   * @throws validation naming `extend_ms`
   */
  async extendLifetime(ref: string, extendMs: unknown): Promise<{ lifetime_ends_at: string | null }> {
    const ms = extendMsOf(extendMs, this.config.maxLifetimeMs);
    const entry = await this.entryFor(ref, "extend the lifetime");
    entry.clocks.extend(ms);
    return { lifetime_ends_at: entry.clocks.lifetimeEnd(this.config.maxLifetimeMs) };
  }

  /** The processes the session's process started that are alive now (background jobs with their exec and log). */
  async processes(ref: string): Promise<JobProcess[]> {
    const entry = await this.entryFor(ref, "list processes");
    return entry.background.list(entry.process);
  }

  /**
   * Signals one of the session's processes (its whole process group when it leads one): SIGTERM
   * by default.
   * @throws not_found (404) when the pid is not one of the session's; validation naming `signal`
   */
  async killProcess(ref: string, pid: number, signal: string = "SIGTERM"): Promise<{ pid: number; signal: string }> {
    const valid = killSignal(signal);
    const entry = await this.entryFor(ref, "kill a process");
    return signalProcess(entry.process, pid, valid);
  }

  /**
   * Interrupts the running exec (Ctrl-C; its result then has status `interrupted`), killing the
   * command after `interruptGraceMs` if it ignores that. Queued execs still run.
   * @returns whether an exec was running, and which
   */
  async interrupt(ref: string): Promise<{ interrupted: boolean; exec_id: string | null }> {
    const session = await this.manager.get(ref);
    const entry = await this.liveEntry(session, "interrupt");
    const running = entry.running;
    if (!running || !entry.process?.interrupt()) return { interrupted: false, exec_id: null };
    running.reason ??= "interrupted";
    return { interrupted: true, exec_id: running.exec_id };
  }

  /**
   * The raw terminal of a live shell session (active or paused), for attach. The tap belongs to
   * the process: after a crash and recover, ask again for the new one.
   * @throws not_a_terminal (409) for a live kind without a terminal; session_not_active (409) for
   *   an agent session (a record: no process ever runs it), and when the session is not active or
   *   paused with a live process here
   */
  async terminal(ref: string): Promise<TerminalTap> {
    const session = await this.manager.get(ref);
    if (!isExecKind(session.kind)) {
      throw new SessiondError(
        "session_not_active",
        { action: "attach", ref: session.name, status: "an agent record", hint: "no process runs it; attach to a live shell session" },
        { field: "kind" },
      );
    }
    const { entry } = await this.entryWaking(session, "attach", ACTIVE_OR_PAUSED);
    const tap = entry.process?.terminal;
    if (!tap) throw new SessiondError("not_a_terminal", { ref: session.name, kind: session.kind }, { field: "kind" });
    return tap;
  }

  /** Resizes the session's terminal. @throws validation naming cols/rows; session_not_active */
  async resize(ref: string, cols: number, rows: number): Promise<void> {
    const size = validate(TERMINAL_SIZE, { cols, rows });
    const session = await this.manager.get(ref);
    const entry = await this.liveEntry(session, "resize", ACTIVE_OR_PAUSED);
    entry.process?.resize(size.cols!, size.rows!);
  }

  /**
   * Stops the process and everything it started (SIGTERM, SIGKILL after stopGraceMs); a running
   * exec is recorded as `interrupted`, queued ones are refused. The session becomes `completed`
   * (a crashed one `failed`).
   * @throws session_not_active (409) when the session has already ended
   */
  async stop(ref: string): Promise<Session> {
    const session = await this.manager.get(ref);
    this.assertExecKind(session);
    let entry = this.entries.get(session.id);
    if (entry?.state === "starting") {
      await entry.ready.catch(() => {});
      entry = this.entries.get(session.id);
    }
    if (entry) {
      await this.end(entry, { status: "completed" });
      const after = await this.manager.get(session.id);
      // It crashed just before the stop got to it: stopping means giving up on recovery.
      return after.status === "crashed" ? this.manager.fail(session.id, "stopped after a crash, without recovery") : after;
    }
    // No process here (the server restarted, it crashed, or it is hibernated): settle the record only.
    this.held.delete(session.id);
    this.environment.forget(session.id);
    if (hibernatedMark(session)) {
      const { hibernated: _asleep, ...kept } = session.runtime_metadata;
      await this.manager.update(session.id, { runtime_metadata: kept });
    }
    if (ACTIVE_OR_PAUSED.includes(session.status)) return this.manager.complete(session.id);
    if (session.status === "crashed") return this.manager.fail(session.id, "stopped after a crash, without recovery");
    throw new SessiondError("session_not_active", { action: "stop", ref: session.name, status: session.status, hint: "it has already ended" });
  }

  /**
   * Past execs, oldest first, from the session's `exec` events (seed 000's logs).
   * @throws validation naming `since` or `limit`
   */
  logs(ref: string, query: LogsQuery = {}): Promise<ExecResult[]> {
    return readExecLogs(this.manager, ref, query);
  }

  /**
   * The kinds that may start now: enabled in the config and with a driver in this build (what a
   * 400 for a bad mode lists). For a route that names the field itself:
   * `assertModeEnabled(config, body.mode, { field: "mode", available: live.kinds() })`.
   */
  kinds(): ExecKind[] {
    return enabledModes(this.config, this.drivers.kinds());
  }

  /** Every mode this server has a driver for, enabled or not (what an imported session may be). */
  modes(): ExecKind[] {
    return this.drivers.kinds();
  }

  /** The live sessions of this server (seed 000's list), hibernated ones included. */
  list(): LiveInfo[] {
    const live = [...this.entries.values()].map((entry) => this.info(entry));
    const asleep = this.environment.hibernated().filter((s) => !this.entries.has(s.id));
    return [...live, ...asleep.map(hibernatedInfo)];
  }

  /** The live view of one session, or undefined when it has no process here. */
  describe(ref: string): LiveInfo | undefined {
    const entry = this.entries.get(ref) ?? [...this.entries.values()].find((e) => e.name === ref);
    return entry && this.info(entry);
  }

  /** Processes held now (starting, live or stopping). */
  get liveCount(): number {
    return this.entries.size;
  }

  // ---- crashes and restarts ----------------------------------------------------------------

  /**
   * Restarts a crashed session's process with its last known cwd and exported environment
   * (from runtime_metadata); the session becomes active again (a `recover` event).
   * @throws invalid_transition (409) unless the session is crashed; rate_limited; spawn_failed
   */
  async recover(ref: string): Promise<Session> {
    this.assertOpen();
    const session = await this.manager.get(ref);
    this.assertExecKind(session);
    if (session.status !== "crashed") throw errors.invalidTransition("recover", session.status, "active");
    if (session.server === "local") this.sandboxes.assertAvailable();
    // The crash is recorded just before the dead process's entry goes: wait for that.
    await this.entries.get(session.id)?.stopped?.catch(() => {});
    if (this.entries.has(session.id)) throw errors.conflict(`session ${session.name} is already starting`);
    const driver = this.driverFor(session.kind, "kind");
    this.assertCapacity(session.agent_id ?? undefined);
    return this.launch(session, driver, { restart: true });
  }

  /**
   * After a server restart: marks every exec session that the store still holds as active or
   * paused, but that has no process here, `crashed` (reason: sessiond restarted), and kills
   * whatever its old process left behind. They recover like any crash. A hibernated session is
   * no orphan: it stays as it is, and wakes on its next exec.
   * @returns the sessions marked
   */
  markOrphansCrashed(): Promise<Session[]> {
    return markOrphansCrashed(this.manager, this.config, (id) => this.entries.has(id), this.log, this.drivers.kinds(), (s) => this.environment.noteHibernated(s));
  }

  // ---- environment: rebuilds, undo, hibernation (src/drivers/environment) ----------------------

  /**
   * Hibernates a live session now (POST /sessions/{id}/hibernate): its state kept, its process
   * stopped; the next exec or attach wakes it. Active or paused, with no exec running or waiting.
   * @throws session_not_active (409) without a live process here; conflict (409) while busy
   */
  hibernate(ref: string): Promise<Session> {
    this.assertOpen();
    return this.environment.hibernate(ref, "request");
  }

  /**
   * Steps a python or typescript session back one exec (POST /sessions/{id}/undo): its
   * interpreter rebuilt without its latest cell, and its workspace as before that cell when the
   * session was started with `undo_files`.
   * @throws conflict (409) with nothing to undo or while busy; session_not_active (409) unless active
   */
  undo(ref: string): Promise<UndoReport> {
    this.assertOpen();
    return this.environment.undo(ref);
  }

  /**
   * Runs `change` (a restore of a checkpoint) with the session's interpreter stopped, then
   * rebuilds the interpreter from the new history. Sessions of other kinds, or without a process
   * here, only get the change.
   */
  rebuildAround<T>(ref: string, reason: RebuildReason, change: () => Promise<T>): Promise<Rebuilt<T>> {
    return this.environment.rebuildAround(ref, reason, change);
  }

  /**
   * Starts the interpreter (or process) of a session forked from a live one: it gets the
   * source's start options, and its process replays the cells of the checkpoint it was forked
   * from. When no process can start now (maxLiveSessions), the fork stays hibernated and wakes on
   * its first exec.
   * @returns what the start rebuilt, or the error that left it hibernated
   */
  startFork(source: Session, child: Session): Promise<{ rebuild: WakeReport | null; error?: string }> {
    this.assertOpen();
    if (!isExecKind(child.kind) || !this.drivers.get(child.kind)) return Promise.resolve({ rebuild: null });
    return this.environment.adoptFork(source, child);
  }

  /**
   * Wakes a hibernated, active session now (a stream opened on it); nothing for any other.
   * @returns what the wake rebuilt, or undefined when it was not hibernated
   */
  async wake(ref: string): Promise<WakeReport | undefined> {
    return this.wakeFor(await this.manager.get(ref), "stream");
  }

  /** What the environment module may do with the processes here. */
  private environmentHost(): EnvironmentHost {
    return {
      manager: this.manager,
      config: this.config,
      log: this.log,
      view: (id) => {
        const entry = this.entries.get(id);
        return entry && this.viewOf(entry, false);
      },
      stopProcess: async (id) => {
        const entry = this.entries.get(id);
        if (!entry) return;
        // A stopped (paused) process takes no SIGTERM: it goes on first, with no exec to run.
        if (entry.clocks.paused) await entry.process?.suspend?.(false).catch(() => {});
        // Its newest cwd and environment, which its next process starts with.
        if (entry.dirty && entry.state === "live") {
          if (entry.syncTimer) clearTimeout(entry.syncTimer);
          entry.syncTimer = undefined;
          await withTimeout(entry.queue.run(() => this.syncState(entry), { internal: true }), this.config.interruptGraceMs).catch((err: unknown) => this.syncFailed(entry, err));
        }
        await this.end(entry, { status: "none", keep: true });
      },
      startProcess: async (session, { cwd, prelude }) => {
        this.assertOpen();
        const driver = this.driverFor(session.kind, "kind");
        this.assertCapacity(session.agent_id ?? undefined);
        const usable = cwd !== undefined && (await this.cwdUsable(session, cwd, await this.workspace(session)));
        return this.launch(session, driver, { restart: true, alreadyActive: true, rebuild: true, ...(usable ? { cwd } : {}), ...(prelude ? { prelude } : {}) });
      },
      workspace: (session) => this.workspace(session),
    };
  }

  private viewOf(entry: Entry, hasJobs: boolean): ProcessView {
    return {
      state: entry.state,
      busy: entry.running !== undefined || entry.queue.waitingExecs > 0 || entry.queue.busy,
      paused: entry.clocks.paused,
      hasJobs,
      idleMs: this.clock() - entry.clocks.lastActivity,
    };
  }

  /**
   * The entry of a session that can take `action` now, waking it first when it is hibernated —
   * also when it fell asleep while this call waited (an idle hibernation that was already under way).
   */
  private async entryWaking(session: Session, action: string, statuses?: readonly SessionStatus[]): Promise<{ entry: Entry; woke: WakeReport | undefined }> {
    let woke = await this.wakeFor(session, action);
    try {
      return { entry: await this.liveEntry(session, action, statuses), woke };
    } catch (err) {
      if (!isSessiondError(err, "session_not_active") || woke) throw err;
      woke = await this.wakeFor(session, action);
      if (!woke) throw err;
      return { entry: await this.liveEntry(session, action, statuses), woke };
    }
  }

  /** Wakes a hibernated session for an exec or attach (after any operation in progress on it). */
  private async wakeFor(session: Session, _action: string): Promise<WakeReport | undefined> {
    if (!isExecKind(session.kind)) return undefined;
    await this.environment.pending(session.id)?.catch(() => {});
    if (this.entries.has(session.id)) return undefined;
    const current = await this.manager.find(session.id);
    if (!current || !hibernatedMark(current)) return undefined;
    this.assertOpen();
    return this.environment.wakeFor(current);
  }

  /**
   * With several nodes: marks the live sessions of nodes that stopped answering crashed, every
   * `leaseRenewMs`, until close (a dead node cannot say so itself). Nothing on one node.
   */
  watchOrphans(): void {
    if (!this.manager.clustered || this.orphanWatch || this.closed) return;
    const pass = () => {
      this.orphanWatch = setTimeout(() => {
        this.markOrphansCrashed()
          .then((marked) => {
            if (marked.length) this.log.warn({ sessions: marked.map((s) => s.id), reason: marked[0]!.error }, "live sessions of a node that stopped answering marked crashed");
          })
          .catch((err: unknown) => this.log.error({ err }, "could not look for the sessions of nodes that stopped answering"))
          .finally(() => {
            if (!this.closed) pass();
          });
      }, this.config.leaseRenewMs);
      this.orphanWatch.unref();
    };
    pass();
  }

  // ---- streams -------------------------------------------------------------------------------

  /** Every kept chunk of every exec's output as it arrives, with its offset. @returns unsubscribe */
  onOutput(listener: (event: OutputEvent) => void): () => void {
    this.outputListeners.add(listener);
    return () => this.outputListeners.delete(listener);
  }

  /**
   * Stops every process (their sessions become `crashed`, reason: sessiond shut down, and recover
   * after the next start) and the reaper. Call before closing the SessionManager.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.reaper.stop();
    clearTimeout(this.orphanWatch);
    await Promise.all([...this.entries.values()].map((entry) => this.end(entry, { status: "crashed", reason: SERVER_GONE.shutDown })));
    this.sandboxes.close();
    this.unsubscribe();
  }

  // ---- internals: starting -----------------------------------------------------------------

  private async launch(
    session: Session,
    driver: SessionDriver,
    options: {
      cwd?: string;
      env?: Record<string, string>;
      cols?: number;
      rows?: number;
      network?: boolean;
      /** Restarting a crashed session: restore its saved state and recover it (unless `alreadyActive`). */
      restart: boolean;
      /** Someone else already recovered it (a `recover` seen on the bus). */
      alreadyActive?: boolean;
      policy?: ExecPolicy;
      /** A rebuild or a wake (environment/): no crash was recovered, so `restarts` stays. */
      rebuild?: boolean;
      /** Runs on the new process before it takes execs (a rebuild's replay); execs sent meanwhile wait. */
      prelude?: (proc: LiveProcess) => Promise<void>;
    },
  ): Promise<Session> {
    let markReady!: () => void;
    let markFailed!: (err: unknown) => void;
    const ready = new Promise<void>((resolve, reject) => {
      markReady = resolve;
      markFailed = reject;
    });
    ready.catch(() => {});
    const now = this.clock();
    const entry: Entry = {
      sessionId: session.id,
      agent: session.agent_id ?? undefined,
      name: session.name,
      kind: driver.kind,
      server: session.server,
      state: "starting",
      process: undefined,
      ready,
      queue: new ExecQueue(this.config.maxQueuedExecs),
      clocks: new SessionClocks(this.clock, now),
      running: undefined,
      persisting: new Set(),
      saved: undefined,
      dirty: false,
      syncWarned: false,
      lastExecAt: now,
      syncTimer: undefined,
      stopped: undefined,
      policy: execPolicyOf(options.policy ?? session.runtime_metadata.exec_policy),
      book: new ExecBook(this.config.maxQueuedExecs),
      background: new BackgroundJobs(),
      sandbox: undefined,
      diskCheckedAt: now,
    };
    // Registered before any await: from here an exec waits for the start instead of finding no process.
    this.entries.set(session.id, entry);
    let process: LiveProcess | undefined;
    let active = !options.restart || options.alreadyActive === true;
    try {
      const workspace = await this.workspace(session);
      const saved = options.restart ? savedState(session) : undefined;
      const local = session.server === "local";
      // A saved cwd the sandbox would not show (its private /tmp is gone with the old process) falls back to the workspace.
      const savedCwdUsable = saved?.cwd && (await this.cwdUsable(session, saved.cwd, workspace));
      const cwd = options.cwd ?? (savedCwdUsable ? saved.cwd : workspace);
      const held = this.held.get(session.id);
      const serverOptions = local ? undefined : (held?.target ?? (await this.resolveTarget(session.server, undefined)));
      const env = processEnv(this.config, this.hostEnv, session, workspace, saved?.env ?? options.env);
      const runtimeDir = await freshRuntimeDir(this.config, session.id);
      const sandbox = local ? await this.sandboxes.plan(session, workspace, cwd, options.network) : undefined;
      entry.sandbox = sandbox;
      const cols = options.cols ?? numberOr(session.runtime_metadata.cols, this.config.ptyCols);
      const rows = options.rows ?? numberOr(session.runtime_metadata.rows, this.config.ptyRows);
      process = await driver.start({
        sessionId: session.id,
        sessionName: session.name,
        server: { target: session.server, ...(serverOptions ? { options: serverOptions } : {}) },
        ...(held?.secrets ? { secrets: held.secrets } : {}),
        options: modeOptionsOf(session),
        cwd,
        env,
        cols,
        rows,
        runtimeDir,
        limits: {
          startTimeoutMs: this.config.startTimeoutMs,
          interruptGraceMs: this.config.interruptGraceMs,
          maxProcesses: this.config.shellMaxProcesses,
          cgroup: this.config.shellCgroup,
          memoryBytes: this.config.sessionMemoryBytes,
          cpus: this.config.sessionCpus,
          totalMemoryBytes: Math.floor((totalmem() * this.config.sessionsMemoryPercent) / 100),
          fileBytes: sandbox ? this.config.sessionDiskBytes : 0,
          stopGraceMs: this.config.stopGraceMs,
          backgroundOutputBytesPerSecond: this.config.backgroundOutputBytesPerSecond,
        },
        ...(sandbox ? { sandbox } : {}),
      });
      entry.process = process;
      entry.lastExecAt = this.clock();
      entry.clocks.start(entry.lastExecAt);
      const proc = process;
      this.onProcess?.({ sessionId: session.id, pid: proc.pid });
      proc.onExit((exit) => void this.onProcessExit(entry, exit));
      let current = active ? session : (await this.manager.recover(session.id)).session;
      active = true;
      entry.saved = { cwd: proc.cwd, env: withoutSessiondEnv(env) };
      const restarts = numberOr(current.runtime_metadata.restarts, 0) + (options.restart && !options.rebuild ? 1 : 0);
      // A process runs: the session is no longer hibernated.
      const { hibernated: _asleep, ...kept } = current.runtime_metadata;
      current = await this.manager.update(session.id, {
        ...(current.workspace === null ? { workspace } : {}),
        runtime_metadata: {
          ...kept,
          // Where its first process started: a rebuilt interpreter replays its cells from there.
          ...(typeof kept.start_cwd === "string" ? {} : { start_cwd: cwd }),
          target: proc.target,
          pid: proc.pid,
          ...proc.details,
          cwd: proc.cwd,
          env: envToSave(entry.saved.env, this.config),
          workspace,
          cols,
          rows,
          restarts,
          exec_policy: entry.policy,
          ...(local ? { sandbox: sandbox ? "bwrap" : "none" } : {}),
          ...(local && !sandbox ? { warning: UNSANDBOXED } : {}),
          ...(sandbox ? { sandbox_uid: sandbox.uid, sandbox_gid: sandbox.gid, network: sandbox.network } : {}),
          process_started_at: new Date(entry.clocks.startedAt).toISOString(),
        },
      });
      await options.prelude?.(proc);
      entry.state = "live";
      this.log.info({ session: session.id, pid: proc.pid, kind: entry.kind, restart: options.restart }, "live session started");
      if (local && !sandbox) this.log.warn({ session: session.id }, UNSANDBOXED);
      this.reaper.start();
      markReady();
      return current;
    } catch (err) {
      markFailed(err);
      this.entries.delete(session.id);
      this.sandboxes.release(entry.sandbox);
      if (process) await process.stop(0).catch(() => {});
      await removeRuntimeDir(this.config, session.id).catch(() => {});
      // A new session that never ran is failed; a restart leaves (or puts) the session crashed.
      const why = `could not start: ${String((err as Error)?.message ?? err)}`;
      if (!options.restart) await this.manager.fail(session.id, why).catch(() => {});
      else if (active) await this.manager.crash(session.id, why).catch(() => {});
      throw err;
    }
  }

  // ---- internals: execs ----------------------------------------------------------------------

  private checkExec(input: string, options: ExecOptions): { timeoutMs: number } {
    if (typeof input !== "string") throw errors.validation("input", "expected a string");
    if (input.includes("\0")) throw errors.validation("input", "may not contain NUL bytes");
    const size = Buffer.byteLength(input);
    if (size > this.config.maxExecInputBytes) throw errors.tooLarge("input", size, this.config.maxExecInputBytes);
    const timeoutMs = options?.timeout_ms ?? this.config.execTimeoutMs;
    if (!Number.isInteger(timeoutMs) || timeoutMs < 1 || timeoutMs > this.config.maxExecTimeoutMs) {
      throw errors.validation("timeout_ms", `expected an integer from 1 to ${this.config.maxExecTimeoutMs}`);
    }
    return { timeoutMs };
  }

  /**
   * Runs one exec on the process (inside the session's queue) and starts writing its event. The
   * queue moves on once the event's seq is assigned, without waiting for the write to be durable.
   */
  private async runExec(
    entry: Entry,
    execId: string,
    input: string,
    timeoutMs: number,
    extra: { stdin: boolean; procInput: string; replay: boolean },
  ): Promise<{ record: ExecRecord; persisted: Promise<{ seq: number }> }> {
    // Waiting in the queue took time: the session may have been paused or ended meanwhile.
    const session = await this.manager.get(entry.sessionId);
    const proc = entry.process;
    if (session.status !== "active" || !proc || proc.state !== "ready" || entry.state !== "live") {
      // Still active on record with its process gone or going: its ending is being recorded.
      throw notActive(session, "exec", entry.state === "stopping" || session.status === "active" ? "stopping" : session.status);
    }
    // The workspace as it was before the exec, kept for its undo (start option undo_files).
    const filesBefore = await this.environment.beforeExec(session, execId).catch((err: unknown) => {
      this.log.warn({ err, session: entry.sessionId }, "could not snapshot the workspace before an exec; its undo will leave the files");
      return undefined;
    });
    const running: RunningExec = { exec_id: execId, stdin: extra.stdin };
    entry.running = running;
    this.runningExecs++;
    entry.book.running(execId);
    const startedAt = this.clock();
    const startedHr = performance.now();
    entry.clocks.activeAt(startedAt);
    let timer: NodeJS.Timeout | undefined;
    const onTimeout = () => {
      // A paused (SIGSTOPped) command cannot take Ctrl-C, and the escalation would kill the
      // shell: the timeout fires once the session is resumed.
      if (entry.clocks.paused) {
        timer = setTimeout(onTimeout, this.config.reaperIntervalMs);
        return;
      }
      running.reason ??= "timeout";
      proc.interrupt();
    };
    let outcome;
    try {
      const ran = proc.exec({
        input: extra.procInput,
        ...(extra.stdin ? { stdin: true } : {}),
        maxOutputBytes: this.config.maxExecOutputBytes,
        ...(this.outputListeners.size ? { onChunk: (chunk: OutputChunk) => this.emitOutput(entry, running.exec_id, chunk) } : {}),
      });
      // Armed once the command is on its way (a shell's is written at once): the process works while this runs.
      timer = setTimeout(onTimeout, timeoutMs);
      outcome = await ran;
    } finally {
      clearTimeout(timer);
      entry.running = undefined;
      this.runningExecs--;
    }
    const durationMs = Math.round((performance.now() - startedHr) * 1000) / 1000;
    const status: ExecStatus = running.reason ?? (outcome.exitCode === 0 && !outcome.processExited ? "ok" : "error");
    const made = execRecord(
      { exec_id: running.exec_id, input, status, started_at: new Date(startedAt).toISOString(), duration_ms: durationMs },
      outcome,
      this.config.maxEventBytes,
    );
    const record: ExecRecord = { ...made, ...(extra.replay ? {} : { replay: false as const }), ...(filesBefore ? { files_before: filesBefore } : {}) };
    entry.lastExecAt = this.clock();
    entry.clocks.activeAt(entry.lastExecAt);
    const persisted = this.persistExec(entry.sessionId, record);
    entry.persisting.add(persisted);
    void persisted.then(
      () => entry.persisting.delete(persisted),
      () => entry.persisting.delete(persisted),
    );

    if (!outcome.processExited) this.afterExec(entry, proc, input);
    return { record, persisted };
  }

  /**
   * Records an exec's event. Committed at once when no other exec runs on this server and the
   * store has a synchronous path (embedded SQLite): no other exec's event would join its group
   * commit, so its answer does not wait a turn of the event loop for one. Else it joins it.
   */
  private persistExec(sessionId: string, record: ExecRecord): Promise<{ seq: number }> {
    const data = execEventData(record);
    if (this.runningExecs === 0) {
      try {
        const event = this.manager.tryAppendBuiltEventSync(sessionId, "exec", data);
        if (event) return Promise.resolve(event);
      } catch (err) {
        return Promise.reject(err);
      }
    }
    return this.manager.appendBuiltEvent(sessionId, "exec", data);
  }

  private emitOutput(entry: Entry, execId: string, chunk: OutputChunk): void {
    const event: OutputEvent = { session_id: entry.sessionId, exec_id: execId, ...chunk };
    for (const listener of this.outputListeners) {
      try {
        listener(event);
      } catch (err) {
        this.log.warn({ err, session: entry.sessionId }, "an output listener failed");
      }
    }
  }

  /**
   * Keeps runtime_metadata's cwd and environment current for recovery: at once when the exec
   * changed the cwd or looks like it changed the environment, else after stateSyncMs without execs
   * (and without a person half through a line at the terminal).
   */
  private afterExec(entry: Entry, proc: LiveProcess, input: string): void {
    entry.dirty = true;
    if (proc.cwd !== entry.saved?.cwd || proc.mayChangeState(input)) {
      void entry.queue.run(() => this.syncState(entry), { front: true, internal: true }).catch((err: unknown) => this.syncFailed(entry, err));
    } else if (!entry.syncTimer) {
      this.armSync(entry, this.config.stateSyncMs);
    }
  }

  private armSync(entry: Entry, delayMs: number): void {
    entry.syncTimer = setTimeout(() => {
      entry.syncTimer = undefined;
      if (!entry.dirty || entry.state !== "live") return;
      const quiet = this.clock() - entry.lastExecAt;
      if (quiet < this.config.stateSyncMs || entry.queue.busy) return this.armSync(entry, Math.max(1, this.config.stateSyncMs - quiet));
      // A person half through a line at the terminal: the capture's line would wipe theirs.
      if (entry.process?.personAtTerminal) return this.armSync(entry, this.config.stateSyncMs);
      void entry.queue.run(() => this.syncState(entry), { internal: true }).catch((err: unknown) => this.syncFailed(entry, err));
    }, delayMs);
    entry.syncTimer.unref();
  }

  /** Captures the process's state and saves it in runtime_metadata when it changed. */
  private async syncState(entry: Entry): Promise<void> {
    const proc = entry.process;
    // A paused (SIGSTOPped) shell would answer only after the resume: sync later.
    if (!proc || proc.state !== "ready" || entry.state !== "live" || !entry.dirty || entry.clocks.paused) return;
    entry.dirty = false;
    const state = await this.captured(proc);
    entry.syncWarned = false;
    if (entry.saved && sameState(entry.saved, state)) return;
    entry.saved = { cwd: state.cwd, env: withoutSessiondEnv(state.env) };
    const session = await this.manager.get(entry.sessionId);
    await this.manager.update(entry.sessionId, {
      runtime_metadata: {
        ...session.runtime_metadata,
        cwd: entry.saved.cwd,
        env: envToSave(entry.saved.env, this.config),
        state_saved_at: new Date(this.clock()).toISOString(),
      },
    });
  }

  /**
   * The process's state; a capture that takes longer than interruptGraceMs is interrupted as an
   * exec past its timeout is (Ctrl-C, then the escalation that ends a shell which does not come
   * back). Code in the session can hold a capture — a function shadowing one the capture calls —
   * and one held for good would hold the session's queue, and every exec behind it, for good.
   */
  private async captured(proc: LiveProcess): Promise<RuntimeState> {
    const timer = setTimeout(() => proc.interrupt(), this.config.interruptGraceMs);
    try {
      return await proc.captureState();
    } finally {
      clearTimeout(timer);
    }
  }

  private syncFailed(entry: Entry, err: unknown): void {
    if (entry.state !== "live" || entry.process?.state === "exited") return;
    // Once until a capture succeeds again: a session whose code keeps failing its captures (one
    // every interruptGraceMs at most) must not fill the server's log.
    if (entry.syncWarned) return this.log.debug({ err, session: entry.sessionId }, "could not save a live session's state (again)");
    entry.syncWarned = true;
    this.log.warn({ err, session: entry.sessionId }, "could not save a live session's state; said once until a save succeeds");
  }

  // ---- internals: ending ---------------------------------------------------------------------

  /** Stops an entry's process and records the ending (once; later calls wait for the first). */
  private end(entry: Entry, ending: Ending): Promise<void> {
    if (entry.stopped) return entry.stopped;
    entry.stopped = (async () => {
      const wasStarting = entry.state === "starting";
      entry.state = "stopping";
      if (wasStarting) await entry.ready.catch(() => {});
      if (entry.syncTimer) clearTimeout(entry.syncTimer);
      const session = await this.manager.find(entry.sessionId).catch(() => undefined);
      entry.queue.clear(notActive(session ?? { name: entry.name }, "exec", "stopping"));
      if (ending.status === "crashed" && entry.dirty && !entry.running && entry.process?.state === "ready") {
        // Shutting down with the process alive: save its newest state for the recovery.
        entry.state = "live";
        await withTimeout(this.syncState(entry), this.config.interruptGraceMs).catch(() => {});
        entry.state = "stopping";
      }
      if (entry.running) entry.running.reason ??= "interrupted";
      await entry.process?.stop(this.config.stopGraceMs);
      await this.drain(entry);
      await removeRuntimeDir(this.config, entry.sessionId).catch(() => {});
      this.log.info({ session: entry.sessionId, ending: ending.status }, "live session stopped");
      try {
        // Recorded while the entry is still here, so that no one takes the session for an orphan meanwhile.
        await this.record(entry, ending).catch((err: unknown) => {
          if (!isSessiondError(err, "closed") && !isSessiondError(err, "not_found")) throw err;
        });
      } finally {
        this.entries.delete(entry.sessionId);
        this.sandboxes.release(entry.sandbox);
        if (ending.status !== "crashed" && !(ending.status === "none" && ending.keep)) this.held.delete(entry.sessionId);
        if (!this.entries.size) this.reaper.stop();
      }
    })();
    return entry.stopped;
  }

  /** Waits for the running exec and the writes of its event. */
  private async drain(entry: Entry): Promise<void> {
    await entry.queue.idle();
    await Promise.allSettled([...entry.persisting]);
  }

  private async record(entry: Entry, ending: Ending): Promise<void> {
    if (ending.status === "none") return;
    const session = await this.manager.find(entry.sessionId);
    if (!session || !ACTIVE_OR_PAUSED.includes(session.status)) return;
    if (ending.status === "completed") await this.manager.complete(session.id);
    else if (ending.status === "timeout") await this.manager.timeout(session.id, ending.reason);
    else {
      await this.saveLastState(entry, session);
      await this.manager.crash(session.id, ending.reason);
    }
  }

  /** Keeps the last cwd in runtime_metadata (the environment is kept current by the syncs). */
  private async saveLastState(entry: Entry, session: Session): Promise<void> {
    const cwd = entry.process?.cwd;
    if (cwd === undefined || session.runtime_metadata.cwd === cwd) return;
    await this.manager.update(session.id, { runtime_metadata: { ...session.runtime_metadata, cwd } });
  }

  /** The process died without being stopped: the session is crashed (after its last exec is recorded). */
  private async onProcessExit(entry: Entry, exit: ProcessExit): Promise<void> {
    if (entry.stopped || entry.state === "stopping") return;
    const how = exit.cause ?? (exit.signal ? `killed by signal ${exit.signal}` : `exit code ${exit.exitCode}`);
    this.log.warn({ session: entry.sessionId, ...exit }, "a live session's process died");
    await this.end(entry, { status: "crashed", reason: `the ${entry.kind} process exited unexpectedly (${how})` }).catch((err: unknown) =>
      this.log.error({ err, session: entry.sessionId }, "could not record a crash"),
    );
  }

  // ---- internals: limits, follow-up of outside changes --------------------------------------

  private async sweep(): Promise<void> {
    await this.hibernateIdle();
    const now = this.clock();
    for (const entry of this.entries.values()) {
      if (entry.state !== "live" || entry.clocks.paused) continue;
      await entry.background.noteActivity(entry.process, () => entry.clocks.activeNow());
      const reason =
        overLimit({ startedAt: entry.clocks.lifetimeStart, lastActivity: entry.clocks.lastActivity, busy: entry.running !== undefined }, now, this.config) ??
        (await this.overDisk(entry, now));
      if (reason) {
        this.log.info({ session: entry.sessionId, reason }, "reaping a live session");
        void this.end(entry, { status: "timeout", reason }).catch((err: unknown) =>
          this.log.error({ err, session: entry.sessionId }, "could not reap a live session"),
        );
      }
    }
  }

  /** Hibernates the sessions idle past config hibernateAfterMs (a shell running background jobs stays awake: sleep would kill them). */
  private async hibernateIdle(): Promise<void> {
    const after = this.config.hibernateAfterMs;
    if (after <= 0) return;
    const due = [...this.entries.values()].filter((e) => e.state === "live" && !e.clocks.paused && this.clock() - e.clocks.lastActivity >= after);
    if (!due.length) return;
    const candidates = await Promise.all(
      due.map(async (entry) => {
        const jobs = entry.kind === "shell" ? ((await entry.process?.processes?.().catch(() => undefined)) ?? []).length : 0;
        return { sessionId: entry.sessionId, kind: entry.kind, view: this.viewOf(entry, jobs > 0) };
      }),
    );
    await this.environment.hibernateIdle(candidates);
  }

  /**
   * Why a sandboxed session's workspace is over config `sessionDiskBytes`, when it is and the
   * check is due (every `diskCheckIntervalMs`). The kernel caps each file it writes; this catches
   * many files together.
   */
  private async overDisk(entry: Entry, now: number): Promise<string | undefined> {
    const limit = this.config.sessionDiskBytes;
    if (!entry.sandbox || limit === 0 || now - entry.diskCheckedAt < this.config.diskCheckIntervalMs) return undefined;
    entry.diskCheckedAt = now;
    const used = await workspaceBytes(entry.sandbox.workspace, limit);
    return used > limit ? `disk_limit: the workspace holds more than ${limit} bytes (sessionDiskBytes)` : undefined;
  }

  /** Follows status changes made through the SessionManager directly. Runs synchronously on the bus: only schedules work. */
  private follow(change: SessionChange): void {
    const session = change.session;
    if (!isExecKind(session.kind)) return;
    const entry = this.entries.get(session.id);
    if (change.type === "session.deleted") {
      this.environment.forget(session.id);
      if (entry) void this.end(entry, { status: "none" }).catch(() => {});
      return;
    }
    if (change.type === "session.updated") {
      if (entry) entry.name = session.name;
      if (change.updates.includes("status")) {
        if (isTerminal(session.status) || session.status === "crashed") this.environment.forget(session.id);
        else this.environment.noteStatus(session);
      }
      if (entry && entry.state === "live" && change.updates.includes("status") && (isTerminal(session.status) || session.status === "crashed")) {
        void this.end(entry, { status: "none" }).catch(() => {});
      } else if (entry && entry.state === "live" && change.updates.includes("status")) {
        if (session.status === "paused") this.suspend(entry, true);
        else if (session.status === "active") this.suspend(entry, false);
      }
      return;
    }
    if (change.type === "event.appended" && change.event.type === "recover" && !this.closed) {
      // Recovered through the SessionManager (a generic resume/recover route): bring the process
      // back — once the dead one's entry is gone (its crash is recorded before its entry goes).
      const driver = this.drivers.get(session.kind);
      if (!driver) return;
      if (!entry) void this.relaunch(session, driver);
      // Still being stopped (a sandboxed process takes a moment to end): follow once it has.
      else if (entry.state === "stopping") {
        void entry.stopped?.then(() => {
          if (!this.entries.has(session.id)) void this.relaunch(session, driver);
        });
      }
    }
  }

  private async relaunch(session: Session, driver: SessionDriver): Promise<void> {
    try {
      this.assertCapacity(session.agent_id ?? undefined);
      await this.launch(session, driver, { restart: true, alreadyActive: true });
    } catch (err) {
      this.log.warn({ err, session: session.id }, "could not restart a recovered session");
      await this.manager.crash(session.id, `could not restart: ${String((err as Error)?.message ?? err)}`).catch(() => {});
    }
  }

  // ---- internals: interactive work --------------------------------------------------------

  /**
   * SIGSTOPs (pause) or SIGCONTs (resume) the process and everything it started, in order. While
   * paused, the idle and lifetime clocks stand still: on resume both move out by the pause.
   */
  private suspend(entry: Entry, on: boolean): void {
    void entry.clocks
      .suspend(
        on,
        () => (entry.state === "live" ? entry.process : undefined),
        () => {
          // A state sync skipped while paused runs now.
          if (entry.dirty && !entry.syncTimer) this.armSync(entry, this.config.stateSyncMs);
        },
      )
      .catch((err: unknown) => this.log.warn({ err, session: entry.sessionId }, "could not pause or resume a live session"));
  }

  /** The entry of a session whose execs may be addressed (active or paused). */
  private async entryFor(ref: string, action: string): Promise<Entry> {
    const session = await this.manager.get(ref);
    return this.liveEntry(session, action, ACTIVE_OR_PAUSED);
  }

  /** @throws exec_not_running unless `execId` runs now; not_found when unknown */
  private runningExec(entry: Entry, execId: string, action: string): RunningExec {
    const running = entry.running;
    if (running?.exec_id === execId) return running;
    const known = entry.book.get(execId);
    if (!known) throw new SessiondError("not_found", { what: "exec", ref: execId });
    throw new SessiondError("exec_not_running", { action, exec_id: execId, state: known.state });
  }

  // ---- internals: checks -------------------------------------------------------------------

  private driverFor(kind: unknown, field: string): SessionDriver {
    assertModeEnabled(this.config, kind, { field, available: this.drivers.kinds() });
    return this.drivers.get(kind)!;
  }

  /**
   * The settings a target needs, resolved now so that bad ones are a 400 before any session
   * exists: for ssh the host, user and key (request over config `ssh`).
   * @throws validation naming `server_options…`
   */
  private async resolveTarget(server: string, options: Record<string, unknown> | undefined): Promise<Record<string, unknown> | undefined> {
    if (server === "ssh") return { ssh: await resolveSshTarget(options, this.config.ssh) };
    if (options !== undefined) throw errors.validation("server_options", `the ${server} target takes no server_options`);
    return undefined;
  }

  /** @throws validation naming the first mode option `driver` does not take, and the modes that do */
  private assertModeOptions(driver: SessionDriver, given: ModeOptions): void {
    for (const name of Object.keys(given) as (keyof ModeOptions)[]) {
      if (driver.startOptions?.includes(name)) continue;
      const takers = this.drivers.kinds().filter((kind) => this.drivers.get(kind)?.startOptions?.includes(name));
      const own = driver.startOptions?.length ? `; ${driver.kind} sessions take ${driver.startOptions.join(", ")}` : "";
      throw errors.validation(name, `not an option of ${driver.kind} sessions (${takers.length ? `only of ${takers.join(", ")}` : "of no mode here"})${own}`);
    }
  }

  private assertTarget(driver: SessionDriver, server: string): void {
    if (server === "ssm") throw ssmUnavailable();
    if (!driver.targets.includes(server)) {
      throw errors.validation("server", `${driver.kind} sessions cannot run on ${server} yet; supported: ${driver.targets.join(", ")}`);
    }
  }

  private assertExecKind(session: Session): asserts session is Session & { kind: ExecKind } {
    if (!isExecKind(session.kind)) {
      throw errors.conflict(`session ${session.name} is an agent record; only ${EXEC_KINDS.join(", ")} sessions run commands`, "kind");
    }
  }

  /** The entry of a session that can take `action` now (waiting for a start in progress). */
  private async liveEntry(session: Session, action: string, statuses: readonly SessionStatus[] = ["active"]): Promise<Entry> {
    this.assertExecKind(session);
    if (!statuses.includes(session.status)) {
      // A crashed session is recovered, but not by a server whose live sessions are off: it says how to turn them on.
      if (session.status === "crashed") this.driverFor(session.kind, "kind");
      throw notActive(session, action, session.status);
    }
    // A rebuild, hibernation or wake in progress: the process is being replaced.
    await this.environment.pending(session.id)?.catch(() => {});
    let entry = this.entries.get(session.id);
    for (let hops = 0; hops < 3 && entry; hops++) {
      if (entry.state === "starting") await entry.ready;
      // Recovered just now, while the crashed process's entry is still being wound up (its state
      // saved, its process ended: a crash by hand leaves it running until then): its successor follows.
      else if (entry.state === "stopping" && session.status === "active") {
        await entry.stopped;
        const now = await this.manager.get(session.id);
        if (!statuses.includes(now.status)) throw notActive(now, action, now.status);
      } else break;
      entry = this.entries.get(session.id);
    }
    if (!entry) {
      const now = await this.manager.get(session.id);
      if (hibernatedMark(now)) throw notActive(now, action, "hibernated");
      const startedAt = Date.parse(String(session.runtime_metadata.process_started_at));
      if (!(startedAt < this.createdAt)) {
        throw errors.conflict(`session ${session.name} has no process on this server; start exec sessions through LiveSessions.start`);
      }
      // Its process belonged to an earlier server, and markOrphansCrashed has not run yet.
      const crashed = await this.manager.crash(session.id, SERVER_GONE.restarted).catch(() => session);
      throw notActive(crashed, action, crashed.status);
    }
    if (entry.state === "stopping") throw notActive(session, action, "stopping");
    return entry;
  }

  private reserve(agent: string | undefined): void {
    this.assertCapacity(agent);
    this.reserved++;
    if (agent !== undefined) this.reservedFor.set(agent, (this.reservedFor.get(agent) ?? 0) + 1);
  }

  private unreserve(agent: string | undefined): void {
    this.reserved--;
    if (agent === undefined) return;
    const left = (this.reservedFor.get(agent) ?? 1) - 1;
    if (left > 0) this.reservedFor.set(agent, left);
    else this.reservedFor.delete(agent);
  }

  /** @throws rate_limited past maxLiveSessions, or past maxLiveSessionsPerAgent for `agent` */
  private assertCapacity(agent: string | undefined): void {
    if (this.entries.size + this.reserved >= this.config.maxLiveSessions) throw tooMany(this.config.maxLiveSessions);
    const max = this.config.maxLiveSessionsPerAgent;
    if (agent === undefined || max === 0) return;
    let held = this.reservedFor.get(agent) ?? 0;
    for (const entry of this.entries.values()) if (entry.agent === agent) held++;
    if (held >= max) {
      throw new SessiondError("rate_limited", { reason: `agent ${agent} already has ${max} live sessions on this server (maxLiveSessionsPerAgent); stop one first` });
    }
  }

  private assertOpen(): void {
    if (this.closed) throw new SessiondError("shutting_down");
  }

  private info(entry: Entry): LiveInfo {
    // An llm helper's working directory is no state of its conversation.
    const cwd = entry.kind === "llm" ? null : (entry.process?.cwd ?? null);
    const running_exec_id = entry.running?.exec_id ?? null;
    const queued = entry.queue.waitingExecs;
    const paused = entry.clocks.paused;
    return {
      id: entry.sessionId,
      mode: entry.kind,
      server: entry.server,
      state: { status: entry.state, cwd, paused, running_exec_id, queued },
      session_id: entry.sessionId,
      name: entry.name,
      kind: entry.kind,
      pid: entry.process?.pid ?? null,
      cwd,
      started_at: new Date(entry.clocks.startedAt).toISOString(),
      last_activity_at: new Date(entry.clocks.lastActivity).toISOString(),
      running_exec_id,
      queued,
      exec_policy: entry.policy,
      paused,
      lifetime_ends_at: entry.clocks.lifetimeEnd(this.config.maxLifetimeMs),
    };
  }
}

/** A terminal size, as a start takes it: made once (validate compiles a schema once per object). */
const TERMINAL_SIZE = Type.Object({ cols: LiveStartSchema.properties.cols, rows: LiveStartSchema.properties.rows });

// ---- helpers -----------------------------------------------------------------------------------

function notActive(session: Pick<Session, "name"> & { status?: SessionStatus }, action: string, status: SessionStatus | "hibernated" | "stopping"): SessiondError {
  return new SessiondError("session_not_active", { action, ref: session.name, status, hint: notActiveHint(status) });
}




/** Said in the start answer (runtime_metadata.warning) and the log of every session config `sandbox: "none"` starts. */
const UNSANDBOXED = 'this session runs unsandboxed, as the server\'s user (config sandbox: "none"): its code can read the data dir and the server\'s environment';

function tooMany(max: number): SessiondError {
  return new SessiondError("rate_limited", { reason: `${max} live sessions are running (maxLiveSessions); stop one first` });
}

function withoutId(record: ExecRecord): Omit<ExecRecord, "exec_id"> {
  const { exec_id: _, ...rest } = record;
  return rest;
}

async function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), ms)));
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function numberOr(value: unknown, fallback: number): number {
  return typeof value === "number" && Number.isFinite(value) ? value : fallback;
}

/**
 * The mode options a session was started with (kept in its runtime_metadata, which a PATCH may
 * have changed since: checked again, so a restart never runs what a start would refuse the shape of).
 * @throws validation naming `runtime_metadata.mode_options…`
 */
function modeOptionsOf(session: Session): ModeOptions {
  const kept = session.runtime_metadata.mode_options;
  return kept === undefined ? {} : validate(ModeOptionsSchema, kept, "runtime_metadata.mode_options");
}

/** A start's mode options (ModeOptionsSchema's names), apart from the session's own fields. */
function splitModeOptions<T extends Record<string, unknown>>(input: T): { modeFields: Record<string, unknown>; create: Omit<T, keyof ModeOptions> } {
  const modeFields: Record<string, unknown> = {};
  const create: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(input)) {
    if ((MODE_OPTION_NAMES as readonly string[]).includes(key)) modeFields[key] = value;
    else create[key] = value;
  }
  return { modeFields, create: create as Omit<T, keyof ModeOptions> };
}

/**
 * What of the mode options is stored (`runtime_metadata.mode_options`) and what is held in
 * memory: a non-empty `api_key` joins the secrets (as `secrets.api_key`), never stored; `""`
 * (the endpoint takes no key) is no secret, and is stored so that a recovered session knows it.
 * @throws validation naming `api_key` when it and `secrets.api_key` disagree
 */
function modeOptionsToKeep(given: ModeOptions, secrets: Readonly<Record<string, string>> | undefined): { stored: ModeOptions; secrets: Readonly<Record<string, string>> | undefined } {
  const { api_key, ...stored } = given;
  if (api_key === undefined) return { stored, secrets };
  if (secrets?.api_key !== undefined && secrets.api_key !== api_key) throw errors.validation("api_key", "differs from secrets.api_key: give the key once");
  if (api_key === "") return { stored: { ...stored, api_key }, secrets };
  return { stored, secrets: { ...secrets, api_key } };
}

/** Seed 000 names ssm as a target; this build has no transport for it (docs/exec-sessions.md#targets). */
function ssmUnavailable(): SessiondError {
  return new SessiondError(
    "target_unavailable",
    {
      server: "ssm",
      reason:
        'this build of sessiond has no AWS Systems Manager transport (it would need the AWS CLI with session-manager-plugin and AWS credentials on the server, and sessiond to drive `aws ssm start-session`, which it does not). Use server "local", or "ssh" to an instance that runs sshd',
    },
    { field: "server" },
  );
}

function dropUndefined<T extends Record<string, unknown>>(value: T): Partial<T> {
  const out: Partial<T> = {};
  for (const [key, v] of Object.entries(value)) if (v !== undefined) (out as Record<string, unknown>)[key] = v;
  return out;
}

async function isDirectory(path: string): Promise<boolean> {
  return stat(path).then(
    (s) => s.isDirectory(),
    () => false,
  );
}

async function assertDirectory(path: string, field: string): Promise<void> {
  if (!(await isDirectory(path))) throw errors.validation(field, `${path} is not an existing directory`);
}

