import type { TerminalTap } from "../driver.js";
import { BEL, OSC } from "./markers.js";

/**
 * Removes sessiond's own OSC 6973 sequences (`ESC ] 6973 ; … BEL`) from a stream that arrives in
 * pieces, and turns lone line feeds into CR LF: the shell's terminal runs with `-onlcr` (so execs
 * get their bytes exactly), which a person's terminal emulator would show as a staircase.
 */
export class MarkerStripper {
  /** Bytes held back: a possible start of a marker, or a marker not yet ended. */
  private held: Buffer = Buffer.alloc(0);
  private lastWasCr = false;

  /** @returns what may be shown now */
  feed(data: Buffer): Buffer {
    let buf = this.held.length ? Buffer.concat([this.held, data]) : data;
    this.held = Buffer.alloc(0);
    const kept: Buffer[] = [];
    for (;;) {
      const esc = buf.indexOf(0x1b);
      if (esc < 0) {
        kept.push(buf);
        break;
      }
      kept.push(buf.subarray(0, esc));
      const rest = buf.subarray(esc);
      const prefix = Math.min(rest.length, OSC.length);
      if (!rest.subarray(0, prefix).equals(OSC.subarray(0, prefix))) {
        // Another escape sequence: the person's terminal is meant to see it.
        kept.push(rest.subarray(0, 1));
        buf = rest.subarray(1);
        continue;
      }
      const end = rest.indexOf(BEL, OSC.length);
      if (prefix < OSC.length || end < 0) {
        // Maybe ours, not complete yet: hold it, but never more than a marker can be long.
        if (rest.length <= MAX_MARKER_BYTES) this.held = Buffer.from(rest);
        else kept.push(rest);
        break;
      }
      buf = rest.subarray(end + 1);
    }
    return this.crlf(kept.length === 1 ? kept[0]! : Buffer.concat(kept));
  }

  private crlf(data: Buffer): Buffer {
    if (data.length === 0) return data;
    let at = data.indexOf(0x0a);
    if (at < 0) {
      this.lastWasCr = data[data.length - 1] === 0x0d;
      return data;
    }
    const parts: Buffer[] = [];
    let from = 0;
    while (at >= 0) {
      const previous = at > 0 ? data[at - 1] : this.lastWasCr ? 0x0d : 0;
      if (previous !== 0x0d) {
        parts.push(data.subarray(from, at), CR);
        from = at;
      }
      at = data.indexOf(0x0a, at + 1);
    }
    parts.push(data.subarray(from));
    this.lastWasCr = data[data.length - 1] === 0x0d;
    return Buffer.concat(parts);
  }
}

/** A marker with the longest cwd Linux allows (PATH_MAX) fits in this. */
const MAX_MARKER_BYTES = 8192;
/** Typed bytes a terminal may hold unread before a tap takes no more (a paste larger than this waits on the typist). */
export const MAX_TYPED_BACKLOG_BYTES = 1024 * 1024;
const CR = Buffer.from("\r");
const CTRL_C = 0x03;

/** What the tap needs from the shell it belongs to. */
export interface TapHost {
  /** Writes bytes to the terminal's input. */
  send(data: Buffer): void;
  /** Bytes sent that the terminal has not taken yet. */
  inputBacklog(): number;
  /** Drops what was sent and not taken yet. */
  discardInput(): void;
  /** Whether bash itself reads the terminal now (so nothing else echoes a person's typing). */
  shellReadsLine(): boolean;
  pauseReading(): void;
  resumeReading(): void;
  size(): { cols: number; rows: number };
}

/**
 * The {@link TerminalTap} of one shell. The shell hands it every byte of the terminal and of the
 * exec's stderr pipe (except the output of its own bookkeeping execs); it strips the markers and
 * passes the rest on. The terminal runs with echo off (execs' output never contains their input),
 * so while bash itself reads the line, what a person types is echoed here.
 */
export class ShellTerminalTap implements TerminalTap {
  private readonly listeners = new Set<(data: Buffer) => void>();
  private readonly stdout = new MarkerStripper();
  private readonly stderr = new MarkerStripper();
  private pauses = 0;

  constructor(private readonly host: TapHost) {}

  get cols(): number {
    return this.host.size().cols;
  }

  get rows(): number {
    return this.host.size().rows;
  }

  /** Someone is listening (the shell skips the work otherwise). */
  get active(): boolean {
    return this.listeners.size > 0;
  }

  write(data: string | Buffer): boolean {
    const bytes = typeof data === "string" ? Buffer.from(data, "utf8") : data;
    if (bytes.length === 0) return true;
    // A terminal whose program does not read keeps what is typed at it: past this, no more is
    // taken, but for a lone Ctrl-C, the way out. It drops what waits, as a terminal's own Ctrl-C
    // flushes its input queue (ISIG without NOFLSH), so that it reaches the program at once.
    if (this.host.inputBacklog() > MAX_TYPED_BACKLOG_BYTES) {
      if (bytes.length !== 1 || bytes[0] !== CTRL_C) return false;
      this.host.discardInput();
    }
    if (this.listeners.size && this.host.shellReadsLine()) this.emit(softEcho(bytes));
    this.host.send(bytes);
    return true;
  }

  onData(listener: (data: Buffer) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  pause(): void {
    if (this.pauses++ === 0) this.host.pauseReading();
  }

  resume(): void {
    if (this.pauses === 0) return;
    if (--this.pauses === 0) this.host.resumeReading();
  }

  /** Terminal output, as read. */
  terminalOutput(data: Buffer): void {
    if (this.listeners.size) this.emit(this.stdout.feed(data));
  }

  /** Output of the exec's stderr pipe (shown on a person's terminal like the rest). */
  stderrOutput(data: Buffer): void {
    if (this.listeners.size) this.emit(this.stderr.feed(data));
  }

  /** Drops every listener (the process has ended). */
  close(): void {
    this.listeners.clear();
  }

  private emit(data: Buffer): void {
    if (data.length === 0) return;
    for (const listener of this.listeners) {
      try {
        listener(data);
      } catch {
        // A listener's failure is its own; the others still get the bytes.
      }
    }
  }
}

/** What a line-reading terminal with echo on would show for these keystrokes. */
function softEcho(bytes: Buffer): Buffer {
  const out: number[] = [];
  for (const byte of bytes) {
    if (byte === 0x0d || byte === 0x0a) out.push(0x0d, 0x0a);
    else if (byte === 0x7f || byte === 0x08) out.push(0x08, 0x20, 0x08);
    else if (byte === 0x03) out.push(0x5e, 0x43, 0x0d, 0x0a);
    else if (byte >= 0x20 || byte === 0x09) out.push(byte);
  }
  return Buffer.from(out);
}
