/**
 * How the CLI prints: JSON for scripts (`--json`), aligned tables and `key: value` lines for
 * people, colour only on a terminal and never when `NO_COLOR` is set (https://no-color.org).
 *
 * What people read holds text agents wrote (names, tasks, labels, event data, exec output), and
 * a terminal obeys the control characters in it: an escape sequence can set the clipboard (OSC
 * 52), retitle the window, or `\r` and erase a line to hide what is there. So every human line
 * goes out through {@link print}, and the fields in it through {@link visible}: control
 * characters are written out as text (docs/cli.md#control-characters). JSON keeps them escaped by
 * JSON's own rules.
 */

/** Whether to colour what goes to this stream. */
export function colorEnabled(stream: NodeJS.WriteStream = process.stdout, env: NodeJS.ProcessEnv = process.env): boolean {
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== "") return false;
  if (env.FORCE_COLOR !== undefined && env.FORCE_COLOR !== "0") return true;
  return stream.isTTY === true;
}

const CODES = { bold: 1, dim: 2, red: 31, green: 32, yellow: 33, blue: 34, cyan: 36 } as const;

/** The control characters: C0 (U+0000–U+001F), DEL (U+007F) and C1 (U+0080–U+009F). */
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/g;
/** What {@link print} leaves alone: a colour code {@link paint} writes, a newline, a tab; and the controls it writes out. */
const CONTROL_IN_OUTPUT = /\u001b\[(?:0|1|2|3[1-6])m|[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g;
const NAMED: Record<string, string> = { "\t": "\\t", "\n": "\\n", "\r": "\\r", "\u001b": "\\e" };

/**
 * Text as people are shown it, every control character written out: `\t`, `\n`, `\r` and `\e`
 * (ESC) by name, the other C0 controls and DEL as `\xHH`, C1 controls as `\u0080`…`\u009f`.
 * Nothing else changes (a backslash stays one).
 * @example visible("done\u001b]52;c;ZXZpbA==\u0007") // "done\\e]52;c;ZXZpbA==\\x07"
 */
export function visible(text: string): string {
  return text.replace(CONTROL, controlName);
}

function controlName(c: string): string {
  const named = NAMED[c];
  if (named !== undefined) return named;
  const code = c.charCodeAt(0);
  return code < 0x80 ? `\\x${code.toString(16).padStart(2, "0")}` : `\\u${code.toString(16).padStart(4, "0")}`;
}

/**
 * Human output as it may be written to `stream`: the control characters written out as
 * {@link visible} does, except newlines, tabs, and (when colour is on for the stream) the colour
 * codes {@link paint} writes.
 */
export function humanText(text: string, stream: NodeJS.WriteStream = process.stdout): string {
  const colour = colorEnabled(stream);
  return text.replace(CONTROL_IN_OUTPUT, (m) => (m.length > 1 ? (colour ? m : `\\e${m.slice(1)}`) : controlName(m)));
}

/**
 * Writes human output (not `--json`) to stdout, or to `stream`: every command's tables, lines
 * and messages go through here (see {@link humanText}). What a command prints as the session's
 * own terminal — `exec`'s output, `attach`, the output of a repl cell — does not.
 */
export function print(text: string, stream: NodeJS.WriteStream = process.stdout): void {
  stream.write(humanText(text, stream));
}

/** Wraps `text` in an ANSI style when colour is on. */
export function paint(style: keyof typeof CODES, text: string, stream: NodeJS.WriteStream = process.stdout): string {
  return colorEnabled(stream) ? `\u001b[${CODES[style]}m${text}\u001b[0m` : text;
}

/** The colour a status is shown in. */
export function statusStyle(status: string): keyof typeof CODES {
  switch (status) {
    case "active":
      return "green";
    case "paused":
      return "yellow";
    case "failed":
    case "crashed":
    case "timeout":
      return "red";
    default:
      return "dim";
  }
}

/** Prints a value as indented JSON on stdout. */
export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** A column of a table: its header, how to read a row's cell, and an optional style. */
export interface Column<T> {
  header: string;
  value: (row: T) => string;
  style?: (row: T) => keyof typeof CODES | undefined;
  /** Longest cell before it is cut with an ellipsis. @default no limit */
  max?: number;
}

/** Renders rows as a table aligned on the visible width of each column (colour codes excluded). */
export function table<T>(rows: readonly T[], columns: readonly Column<T>[]): string {
  const cells = rows.map((row) => columns.map((c) => clip(visible(oneLine(c.value(row))), c.max)));
  const widths = columns.map((c, i) => Math.max(c.header.length, ...cells.map((r) => r[i]!.length)));
  const pad = (text: string, i: number, last: boolean) => (last ? text : text.padEnd(widths[i]!));
  const lines = [columns.map((c, i) => paint("bold", pad(c.header, i, i === columns.length - 1))).join("  ")];
  rows.forEach((row, r) => {
    lines.push(
      columns
        .map((c, i) => {
          const text = pad(cells[r]![i]!, i, i === columns.length - 1);
          const style = c.style?.(row);
          return style ? paint(style, text) : text;
        })
        .join("  "),
    );
  });
  return `${lines.join("\n").replace(/ +$/gm, "")}\n`;
}

/** `key: value` lines, keys aligned; objects shown as compact JSON. */
export function keyValues(entries: readonly [string, unknown][]): string {
  const keys = entries.map(([k]) => visible(k));
  const width = Math.max(...keys.map((k) => k.length));
  return `${entries.map(([, v], i) => `${paint("bold", `${keys[i]}:`.padEnd(width + 1))} ${display(v)}`).join("\n")}\n`;
}

/**
 * A value as one line for people: strings as they are, null as `-`, the rest as JSON; control
 * characters written out ({@link visible}), a newline as `\n`.
 */
export function display(value: unknown): string {
  if (value === null || value === undefined) return "-";
  if (typeof value === "string") return visible(value);
  // JSON escapes C0 controls itself, not DEL or C1 ones.
  return visible(JSON.stringify(value));
}

/** A timestamp as `YYYY-MM-DD HH:MM:SS` (UTC), the way tables show it. */
export function shortTime(iso: string | null | undefined): string {
  if (!iso) return "-";
  return iso.replace("T", " ").replace(/\.\d+Z$|Z$/, "");
}

function oneLine(text: string): string {
  return text.replace(/\s+/g, " ");
}

function clip(text: string, max: number | undefined): string {
  return max !== undefined && text.length > max ? `${text.slice(0, max - 1)}…` : text;
}
