import type { SessionKind } from "../core/index.js";
import type { ModeOptions } from "./mode-options.js";

/**
 * The contract every kind of live session implements (seed 000's `SessionDriver`, split in two):
 * a {@link SessionDriver} per kind starts processes, and each {@link LiveProcess} is one running
 * session — exec, interrupt, resize, stop, and an exit signal. Persistence, queueing, limits and
 * the id-keyed seed-000 verbs (`start`, `exec`, `stop`, `logs`) live once, in `LiveSessions`, so a
 * new kind is only this contract: one folder, one line in the registry.
 */

/** Where a live session runs: `local` now; `ssh` plugs in here (same driver over an ssh channel). */
export interface ServerSpec {
  readonly target: string;
  /** Target-specific settings (host, user, key… for ssh). */
  readonly options?: Readonly<Record<string, unknown>>;
}

/** Everything a driver needs to start one session's process. */
export interface StartSpec {
  readonly sessionId: string;
  readonly sessionName: string;
  readonly server: ServerSpec;
  /** Credentials from the start request (an llm session's `api_key`): memory only, never stored. */
  readonly secrets?: Readonly<Record<string, string>>;
  /** This kind's own start options, as given at start (`interpreter` for python…; see {@link SessionDriver.startOptions}). */
  readonly options?: Readonly<ModeOptions>;
  /** The working directory the process starts in (it exists). */
  readonly cwd: string;
  /** The whole environment of the process; nothing else is inherited. */
  readonly env: Readonly<Record<string, string>>;
  readonly cols: number;
  readonly rows: number;
  /** A private folder for the driver's own files (created, empty, removed after exit). */
  readonly runtimeDir: string;
  readonly limits: ProcessLimits;
  /** How the process is contained on the local target (docs/security.md); absent with config `sandbox: "none"`. */
  readonly sandbox?: SandboxPlan;
}

/** The programs a sandboxed launch runs, by absolute path (a session's PATH is not the server's). */
export interface SandboxTools {
  /** bubblewrap: the namespaces and the session's view of the filesystem. */
  readonly bwrap: string;
  /** util-linux setpriv: drops to the session's uid with no capabilities and no_new_privs. */
  readonly setpriv: string;
}

/** How one session's process is sandboxed: decided by LiveSessions, carried in the StartSpec. */
export interface SandboxPlan {
  readonly tools: SandboxTools;
  /** The session's own uid and gid (never the server's). */
  readonly uid: number;
  readonly gid: number;
  /** Whether the session shares the host's network; false gives it a network namespace with only loopback. */
  readonly network: boolean;
  /** The one host folder the session may write: its workspace. */
  readonly workspace: string;
  /** Host paths the session also sees read-only (config `sandboxReadOnlyPaths`). */
  readonly readOnlyPaths: readonly string[];
}

/** The limits a process enforces itself. */
export interface ProcessLimits {
  /** How long the process may take to become ready. */
  readonly startTimeoutMs: number;
  /** After an interrupt, how long before the running command is killed (and as long again before the process). */
  readonly interruptGraceMs: number;
  /** The most processes the session may have (`pids.max` of its cgroup, `ulimit -u`); 0 for no limit. */
  readonly maxProcesses: number;
  /** Put the process in a cgroup of its own (processes, memory, CPU) where the host allows it. */
  readonly cgroup: boolean;
  /** The session's memory limit (its cgroup's); 0 for none. */
  readonly memoryBytes: number;
  /** The session's CPU quota in cores (its cgroup's); 0 for none. */
  readonly cpus: number;
  /** The memory of every live session together (their parent cgroup's); 0 for none. */
  readonly totalMemoryBytes: number;
  /** The largest file the session may write (RLIMIT_FSIZE); 0 for none. */
  readonly fileBytes: number;
  /** When the process dies on its own, how long what it left behind gets between SIGTERM and SIGKILL. */
  readonly stopGraceMs: number;
  /** Terminal output between execs read per second, at most (a shell's); 0 or absent for no budget. */
  readonly backgroundOutputBytesPerSecond?: number;
}

