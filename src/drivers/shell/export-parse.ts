/**
 * Parses what bash's `export -p` prints — `declare -x NAME="value"`, `declare -x NAME=$'…'`
 * (values with control or non-ASCII bytes outside a UTF-8 locale), or `declare -x NAME` (exported
 * but unset, skipped) — into a plain map. Values may span lines.
 */
export function parseExports(text: Buffer | string): Record<string, string> {
  const env: Record<string, string> = {};
  const bytes = typeof text === "string" ? Buffer.from(text, "utf8") : text;
  let i = 0;
  const n = bytes.length;
  const prefix = Buffer.from("declare -");
  while (i < n) {
    if (!bytes.subarray(i, i + prefix.length).equals(prefix)) {
      i = nextLine(bytes, i);
      continue;
    }
    i += prefix.length;
    while (i < n && bytes[i] !== 0x20) i++; // attribute letters
    i++;
    const nameStart = i;
    while (i < n && isNameByte(bytes[i]!)) i++;
    const name = bytes.toString("latin1", nameStart, i);
    if (bytes[i] !== 0x3d /* = */) {
      i = nextLine(bytes, i);
      continue;
    }
    i++;
    let value: Buffer;
    if (bytes[i] === 0x22 /* " */) {
      [value, i] = doubleQuoted(bytes, i + 1);
    } else if (bytes[i] === 0x24 /* $ */ && bytes[i + 1] === 0x27 /* ' */) {
      [value, i] = ansiC(bytes, i + 2);
    } else {
      const end = nextLine(bytes, i);
      value = bytes.subarray(i, end - 1 >= i ? end - 1 : i);
      i = end;
    }
    if (name) env[name] = value.toString("utf8");
    i = nextLine(bytes, i);
  }
  return env;
}

function isNameByte(b: number): boolean {
  return (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a) || b === 0x5f;
}

function nextLine(bytes: Buffer, from: number): number {
  const nl = bytes.indexOf(0x0a, from);
  return nl < 0 ? bytes.length : nl + 1;
}

/** `"…"` with bash's escapes `\"`, `\\`, `\$`, `` \` ``; returns the value and the index after the closing quote. */
function doubleQuoted(bytes: Buffer, start: number): [Buffer, number] {
  const out: number[] = [];
  let i = start;
  while (i < bytes.length && bytes[i] !== 0x22) {
    const b = bytes[i]!;
    const next = bytes[i + 1];
    if (b === 0x5c && next !== undefined && (next === 0x22 || next === 0x5c || next === 0x24 || next === 0x60 || next === 0x0a)) {
      if (next !== 0x0a) out.push(next);
      i += 2;
    } else {
      out.push(b);
      i++;
    }
  }
  return [Buffer.from(out), i + 1];
}

const SIMPLE: Record<string, number> = { a: 7, b: 8, e: 27, E: 27, f: 12, n: 10, r: 13, t: 9, v: 11, "\\": 92, "'": 39, '"': 34, "?": 63 };

/** `$'…'` (ANSI-C quoting); returns the value and the index after the closing quote. */
function ansiC(bytes: Buffer, start: number): [Buffer, number] {
  const out: number[] = [];
  let i = start;
  while (i < bytes.length && bytes[i] !== 0x27) {
    const b = bytes[i]!;
    if (b !== 0x5c || i + 1 >= bytes.length) {
      out.push(b);
      i++;
      continue;
    }
    const c = String.fromCharCode(bytes[i + 1]!);
    i += 2;
    if (c in SIMPLE) {
      out.push(SIMPLE[c]!);
    } else if (c >= "0" && c <= "7") {
      let digits = c;
      while (digits.length < 3 && bytes[i]! >= 0x30 && bytes[i]! <= 0x37) digits += String.fromCharCode(bytes[i++]!);
      out.push(parseInt(digits, 8) & 0xff);
    } else if (c === "x") {
      let digits = "";
      while (digits.length < 2 && /[0-9a-fA-F]/.test(String.fromCharCode(bytes[i] ?? 0))) digits += String.fromCharCode(bytes[i++]!);
      out.push(digits ? parseInt(digits, 16) : 0x78);
    } else if (c === "u" || c === "U") {
      let digits = "";
      const max = c === "u" ? 4 : 8;
      while (digits.length < max && /[0-9a-fA-F]/.test(String.fromCharCode(bytes[i] ?? 0))) digits += String.fromCharCode(bytes[i++]!);
      out.push(...Buffer.from(String.fromCodePoint(parseInt(digits || "0", 16)), "utf8"));
    } else if (c === "c") {
      out.push((bytes[i++] ?? 0x40) & 0x1f);
    } else {
      out.push(0x5c, c.charCodeAt(0));
    }
  }
  return [Buffer.from(out), i + 1];
}
