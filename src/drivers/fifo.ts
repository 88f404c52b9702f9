import { spawnSync } from "node:child_process";
import { closeSync, constants, openSync, readSync } from "node:fs";
import type { SandboxPlan } from "./driver.js";
import type { DriverLog } from "./log.js";
import { chownForSession } from "./sandbox/index.js";

/** A FIFO's capacity on Linux, and what one read takes from it. */
export const PIPE_CHUNK = 65_536;
/** While an exec runs, its output FIFOs are read at least this often (at once again when a read found a pipe full). */
export const FIFO_POLL_MS = 10;
/** Between execs, output FIFOs (a background job's, a thread's) are read this often, so that writers never block on a full pipe. */
export const FIFO_IDLE_POLL_MS = 250;
/** How soon a pipe is read again when it must be at once (it was full, and its writer waits). */
export const FIFO_HURRY_MS = 1;

/**
 * When to read a running exec's output FIFOs next, after a read that took `read` bytes: at once
 * when a pipe was full (its writer waits on it) — unless the exec's output is already cut at its
 * cap: a command flooding past it then waits on its pipe, instead of costing the server a 64 KiB
 * read every millisecond that every other session's requests wait behind.
 */
export function nextReadMs(read: number, capped: boolean): number {
  return read >= PIPE_CHUNK && !capped ? FIFO_HURRY_MS : FIFO_POLL_MS;
}

/** Where every drain reads into: drains are synchronous and hand on copies, so one serves all FIFOs. */
const readBuffer = Buffer.allocUnsafe(PIPE_CHUNK);

/**
 * A FIFO in a session's runtime folder that a session's process writes its output to and the
 * server reads synchronously (`drain`), without a wakeup of its own: at the moment the process
 * says it is done (every byte it wrote before saying so is in the pipe then), and on a timer
 * in between. The server holds it open read-write and non-blocking, so that opening does not wait
 * for a writer, a read of an empty pipe returns at once and never sees end-of-file (a writer
 * that closed its end and a writer to come are the same to it).
 */
export class SessionFifo {
  private fd: number | undefined;

  private constructor(
    /** Where the FIFO is: a sandboxed process may open it again by name (its uid owns it). */
    readonly path: string,
    fd: number,
    private readonly log: DriverLog,
  ) {
    this.fd = fd;
  }

  /**
   * Makes the FIFO at `path` (mode 600, handed to the session's uid in a sandbox) and opens it.
   * @throws Error when mkfifo fails (the caller words it as its own spawn_failed)
   */
  static async create(path: string, sandbox: SandboxPlan | undefined, log: DriverLog): Promise<SessionFifo> {
    const mkfifo = spawnSync("mkfifo", ["-m", "600", path], { encoding: "utf8" });
    if (mkfifo.status !== 0) throw new Error(`mkfifo failed: ${mkfifo.error?.message ?? mkfifo.stderr}`);
    await chownForSession(path, sandbox);
    return new SessionFifo(path, openSync(path, constants.O_RDWR | constants.O_NONBLOCK), log);
  }

  /**
   * Opens the FIFO's write end for a child's stdio (spawn's `stdio` array takes it; close it once
   * spawned). A description of its own: blocking, as a program and what it starts expect of
   * their stdout (the server's end is non-blocking), and it never waits here, the server's
   * read-write end being a reader already.
   */
  openWriter(): number {
    if (this.fd === undefined) throw new Error(`${this.path} is closed`);
    return openSync(this.path, constants.O_WRONLY);
  }

  /**
   * Reads all the pipe holds now and hands it to `onData` in chunks of at most PIPE_CHUNK bytes
   * (each a copy).
   * @returns the bytes read (PIPE_CHUNK or more: a writer may be waiting on a full pipe)
   */
  drain(onData: (data: Buffer) => void): number {
    const fd = this.fd;
    if (fd === undefined) return 0;
    let total = 0;
    // Most drains end on an empty pipe, which readSync reports by throwing EAGAIN: without a
    // stack to capture, that costs half as much (a few µs of every exec).
    const stackTraceLimit = Error.stackTraceLimit;
    for (;;) {
      let n: number;
      try {
        Error.stackTraceLimit = 0;
        n = readSync(fd, readBuffer, 0, PIPE_CHUNK, null);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "EAGAIN") this.log.warn({ err, path: this.path }, "could not read a session's output pipe");
        break;
      } finally {
        Error.stackTraceLimit = stackTraceLimit;
      }
      if (n <= 0) break;
      total += n;
      onData(Buffer.from(readBuffer.subarray(0, n)));
      // A pipe read returns all it holds when that is less than asked: no need to ask again.
      if (n < PIPE_CHUNK) break;
    }
    return total;
  }

  /** Closes the server's end; later drains read nothing. */
  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}