/** The two output streams of an exec. */
export type OutputStream = "stdout" | "stderr";

/**
 * A piece of an exec's output as it arrives. `offset` counts the bytes of that stream this exec
 * produced before this chunk, so a reader that lost its place can ask for "from offset N".
 */
export interface OutputChunk {
  readonly stream: OutputStream;
  readonly offset: number;
  readonly data: Buffer;
}

/** One exec, as the coordinator hands it to a process. */
export interface ExecRequest {
  readonly input: string;
  /** Bytes of output (both streams together) to keep; the rest is read and dropped. */
  readonly maxOutputBytes: number;
  /** Called with every kept chunk, in order, as it arrives. */
  readonly onChunk?: (chunk: OutputChunk) => void;
  /** The command reads the terminal, so that stdin can be sent to it; else it reads /dev/null (EOF at once). */
  readonly stdin?: boolean;
}

/** What an exec produced, before the coordinator turns it into an ExecResult. */
export interface ExecOutcome {
  readonly stdout: Buffer;
  readonly stderr: Buffer;
  /** The command's exit status; null when the process died under it or it was killed by a signal. */
  readonly exitCode: number | null;
  /** Output was dropped past `maxOutputBytes`. */
  readonly truncated: boolean;
  /** The process itself ended before the exec completed. */
  readonly processExited: boolean;
}

/** How a process ended. */
export interface ProcessExit {
  readonly exitCode: number | null;
  readonly signal: number | null;
  /** Why, when sessiond knows more than the status tells (killed over the session's memory limit). */
  readonly cause?: string;
}

/** The state a process can be restarted into after a crash: kept in the session's runtime_metadata. */
export interface RuntimeState {
  readonly cwd: string;
  /** Exported environment variables. */
  readonly env: Readonly<Record<string, string>>;
}

/** The lifecycle of one process; every transition is logged. */
export type ProcessState = "starting" | "ready" | "running" | "stopping" | "exited";

/**
 * The raw terminal of a live session, for people attached to it (WebSocket /sessions/{id}/attach
 * builds its roles, replay buffer and flow control on this). One tap per process, shared by every
 * attached client; the exec protocol keeps working while people type (see docs/exec-sessions.md,
 * "The terminal tap").
 */
export interface TerminalTap {
  /**
   * Keystrokes into the terminal, as a person types them (control bytes such as Ctrl-C included).
   * @returns false, taking none of them, while more than MAX_TYPED_BACKLOG_BYTES typed earlier wait unread (a lone Ctrl-C is still taken: it drops them)
   */
  write(data: string | Buffer): boolean;
  /**
   * Every byte the terminal shows a person, in order: the output of execs and of what people
   * typed, with sessiond's completion markers and bookkeeping output stripped, and what a person
   * types echoed while the shell itself reads the line. Listeners run synchronously in the read
   * path: copy, do not block. @returns a function that unsubscribes
   */
  onData(listener: (data: Buffer) => void): () => void;
  /** Stops reading the terminal (flow control: a slow attached driver). Execs wait too. Counted: each pause needs a resume. */
  pause(): void;
  /** Reads the terminal again after {@link pause}. */
  resume(): void;
  readonly cols: number;
  readonly rows: number;
}

