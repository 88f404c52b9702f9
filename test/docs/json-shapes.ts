/**
 * JSON blocks in the docs are shapes (an answer, a config file, a message), not programs: the
 * docs test checks that each parses, so a shape cannot drift into something no program could
 * send or read. The block may hold several values (one message per line, say), `jsonc` blocks
 * `//` comments, and a bare `…` elides: `{…}` and `[…]` are an object or array whose members are
 * left out, `, …` further members or items. A `…` inside a string is just text.
 * @returns the parsed values; throws naming what does not parse
 */
export function parseJsonShapes(code: string): unknown[] {
  const text = stripComments(code)
    .replace(/\{\s*…\s*\}/g, "{}")
    .replace(/\[\s*…\s*\]/g, "[]")
    .replace(/,\s*…(?=\s*[\]}])/g, "");
  const values: unknown[] = [];
  let i = 0;
  while (i < text.length) {
    if (/\s/.test(text[i]!)) {
      i++;
      continue;
    }
    const end = valueEnd(text, i);
    values.push(JSON.parse(text.slice(i, end)));
    i = end;
  }
  if (values.length === 0) throw new Error("the block holds no JSON value");
  return values;
}

/** The text without `//` comments outside strings (jsonc). */
function stripComments(code: string): string {
  let out = "";
  let inString = false;
  for (let i = 0; i < code.length; i++) {
    const c = code[i]!;
    if (inString) {
      out += c;
      if (c === "\\") out += code[++i] ?? "";
      else if (c === '"') inString = false;
    } else if (c === '"') {
      inString = true;
      out += c;
    } else if (c === "/" && code[i + 1] === "/") {
      while (i < code.length && code[i] !== "\n") i++;
      out += "\n";
    } else out += c;
  }
  return out;
}

/** Where the object or array starting at `start` ends (one past its closing bracket). */
function valueEnd(text: string, start: number): number {
  if (text[start] !== "{" && text[start] !== "[") throw new Error(`expected a JSON object or array at: ${text.slice(start, start + 40)}`);
  let depth = 0;
  let inString = false;
  for (let i = start; i < text.length; i++) {
    const c = text[i]!;
    if (inString) {
      if (c === "\\") i++;
      else if (c === '"') inString = false;
    } else if (c === '"') inString = true;
    else if (c === "{" || c === "[") depth++;
    else if (c === "}" || c === "]") {
      depth--;
      if (depth === 0) return i + 1;
    }
  }
  throw new Error(`unclosed JSON value at: ${text.slice(start, start + 40)}`);
}
