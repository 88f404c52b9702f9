/**
 * The markers the shell prints around every exec, as OSC escape sequences (`ESC ] 6973 ; … BEL`)
 * that a terminal ignores, so someone watching the raw terminal sees none of them:
 *
 * - `go;<nonce>` on the stderr pipe, written by the exec line just before the command runs (so
 *   an interrupt is only sent once bash has read the line; before, Ctrl-C would discard it);
 * - `<nonce>;<status>;<cwd>` on the terminal, printed by PROMPT_COMMAND when the command is over
 *   (and `<nonce>` on the stderr pipe too where that pipe is not read at once, over ssh).
 *   `<cwd>` is empty when unchanged, else `<byte length>:<path>`, so any byte may appear in a path;
 * - `fence;<nonce>;<token>` on the stderr pipe, by the end of an exec whose command read the
 *   terminal: it asks the server for the fence (`<token>`) up to which bash drops the input the
 *   command left unread (rc.ts);
 * - `env;<nonce>;<byte length>`, then one line of `export -p`, then `env;<nonce>`, on the terminal:
 *   a record of a state capture (see env-records.ts).
 *
 * The nonce is random per exec (96 bits), so output that merely looks like a marker (a command
 * printing one, a log of an earlier session) cannot end an exec early.
 */

/** Start of every marker. */
export const OSC = Buffer.from("\x1b]6973;", "latin1");
/** The byte that ends every marker. */
export const BEL = 0x07;

/** The start of an exec's end marker on the terminal: `ESC]6973;<nonce>;`, then `<status>;<cwd>BEL`. */
export function stdoutMarkerPrefix(nonce: string): Buffer {
  return Buffer.from(`\x1b]6973;${nonce};`, "latin1");
}

/**
 * The start of what the end of an exec with stdin writes on the stderr pipe to ask for its fence
 * (see rc.ts `__sd_done`), then `<token>BEL`. Not on the terminal: a Ctrl-C in the input, taken by
 * the terminal after bash wrote there, would flush the terminal's output, this with it.
 */
export function fenceRequestPrefix(nonce: string): Buffer {
  return Buffer.from(`\x1b]6973;fence;${nonce};`, "latin1");
}

/** The longest fence token bash draws (three `$SRANDOM`s, or `$RANDOM`s on an older bash). */
const MAX_FENCE_TOKEN = 30;

/**
 * Reads a fence request's `<token>BEL` at the start of `rest` (after its prefix).
 * @returns the token and the bytes it took; undefined when more bytes are needed; null when it is malformed
 */
export function parseFenceToken(rest: Buffer): { token: string; length: number } | undefined | null {
  const bel = rest.indexOf(BEL);
  if (bel < 0) return rest.length > MAX_FENCE_TOKEN ? null : undefined;
  const token = rest.toString("latin1", 0, bel);
  return /^\d{1,30}$/.test(token) ? { token, length: bel + 1 } : null;
}

/** The marker the exec line writes on the stderr pipe just before the command runs. */
export function goMarker(nonce: string): Buffer {
  return Buffer.from(`\x1b]6973;go;${nonce}\x07`, "latin1");
}

/** The start of a state capture's record: `ESC]6973;env;<nonce>;`, then `<byte length>BEL` and the line. */
export function envRecordPrefix(nonce: string): Buffer {
  return Buffer.from(`\x1b]6973;env;${nonce};`, "latin1");
}

/** The end of a state capture's record, right after its line. */
export function envRecordEnd(nonce: string): Buffer {
  return Buffer.from(`\x1b]6973;env;${nonce}\x07`, "latin1");
}

/** An exec's end marker on the stderr pipe. */
export function stderrMarker(nonce: string): Buffer {
  return Buffer.from(`\x1b]6973;${nonce}\x07`, "latin1");
}

/**
 * The longest cwd a marker may declare: Linux's PATH_MAX. A longer length is no marker of ours
 * (code in the session can print one: it knows the nonce, as everything the shell holds), and
 * waiting for that many bytes would hold the terminal's output in the trailer.
 */
const MAX_CWD_BYTES = 4096;

/** The end-of-exec marker's payload, after `<nonce>;`. */
export interface MarkerPayload {
  readonly status: number;
  /** The new working directory, when it changed. */
  readonly cwd?: string;
  /** Bytes the marker took after its prefix (so what follows can be handed on). */
  readonly length: number;
}

/**
 * Parses `<status>;<cwd>BEL` at the start of `rest`.
 * @returns the payload; undefined when more bytes are needed; null when it is malformed
 */
export function parsePayload(rest: Buffer): MarkerPayload | undefined | null {
  const semi = rest.indexOf(0x3b);
  if (semi < 0) return rest.length > 12 ? null : undefined;
  const status = decimal(rest.toString("latin1", 0, semi));
  // bash's `$?` is 0–255 in decimal digits: anything else ("0x10", " 7", "1e2") is not a marker bash wrote.
  if (status === undefined || status > 255) return null;
  if (rest.length <= semi + 1) return undefined;
  if (rest[semi + 1] === BEL) return { status, length: semi + 2 };
  const colon = rest.indexOf(0x3a, semi + 1);
  if (colon < 0) return rest.length - semi > 12 ? null : undefined;
  const size = decimal(rest.toString("latin1", semi + 1, colon));
  if (size === undefined || size > MAX_CWD_BYTES) return null;
  const end = colon + 1 + size;
  if (rest.length <= end) return undefined;
  if (rest[end] !== BEL) return null;
  return { status, cwd: rest.toString("utf8", colon + 1, end), length: end + 1 };
}

/** A number written as bash's printf %d writes a non-negative one (at most 9 digits), else undefined. */
function decimal(text: string): number | undefined {
  return /^(?:0|[1-9][0-9]{0,8})$/.test(text) ? Number(text) : undefined;
}

/**
 * Finds a marker in a stream that arrives in pieces. `feed` returns the bytes that are certainly
 * not part of the marker (safe to hand on now) and, once the marker's first byte is seen, the
 * rest from there on. Up to `needle.length - 1` bytes are held back between feeds in case the
 * marker is split across them.
 */
export class MarkerScanner {
  private held: Buffer = Buffer.alloc(0);

  constructor(private readonly needle: Buffer) {}

  feed(data: Buffer): { before: Buffer; match?: Buffer } {
    const buf = this.held.length ? Buffer.concat([this.held, data]) : data;
    const at = buf.indexOf(this.needle);
    if (at >= 0) {
      this.held = Buffer.alloc(0);
      return { before: buf.subarray(0, at), match: buf.subarray(at) };
    }
    // Keep back the longest tail that could still be the start of the needle.
    let keep = 0;
    const first = this.needle[0]!;
    for (let i = buf.indexOf(first, Math.max(0, buf.length - this.needle.length + 1)); i >= 0; i = buf.indexOf(first, i + 1)) {
      if (this.needle.subarray(0, buf.length - i).equals(buf.subarray(i))) {
        keep = buf.length - i;
        break;
      }
    }
    this.held = keep ? Buffer.from(buf.subarray(buf.length - keep)) : Buffer.alloc(0);
    return { before: buf.subarray(0, buf.length - keep) };
  }

  /** Bytes held back (when the stream ends without the marker). */
  flush(): Buffer {
    const held = this.held;
    this.held = Buffer.alloc(0);
    return held;
  }
}
