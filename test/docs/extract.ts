import { readFileSync } from "node:fs";

/**
 * A fenced code block of a markdown file, as the docs test sees it.
 *
 * The marker is the HTML comment on the nearest non-blank line above the fence (invisible on
 * GitHub, visible in the source, where docs are edited):
 *
 *     <!-- example: not run — installs the dependencies -->
 *
 * `not run` keeps a block out of the run and needs a reason. Every other block is run or checked
 * (see examples.test.ts), so a new block must be runnable or say why not.
 */
export interface DocBlock {
  readonly file: string;
  /** 1-based line of the opening fence. */
  readonly line: number;
  /** The info string's first word, lower-cased (`bash`, `ts`, `json`…); "" when there is none. */
  readonly lang: string;
  readonly code: string;
  /** Why the block is not run, when it is marked so. */
  readonly notRun?: string;
}

const FENCE = /^(\s*)(`{3,}|~{3,})\s*([^`\s]*)[^`]*$/;
const MARKER = /^\s*<!--\s*example:\s*(.*?)\s*-->\s*$/;
const NOT_RUN = /^not run\s*[—–:-]\s*(\S.*)$/;

/** The fenced code blocks of a markdown text, in document order. */
export function extractBlocks(file: string, text: string): DocBlock[] {
  const lines = text.split("\n");
  const blocks: DocBlock[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = FENCE.exec(lines[i]!);
    if (!open) continue;
    const [, indent = "", fence = "", lang = ""] = open;
    const body: string[] = [];
    let j = i + 1;
    for (; j < lines.length; j++) {
      const line = lines[j]!;
      const close = /^(\s*)(`{3,}|~{3,})\s*$/.exec(line);
      if (close && close[2]![0] === fence[0] && close[2]!.length >= fence.length) break;
      // A fence indented in a list item: its lines carry the same indent.
      body.push(line.startsWith(indent) ? line.slice(indent.length) : line.trimStart());
    }
    if (j === lines.length) throw new Error(`${file}:${i + 1}: the code block is never closed`);
    const notRun = markerAbove(file, lines, i);
    blocks.push({ file, line: i + 1, lang: lang.toLowerCase(), code: body.join("\n") + "\n", ...(notRun === undefined ? {} : { notRun }) });
    i = j;
  }
  return blocks;
}

/** The reason of a `not run` marker right above line `i`, if any; any other marker is an error. */
function markerAbove(file: string, lines: string[], i: number): string | undefined {
  let k = i - 1;
  while (k >= 0 && lines[k]!.trim() === "") k--;
  const marker = k >= 0 ? MARKER.exec(lines[k]!) : null;
  if (!marker) return undefined;
  const notRun = NOT_RUN.exec(marker[1]!);
  if (!notRun) throw new Error(`${file}:${k + 1}: unknown example marker "${marker[1]}" (write "<!-- example: not run — <reason> -->")`);
  return notRun[1];
}

/** The blocks of a markdown file. */
export function readBlocks(path: string, name = path): DocBlock[] {
  return extractBlocks(name, readFileSync(path, "utf8"));
}