/** One running live session. Execs are serialized by the caller: at most one runs at a time. */
export interface LiveProcess {
  readonly pid: number;
  readonly target: string;
  readonly state: ProcessState;
  /** The working directory after the last exec (tracked exactly). */
  readonly cwd: string;
  /** Set once the process has ended. */
  readonly exit: ProcessExit | undefined;
  /** Identity details worth keeping in runtime_metadata (e.g. the pid's start time). */
  readonly details: Readonly<Record<string, string | number>>;
  /** Runs one exec. Resolves (never rejects for the command's own failure) when it completes or the process ends. */
  exec(request: ExecRequest): Promise<ExecOutcome>;
  /** Interrupts the running exec (Ctrl-C), escalating to kill it, then the process, if it does not stop. @returns false when nothing runs */
  interrupt(): boolean;
  resize(cols: number, rows: number): void;
  /** Reads the state to restore after a crash. Runs as an exec: call it between execs only. */
  captureState(): Promise<RuntimeState>;
  /** Ends the process and everything it started: SIGTERM, then SIGKILL after `graceMs`. Resolves when it has exited. */
  stop(graceMs: number): Promise<void>;
  /** @returns a function that unsubscribes */
  onExit(listener: (exit: ProcessExit) => void): () => void;
  /**
   * Whether an exec of `input` may have changed the state `captureState` reads (so it is worth
   * saving now rather than later). A cheap guess; false negatives are caught by the periodic sync.
   */
  mayChangeState(input: string): boolean;
  /** The raw terminal, for kinds that have one (the shell); undefined otherwise. */
  readonly terminal?: TerminalTap;
  /**
   * Whether a person is in the middle of something at the terminal: a line half typed through
   * the tap, or a program they started there holding it. sessiond's own background work (the
   * periodic state capture) waits meanwhile, since its line would wipe theirs or go to their program.
   */
  readonly personAtTerminal?: boolean;
  /**
   * How many times the process has shown output outside an exec (background work): a change is
   * activity for the idle timer. A count, not a time, so two outputs in one millisecond still differ.
   */
  readonly outputsBetweenExecs?: number;
  /** Sends stdin to the running exec (started with `stdin`); `eof` ends it. @returns false when no exec reads stdin now */
  writeStdin?(data: Buffer, eof: boolean): boolean;
  /** Kills the running command only (its process group), not the process. @returns false when nothing runs */
  killRunning?(): Promise<boolean>;
  /** SIGSTOP (true) or SIGCONT (false) the process and everything it started (pause/resume). */
  suspend?(on: boolean): Promise<void>;
  /** The processes the session's process started that are still alive (background work). */
  processes?(): Promise<SessionProcess[]>;
  /** Signals one of {@link processes} (its process group when it leads one). @returns false when it is not one of them */
  signalProcess?(pid: number, signal: NodeJS.Signals): Promise<boolean>;
  /** The sizes of files where the process runs (background job logs), -1 for a missing one. */
  fileSizes?(paths: readonly string[]): Promise<number[]>;
}

/** One process a live session started (GET /sessions/{id}/processes). */
export interface SessionProcess {
  readonly pid: number;
  /** Its process group; a job the shell started in the background leads its own. */
  readonly pgid: number;
  readonly ppid: number;
  /** R, S, T (stopped)… */
  readonly state: string;
  /** Its command line, cut at 512 characters. */
  readonly command: string;
}

/** One kind of live session (shell, python…): starts its processes. */
export interface SessionDriver {
  readonly kind: Exclude<SessionKind, "agent">;
  /** The `server` targets it can run on. */
  readonly targets: readonly string[];
  /** The mode options it takes (ModeOptionsSchema's names); a start giving another is refused naming it. @default none */
  readonly startOptions?: readonly (keyof ModeOptions)[];
  /**
   * Checks a start's mode options (and what they depend on) before any session exists, so that
   * what would fail later is a 400 naming the field now.
   * @throws validation naming the field
   */
  checkStart?(start: StartCheck): Promise<void>;
  /** @throws spawn_failed when the process cannot start or does not become ready in time */
  start(spec: StartSpec): Promise<LiveProcess>;
}

/** What {@link SessionDriver.checkStart} looks at: the mode options, the held secrets, the session's metadata. */
export interface StartCheck {
  readonly options: Readonly<ModeOptions>;
  readonly secrets: Readonly<Record<string, string>> | undefined;
  readonly metadata: Readonly<Record<string, unknown>>;
  /** Whether the session's process will see this host path (always, without a sandbox). */
  readonly visible: (path: string) => boolean;
  /** How long a check may run a program for (config `startTimeoutMs`). */
  readonly timeoutMs: number;
}
