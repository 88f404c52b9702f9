/**
 * The longest line a terminal in line mode passes on whole (Linux's n_tty buffer less the newline):
 * past it, what is typed is dropped until the line ends.
 */
export const MAX_TERMINAL_LINE_BYTES = 4095;

/**
 * Checks input bound for a session's terminal (`sessiond exec --stdin`) for what a terminal in
 * line mode would not pass on as it is, chunk by chunk as it is piped: a control character (it
 * acts — Ctrl-C interrupts, Ctrl-D ends the input, DEL erases, `\r` becomes `\n` — except tab and
 * escape, which go through), a line longer than MAX_TERMINAL_LINE_BYTES, or bytes that are not
 * UTF-8 (the API carries text). Refusing it beats what the command would otherwise read: the same
 * data silently changed, with an exec that reports success.
 */
export class TerminalInput {
  private readonly decoder = new TextDecoder("utf-8", { fatal: true });
  private offset = 0;
  private lineBytes = 0;

  /**
   * The chunk as text, or why the terminal would change it (naming the byte's offset in the whole
   * input).
   */
  take(chunk: Uint8Array): { text: string } | { refused: string } {
    for (let i = 0; i < chunk.length; i++) {
      const byte = chunk[i]!;
      const at = this.offset + i;
      if (byte === NEWLINE) {
        this.lineBytes = 0;
        continue;
      }
      if (++this.lineBytes > MAX_TERMINAL_LINE_BYTES) return { refused: `a line longer than ${MAX_TERMINAL_LINE_BYTES} bytes (from byte ${at + 1 - this.lineBytes})` };
      if ((byte < 0x20 && byte !== TAB && byte !== ESCAPE) || byte === DELETE) return { refused: `the control character ${controlName(byte)} at byte ${at}` };
    }
    this.offset += chunk.length;
    try {
      return { text: this.decoder.decode(chunk, { stream: true }) };
    } catch {
      return { refused: `bytes that are not UTF-8 (before byte ${this.offset})` };
    }
  }

  /** The end of the input: what the decoder held, or why a character was left cut. */
  end(): { text: string } | { refused: string } {
    try {
      return { text: this.decoder.decode() };
    } catch {
      return { refused: "a UTF-8 character cut off at the end" };
    }
  }
}

const NEWLINE = 0x0a;
const TAB = 0x09;
const ESCAPE = 0x1b;
const DELETE = 0x7f;

/** `^C (0x03)`, `\r (0x0d)`, `DEL (0x7f)`. */
function controlName(byte: number): string {
  const hex = `0x${byte.toString(16).padStart(2, "0")}`;
  if (byte === 0x0d) return `\\r (${hex})`;
  if (byte === DELETE) return `DEL (${hex})`;
  return `^${String.fromCharCode(byte + 0x40)} (${hex})`;
}
