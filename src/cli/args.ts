import { type Command, InvalidArgumentError } from "commander";
import { UsageError, reportError } from "./fail.js";
import type { ClientFlags } from "./home.js";

/** Adds the flags every client command takes: where the server is, and `--json`. */
export function clientOptions(command: Command): Command {
  return command
    .option("--json", "print JSON (errors too, on stderr)")
    .option("--home <dir>", "the data dir (env SESSIOND_HOME)")
    .option("--config <file>", "a JSON config file, used if this command starts the server (env SESSIOND_CONFIG)");
}

/** The parsed options every action receives last. */
export type Opts = ClientFlags & Record<string, unknown>;
type Handler = (...args: unknown[]) => Promise<void>;

/**
 * Wraps a command's action: its last argument is the parsed options; any error is reported in
 * one line (or as JSON with `--json`) and sets the exit code.
 */
export function action(fn: (o: Opts) => Promise<void>): Handler;
export function action<A>(fn: (a: A, o: Opts) => Promise<void>): Handler;
export function action<A, B>(fn: (a: A, b: B, o: Opts) => Promise<void>): Handler;
export function action<A, B, C>(fn: (a: A, b: B, c: C, o: Opts) => Promise<void>): Handler;
export function action(fn: (...args: never[]) => Promise<void>): Handler {
  return async (...args: unknown[]): Promise<void> => {
    // commander passes (…arguments, options, command).
    const options = args.at(-2) as Opts;
    try {
      await (fn as (...a: unknown[]) => Promise<void>)(...args.slice(0, -1));
    } catch (err) {
      reportError(err, options.json === true);
    }
  };
}

/** Parses JSON given on the command line. @throws UsageError naming the flag */
export function parseJson(text: string, what: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new UsageError(`${what} is not valid JSON (${(err as Error).message}); quote it, e.g. '{"key": "value"}'`);
  }
}

/** Parses a JSON object given on the command line. @throws UsageError naming the flag */
export function parseObject(text: string, what: string): Record<string, unknown> {
  const value = parseJson(text, what);
  if (value === null || typeof value !== "object" || Array.isArray(value)) throw new UsageError(`${what} must be a JSON object, e.g. '{"key": "value"}'`);
  return value as Record<string, unknown>;
}

/**
 * A commander collector for repeatable `key=value` flags.
 * @throws InvalidArgumentError, which commander reports as a usage error naming the flag
 */
export function collectPair(value: string, previous: Record<string, string> = {}): Record<string, string> {
  const at = value.search(/[=:]/);
  if (at <= 0) throw new InvalidArgumentError("expected key=value");
  return { ...previous, [value.slice(0, at)]: value.slice(at + 1) };
}

/** A commander collector for repeatable (or comma-separated) values. */
export function collectList(value: string, previous: string[] = []): string[] {
  return [...previous, ...value.split(",").filter(Boolean)];
}

/** Parses an integer flag of at least `min` (default 0). @throws UsageError naming the flag */
export function parseCount(text: string, what: string, min = 0): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < min) throw new UsageError(`${what} must be ${min === 0 ? "a non-negative integer" : `an integer of at least ${min}`}, got ${JSON.stringify(text)}`);
  return n;
}

const DAY_MS = 86_400_000;
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: DAY_MS, w: 7 * DAY_MS };

/**
 * Parses an age such as `30d`, `12h`, `90m`, `2w` (a bare number is days) into days, the unit of
 * the cleanup API. @throws UsageError with the accepted forms
 */
export function parseAgeDays(text: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h|d|w)?$/.exec(text.trim());
  if (!match) throw new UsageError(`--older-than takes an age like 30d, 12h, 90m or 2w, got ${JSON.stringify(text)}`);
  return (Number(match[1]) * UNIT_MS[match[2] ?? "d"]!) / DAY_MS;
}

/** Parses a result given on the command line: JSON when it parses, else the text itself. */
export function jsonOrText(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}
