import { closeSync, openSync, readFileSync, readSync, statSync } from "node:fs";
import { StringDecoder } from "node:string_decoder";
import { print } from "./output.js";

/** How to print a log file. */
export interface PrintLogOptions {
  /** Only the last n lines. @default all */
  lines?: number;
  /** Keep printing what is appended, until the process is interrupted. */
  follow: boolean;
  /** How often a followed file is looked at again. */
  pollMs: number;
}

/**
 * Prints a log file (or its last lines), then with `follow` what is appended to it; a file that
 * shrinks (truncated or replaced) is read again from its start.
 * @throws Error naming the file when it does not exist and is not followed
 */
export async function printLog(path: string, options: PrintLogOptions): Promise<void> {
  let text = "";
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    if (!options.follow) throw new Error(`no server log at ${path} yet (it is written once a client command or \`sessiond server start\` starts the server)`, { cause: err });
  }
  if (options.lines !== undefined) {
    const lines = text.split("\n");
    if (lines.at(-1) === "") lines.pop();
    text = lines.slice(Math.max(0, lines.length - options.lines)).join("\n") + (lines.length ? "\n" : "");
  }
  // Through print: a log line can quote what a session sent (its control characters are written out).
  print(text);
  if (!options.follow) return;
  let offset = sizeOf(path);
  // A chunk may end inside a character: the decoder keeps its first bytes for the next one.
  const decoder = new StringDecoder("utf8");
  for (;;) {
    await new Promise((resolve) => setTimeout(resolve, options.pollMs));
    const size = sizeOf(path);
    if (size < offset) offset = 0;
    if (size === offset) continue;
    const fd = openSync(path, "r");
    try {
      const chunk = Buffer.alloc(size - offset);
      readSync(fd, chunk, 0, chunk.length, offset);
      print(decoder.write(chunk));
      offset = size;
    } finally {
      closeSync(fd);
    }
  }
}

function sizeOf(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
}
