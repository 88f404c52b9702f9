/**
 * What every store keeps exactly, so that a value one store would take and another refuse (or
 * change) is refused before it reaches either. The rules, documented in docs/api.md#what-a-store-keeps:
 *
 * - Text is Unicode without U+0000. PostgreSQL's text refuses NUL; both stores write text as
 *   UTF-8, which has no form for a lone UTF-16 surrogate (it would come back as U+FFFD), and many
 *   JSON readers refuse one. The rule holds for every string a caller sends, JSON keys and values
 *   nested in context, metadata, result and event data included.
 * - Counts, seqs and versions are integers from 0 to 2^53 - 1: PostgreSQL's BIGINT and SQLite's
 *   INTEGER hold that range, and a JSON number above it is no longer exact.
 * - Objects and arrays nest at most MAX_NESTING levels: the walks that check, merge and copy a
 *   value recurse (a value thousands of levels deep would overflow the stack: a 500 for what is bad
 *   input), and SQLite's JSON functions stop at 1000.
 */

/** How deep objects and arrays may nest in a stored value. */
export const MAX_NESTING = 512;

/**
 * Whether JSON text nests objects and arrays deeper than `max` levels, read without parsing it:
 * JSON.parse builds every level before anything can refuse the value, and a few MiB of `[` cost
 * it a second or more of the event loop (a body only has to fit the body limit). The scan jumps
 * from quote to quote through strings, so it costs a fraction of a parse.
 */
export function nestsDeeperThan(text: string, max = MAX_NESTING): boolean {
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) {
      // To the closing quote: the next one not escaped by an odd run of backslashes before it.
      for (;;) {
        i = text.indexOf('"', i + 1);
        if (i < 0) return false;
        let before = i - 1;
        while (text.charCodeAt(before) === BACKSLASH) before--;
        if ((i - 1 - before) % 2 === 0) break;
      }
    } else if (c === OPEN_ARRAY || c === OPEN_OBJECT) {
      if (++depth > max) return true;
    } else if (c === CLOSE_ARRAY || c === CLOSE_OBJECT) depth--;
  }
  return false;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;

/** The largest count, seq or version a store keeps: 2^53 - 1. */
export const MAX_STORED_INTEGER = Number.MAX_SAFE_INTEGER;

/** Matches any string that may break the text rule; most text never matches, and is not looked at twice. */
const SUSPECT = /[\u0000\ud800-\udfff]/;
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
/**
 * In JSON.stringify's output, the escapes it writes for U+0000 and for lone surrogates (a paired
 * surrogate is written as is). A match may be an escaped backslash followed by "u0000" typed by a
 * caller, so a match is only a reason to walk the value.
 */
const SUSPECT_ESCAPE = /\\u(?:0000|d[89a-f])/;

/** Why a string breaks the text rule, or undefined when it keeps it. */
export function textFault(text: string): string | undefined {
  if (!SUSPECT.test(text)) return undefined;
  if (text.includes("\u0000")) return "contains U+0000 (NUL), which the stores do not keep";
  if (LONE_SURROGATE.test(text)) return "contains a lone UTF-16 surrogate, which is not Unicode text";
  return undefined;
}

/** Where a value breaks the text rule: the path of the string (dots for nesting) and why. */
export interface TextFault {
  /** Path segments from the value's root: object keys and array indexes. */
  readonly path: readonly string[];
  readonly reason: string;
}

/**
 * The first string in a JSON-like value (object keys included) that breaks the text rule.
 * A key that breaks it is reported at its object's path.
 */
export function findTextFault(value: unknown): TextFault | undefined {
  return walk(value, 0);
}

/** The walk behind findTextFault; the path is built only for a fault, on the way back up. */
function walk(value: unknown, depth: number): { path: string[]; reason: string } | undefined {
  if (typeof value === "string") {
    const reason = textFault(value);
    return reason === undefined ? undefined : { path: [], reason };
  }
  if (value === null || typeof value !== "object") return undefined;
  if (depth >= MAX_NESTING) return { path: [], reason: `nests deeper than ${MAX_NESTING} levels, which the stores do not keep` };
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const fault = walk(value[i], depth + 1);
      if (fault) {
        fault.path.unshift(String(i));
        return fault;
      }
    }
    return undefined;
  }
  // Buffers and typed arrays are bytes, not text (the store writes them as such).
  if (ArrayBuffer.isView(value)) return undefined;
  for (const key of Object.keys(value)) {
    const keyReason = textFault(key);
    if (keyReason !== undefined) return { path: [], reason: `has a key that ${keyReason}` };
    const fault = walk((value as Record<string, unknown>)[key], depth + 1);
    if (fault) {
      fault.path.unshift(key);
      return fault;
    }
  }
  return undefined;
}

/**
 * The first string breaking the text rule in a value whose JSON text is `json` (JSON.stringify's
 * output): the text is scanned first, so a clean value costs one pass over text already made.
 */
export function findTextFaultInJson(value: unknown, json: string): TextFault | undefined {
  return jsonMayBreakTextRule(json) ? walk(value, 0) : undefined;
}

/** The same for a value known only as its JSON text, which is parsed only when it may hold a fault. */
export function findTextFaultInJsonText(json: string): TextFault | undefined {
  return jsonMayBreakTextRule(json) ? walk(JSON.parse(json), 0) : undefined;
}

/** Whether a value written by JSON.stringify as `json` may hold a string the stores do not keep (false: it surely holds none). */
export function jsonMayBreakTextRule(json: string): boolean {
  // indexOf finds a backslash far faster than a regular expression scans for one.
  for (let at = json.indexOf("\\u"); at >= 0; at = json.indexOf("\\u", at + 2)) {
    if (SUSPECT_ESCAPE.test(json.slice(at, at + 6))) return true;
  }
  return false;
}

/** A field path for errors: the root field and the fault's segments, joined with dots. */
export function faultField(root: string | undefined, fault: TextFault): string {
  return [root, ...fault.path].filter((s) => s !== undefined && s !== "").join(".") || "body";
}
