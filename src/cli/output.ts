/**
 * How the CLI prints: JSON for scripts (`--json`), aligned tables and `key: value` lines for
 * people, colour only on a terminal and never when `NO_COLOR` is set (https://no-color.org).
 */

/** Whether to colour what goes to this stream. */
export function colorEnabled(stream: NodeJS.WriteStream = process.stdout, env: NodeJS.ProcessEnv = process.env): boolean {
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== "") return false;
  if (env.FORCE_COLOR !== undefined && env.FORCE_COLOR !== "0") return true;
  return stream.isTTY === true;
}

const CODES = { bold: 1, dim: 2, red: 31, green: 32, yellow: 33, blue: 34, cyan: 36 } as const;

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
  const cells = rows.map((row) => columns.map((c) => clip(oneLine(c.value(row)), c.max)));
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
  const width = Math.max(...entries.map(([k]) => k.length));
  return `${entries.map(([k, v]) => `${paint("bold", `${k}:`.padEnd(width + 1))} ${display(v)}`).join("\n")}\n`;
}

/** A value as one line for people: strings as they are, null as `-`, the rest as JSON. */
export function display(value: unknown): string {
  if (value === null || value === undefined) return "-";
  if (typeof value === "string") return value;
  return JSON.stringify(value);
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
