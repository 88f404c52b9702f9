import { BEL, MarkerScanner, envRecordEnd, envRecordPrefix } from "./markers.js";

/** The most digits a record's length may have (more is no record of ours). */
const MAX_LENGTH_DIGITS = 10;

/**
 * Reads a state capture (`__sd_env`, see rc.ts) out of everything the terminal shows while it
 * runs. A background job started with a plain `cmd &` writes to the terminal whenever it likes;
 * what it writes is its own output — for the tap and the idle clock — and must never be read as
 * the shell's environment.
 *
 * The capture prints each line of `export -p` as a record: `ESC]6973;env;<nonce>;<byte length>BEL`,
 * the line, `ESC]6973;env;<nonce>BEL`. The nonce is drawn for this capture alone, so no job can
 * print a record by accident (code that reads the shell's variables can: it is the session's own
 * state it forges, and a record's stated length is refused past `maxBytes` before a byte of it is
 * held, so it costs the server nothing). The kernel never mixes one write to a terminal with
 * another, and each record is one printf: a job's write falls between two records, and
 * everything outside the records is handed on, in order, as it comes. A record longer than bash's output buffer (1 KiB on a pty)
 * takes several writes, and a job's write may fall inside it: its end is then not where its
 * length says, the capture is {@link spoiled} (the caller takes it again), and the bytes up to
 * its end are dropped, since the job's cannot be told from the variable's, which must not be shown.
 *
 * @example
 * const records = new EnvRecords(nonce, 8 << 20, (bytes) => tap.terminalOutput(bytes));
 * // run records.command in the shell, feeding what the terminal shows until its end marker:
 * records.feed(chunk);
 * records.end();
 * const exports = records.payload(); // undefined when spoiled
 */
export class EnvRecords {
  /** The command to run in the shell. */
  readonly command: string;
  private readonly prefix: Buffer;
  private readonly endMarker: Buffer;
  /** Finds where the next record starts. */
  private readonly scanner: MarkerScanner;
  /** Finds the end of a record that was cut into. */
  private readonly endScanner: MarkerScanner;
  private state: "outside" | "length" | "line" | "skip" = "outside";
  /** The length digits, or the line and its end marker, read so far. */
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private lineBytes = 0;
  /** What the record being read counts against `maxBytes`: its line and its markers. */
  private charge = 0;
  private readonly lines: Buffer[] = [];
  private total = 0;
  private failed = false;
  private overflow = false;

  /**
   * @param nonce random, for this capture only (hex: it goes into the command as is)
   * @param maxBytes the most the records may hold together, markers included; more spoils the capture
   * @param outside receives, in order, every byte outside the records
   */
  constructor(
    nonce: string,
    private readonly maxBytes: number,
    private readonly outside: (data: Buffer) => void,
  ) {
    this.prefix = envRecordPrefix(nonce);
    this.endMarker = envRecordEnd(nonce);
    this.scanner = new MarkerScanner(this.prefix);
    this.endScanner = new MarkerScanner(this.endMarker);
    this.command = `__sd_env ${nonce}`;
  }

  /** A record was cut into by other output or did not end, or the lines are {@link tooBig}: there is no payload. */
  get spoiled(): boolean {
    return this.failed || this.overflow || this.state !== "outside";
  }

  /** The lines hold more than `maxBytes` together (taking the capture again would not help). */
  get tooBig(): boolean {
    return this.overflow;
  }

  /** Takes the next bytes the capture's run showed on the terminal (its end marker excluded). */
  feed(data: Buffer): void {
    let rest = data;
    while (rest.length) rest = this.step(rest);
  }

  /** No more bytes come: what was held back in case a record began in it is handed on. */
  end(): void {
    if (this.state === "outside") this.give(this.scanner.flush());
  }

  /** The lines of `export -p`, as it printed them; undefined when {@link spoiled}. */
  payload(): Buffer | undefined {
    if (this.spoiled) return undefined;
    return Buffer.concat(this.lines.flatMap((line) => [line, NEWLINE]));
  }

  /** Handles the start of `data` in the current state; returns what is left for the next. */
  private step(data: Buffer): Buffer {
    switch (this.state) {
      case "outside": {
        const found = this.scanner.feed(data);
        this.give(found.before);
        if (!found.match) return EMPTY;
        this.state = "length";
        return found.match.subarray(this.prefix.length);
      }
      case "length": {
        const bel = data.indexOf(BEL);
        this.hold(bel < 0 ? data : data.subarray(0, bel));
        const digits = Buffer.concat(this.pending).toString("latin1");
        // Never so in practice (a record's start is in its first write); read on safely all the same.
        if (!/^\d*$/.test(digits) || digits.length > MAX_LENGTH_DIGITS || (bel >= 0 && digits === "")) return this.spoil(data);
        if (bel < 0) return EMPTY;
        this.lineBytes = Number(digits);
        this.pending = [];
        this.pendingBytes = 0;
        // Each record counts its markers too: empty records cost nothing else, and must not be free.
        this.charge = this.lineBytes + this.prefix.length + this.endMarker.length;
        // Refused on its stated length, before a byte of it is held: what the shell says it will
        // send must not size the server's memory.
        if (this.total + this.charge > this.maxBytes) this.overflow = true;
        this.state = this.overflow ? "skip" : "line";
        return data.subarray(bel + 1);
      }
      case "line": {
        const wanted = this.lineBytes + this.endMarker.length - this.pendingBytes;
        this.hold(data.subarray(0, wanted));
        if (this.pendingBytes < this.lineBytes + this.endMarker.length) return EMPTY;
        const record = Buffer.concat(this.pending);
        this.pending = [];
        this.pendingBytes = 0;
        // Cut into: its end marker is further on; what comes before it is dropped.
        if (!record.subarray(this.lineBytes).equals(this.endMarker)) return this.spoil(Buffer.concat([record.subarray(this.lineBytes), data.subarray(wanted)]));
        this.total += this.charge;
        this.lines.push(record.subarray(0, this.lineBytes));
        this.state = "outside";
        return data.subarray(wanted);
      }
      case "skip": {
        const found = this.endScanner.feed(data);
        if (!found.match) return EMPTY;
        this.state = "outside";
        return found.match.subarray(this.endMarker.length);
      }
    }
  }

  /** A record that cannot be read (its length, or a write inside it): drop up to its end marker, looked for from `rest` on. */
  private spoil(rest: Buffer): Buffer {
    this.failed = true;
    this.pending = [];
    this.pendingBytes = 0;
    this.state = "skip";
    return rest;
  }

  private hold(bytes: Buffer): void {
    if (bytes.length === 0) return;
    this.pending.push(bytes);
    this.pendingBytes += bytes.length;
  }

  private give(bytes: Buffer): void {
    if (bytes.length) this.outside(bytes);
  }
}

const EMPTY = Buffer.alloc(0);
const NEWLINE = Buffer.from("\n");
