import type { ProcessExit, SessionProcess } from "../driver.js";

export type { SessionProcess };

/** Where the shell writes the exec's stderr, as the rc that sets it up needs to know. */
export interface StderrPipe {
  /** The FIFO's path on the shell's host. */
  readonly path: string;
  /**
   * sessiond reads it synchronously when the exec's end marker arrives on the terminal (a local
   * FIFO): everything the command wrote is in it by then, so the terminal marker alone ends the
   * exec. False when its bytes arrive on their own channel (ssh), which then needs an end marker
   * of its own.
   */
  readonly drained: boolean;
}

/**
 * Builds the shell's setup (see rc.ts) for a transport's stderr pipe and its state file: a file
 * the shell may write, that only the session's processes see (the state capture reads `export -p`
 * through it; see rc.ts) — its private /tmp in a sandbox, else beside the FIFO.
 */
export type RcBuilder = (stderrPipe: StderrPipe, stateFile: string) => string;

/**
 * What a shell session runs over: a terminal with a bash in it, and a way to read the exec's
 * stderr pipe. The shell logic (markers, exit codes, cwd, interrupt, the tap) lives once in
 * ShellProcess; a transport only moves bytes and signals — node-pty and a local FIFO for the
 * `local` target, an ssh2 PTY channel and a second channel reading a remote FIFO for `ssh`.
 */
export interface ShellTransport {
  /** `local` or `ssh`. */
  readonly target: string;
  /** The shell's pid (on the remote host for ssh). */
  readonly pid: number;
  /** Identity worth keeping in runtime_metadata (never credentials). */
  readonly details: Readonly<Record<string, string | number>>;
  /** Writes to the terminal's input. */
  send(bytes: Buffer): void;
  /** Bytes sent that the terminal has not taken yet (its program is not reading them). */
  readonly inputBacklog: number;
  /** Drops what waits to be taken (an interrupt does, as the terminal's own Ctrl-C drops typed-ahead input). */
  discardInput(): void;
  /** Every byte the terminal outputs. Set once, before the shell is told to start. */
  onData(listener: (data: Buffer) => void): void;
  /** Every byte of the stderr pipe, pushed as it comes (ssh) or as {@link drainStderr} reads it (local). */
  onStderr(listener: (data: Buffer) => void): void;
  /** The shell ended (for ssh: or the connection dropped). Set once. */
  onExit(listener: (exit: ProcessExit) => void): void;
  /**
   * Reads what the stderr pipe holds now, synchronously, into the onStderr listener.
   * @returns the bytes read; a transport that pushes stderr by itself returns 0
   */
  drainStderr(): number;
  /** The stderr pipe is read only when drained (so the shell polls it while an exec runs). */
  readonly stderrNeedsPolling: boolean;
  resize(cols: number, rows: number): void;
  /** Stops / restarts reading the terminal (flow control). */
  pause(): void;
  resume(): void;
  /** Whether bash itself is the terminal's foreground process now (undefined when unknown cheaply). */
  shellInForeground(): boolean | undefined;
  /**
   * Kills the terminal's foreground process group unless it is the shell's, with a SIGINT to the
   * shell first, so that bash ends the command line there as after a Ctrl-C. @returns whether one was killed
   */
  killForeground(): Promise<boolean>;
  /** Sends `signal` to every process of the shell's terminal session; stopping the shell first and continuing it last. */
  signalAll(signal: "SIGSTOP" | "SIGCONT"): Promise<void>;
  /** The processes of the shell's terminal session besides the shell itself. */
  processes(): Promise<SessionProcess[]>;
  /** Sends `signal` to the process group `pgid` (or the process, when it leads no group), if it belongs to the session. @returns whether it did */
  signalProcess(pid: number, signal: NodeJS.Signals): Promise<boolean>;
  /** The sizes of files on the shell's host, -1 for a missing one. */
  fileSizes(paths: readonly string[]): Promise<number[]>;
  /** Ends the shell and everything it started: `leaderSignal` to the shell, SIGTERM to the rest, SIGKILL after `graceMs`. */
  terminate(graceMs: number, leaderSignal: NodeJS.Signals): Promise<void>;
  /** After the shell exited: kills what it left behind when `unexpected`, releases files, cgroups, connections. */
  release(unexpected: boolean, graceMs: number): Promise<void>;
}
