import type { JsonObject, SessionEvent } from "../core/index.js";
import type { ExecOutcome } from "./driver.js";
import { encodeOutput, withoutPartialTail } from "./output.js";

/** How an exec ended: `ok` (exit 0), `error` (non-zero, or the process died), `timeout`, `interrupted`. */
export type ExecStatus = "ok" | "error" | "timeout" | "interrupted";

/**
 * One exec, as returned and as persisted in its `exec` event (seq is the event's). `stdout` and
 * `stderr` are UTF-8 text; when a stream is not valid UTF-8 or holds a NUL byte, its text shows
 * U+FFFD where bytes were invalid or NUL, and `stdout_base64` / `stderr_base64` hold the exact bytes.
 */
export interface ExecResult {
  readonly exec_id: string;
  readonly seq: number;
  readonly input: string;
  readonly stdout: string;
  readonly stderr: string;
  readonly stdout_base64?: string;
  readonly stderr_base64?: string;
  /** The command's exit status; null when it was killed by a signal or the shell died under it. */
  readonly exit_code: number | null;
  readonly status: ExecStatus;
  /** ISO timestamp. */
  readonly started_at: string;
  /** Wall time, in milliseconds (microsecond precision). */
  readonly duration_ms: number;
  /** Output was cut at `maxExecOutputBytes` (or to fit the event size limit). */
  readonly truncated: boolean;
  /**
   * Present (true) when the session's process ended during this exec: the command ran `exit`, or
   * the process was killed. Unless the session was being stopped, it is then crashed (its crash
   * event follows this exec's) until it is recovered with a fresh process.
   */
  readonly process_exited?: true;
  /** `background: true` only: the job's pid (null when it could not start) and its log file. */
  readonly pid?: number | null;
  readonly log_path?: string;
  /**
   * Present (false) when the exec was sent with `replay: false`: a rebuild of the interpreter
   * (restore, undo, fork, wake, recovery) never runs it again, and reports it as skipped.
   */
  readonly replay?: false;
  /** The workspace snapshot taken before the exec (start option `undo_files`): what its undo puts back. */
  readonly files_before?: string;
  /**
   * Present when this exec woke the session from hibernation (or waited for its wake): what the
   * wake rebuilt. Not kept in the exec's event (the `wake` event has it).
   */
  readonly woke?: WokeSummary;
}

/** What a wake rebuilt, as an exec's answer says it (docs/checkpoints.md#hibernation). */
export interface WokeSummary {
  readonly hibernated_at: string;
  readonly slept_ms: number;
  /** Cells run again to rebuild the interpreter (0 for a shell or an llm session). */
  readonly replayed: number;
  /** Cells that failed when run again, with their error. */
  readonly failed: readonly { readonly seq: number; readonly status: ExecStatus; readonly error: string }[];
  /** Cells not run: failed originally, or sent with `replay: false`. */
  readonly skipped: readonly { readonly seq: number; readonly reason: string }[];
  /** How long the wake took, process start included, in milliseconds. */
  readonly duration_ms: number;
}

/** An ExecResult before it has its event's seq. */
export type ExecRecord = Omit<ExecResult, "seq">;

/** What went in and how it ended, besides the output. */
export interface ExecFacts {
  readonly exec_id: string;
  readonly input: string;
  readonly status: ExecStatus;
  readonly started_at: string;
  readonly duration_ms: number;
}

// Serialized, a byte of output takes at most 6 bytes of text (\u00XX) plus 4/3 of base64.
const WORST_CASE_BYTES_PER_BYTE = 8;
const EVENT_SLACK_BYTES = 2048;

/**
 * The record of an exec, its output cut further if needed so that the event stays within
 * `maxEventBytes` (the engine refuses bigger events): the result is then `truncated`.
 */
export function execRecord(facts: ExecFacts, outcome: ExecOutcome, maxEventBytes: number): ExecRecord {
  let stdout = outcome.stdout;
  let stderr = outcome.stderr;
  let truncated = outcome.truncated;
  for (;;) {
    const record = build(facts, stdout, stderr, outcome, truncated);
    const bound = WORST_CASE_BYTES_PER_BYTE * (stdout.length + stderr.length) + 6 * facts.input.length + EVENT_SLACK_BYTES;
    if (bound <= maxEventBytes) return record;
    const size = Buffer.byteLength(JSON.stringify(record));
    const target = maxEventBytes - EVENT_SLACK_BYTES;
    if (size <= target || (stdout.length === 0 && stderr.length === 0)) return record;
    // Shrink the output by what its serialized form must lose (escapes make it bigger than its bytes).
    const outputSize = serializedSize(record.stdout, record.stdout_base64) + serializedSize(record.stderr, record.stderr_base64);
    const ratio = Math.max(0, Math.min(0.99, (target - (size - outputSize)) / outputSize));
    stdout = withoutPartialTail(stdout.subarray(0, Math.floor(stdout.length * ratio)));
    stderr = withoutPartialTail(stderr.subarray(0, Math.floor(stderr.length * ratio)));
    truncated = true;
  }
}

function serializedSize(text: string, base64: string | undefined): number {
  return Buffer.byteLength(JSON.stringify(text)) + (base64 === undefined ? 0 : base64.length + 20);
}

function build(facts: ExecFacts, stdout: Buffer, stderr: Buffer, outcome: Pick<ExecOutcome, "exitCode" | "processExited">, truncated: boolean): ExecRecord {
  const out = encodeOutput(stdout, truncated);
  const err = encodeOutput(stderr, truncated);
  return {
    exec_id: facts.exec_id,
    input: facts.input,
    stdout: out.text,
    stderr: err.text,
    ...(out.base64 !== undefined ? { stdout_base64: out.base64 } : {}),
    ...(err.base64 !== undefined ? { stderr_base64: err.base64 } : {}),
    exit_code: outcome.exitCode,
    status: facts.status,
    started_at: facts.started_at,
    duration_ms: facts.duration_ms,
    truncated,
    ...(outcome.processExited ? { process_exited: true as const } : {}),
  };
}

/** The ExecResult an `exec` event records. */
export function execResultFromEvent(event: SessionEvent): ExecResult {
  const { exec_id, ...rest } = event.data as unknown as ExecRecord;
  return { exec_id, seq: event.seq, ...rest };
}

/** An ExecRecord as event data. */
export function execEventData(record: ExecRecord): JsonObject {
  return record as unknown as JsonObject;
}
