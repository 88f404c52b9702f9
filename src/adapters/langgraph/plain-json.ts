/**
 * A shortcut around LangGraph's JsonPlusSerializer for plain JSON. That serializer writes a value
 * with JSON.stringify, rewriting only what JSON cannot hold (undefined, Set, Map, RegExp, Error,
 * bytes, a Send, a delta snapshot) into records marked `"lc"`, and reads text back with JSON.parse,
 * reviving only those records. So for a value of plain objects, arrays, strings, numbers, booleans
 * and null, JSON.stringify gives exactly its text, and for a text with no `"lc"` key JSON.parse
 * gives exactly its value — without its walk for cycles, its replacer called at every key, its
 * UTF-8 round trip and its reviver's promise per node. Everything else goes to the serializer.
 * test/adapters/langgraph/plain-json.test.ts holds the two to the same output on every shape.
 * Pure: no I/O.
 */

/** Deeper values are left to the serializer (the walk below recurses). */
const MAX_DEPTH = 64;

/** The serializer's text for `value` when the value is plain JSON; undefined otherwise. */
export function plainJsonText(value: unknown): string | undefined {
  return isPlain(value, 0) ? JSON.stringify(value) : undefined;
}

/**
 * Whether JSON.parse gives what the serializer's loadsTyped gives for `text`: it has no `"lc"`
 * key to revive, and no `"__proto__"` key, which the serializer's reviver sets as a prototype
 * where JSON.parse makes an own property. (A string that merely contains either also falls back.)
 */
export function parsesPlain(text: string): boolean {
  return !text.includes('"lc"') && !text.includes('"__proto__"');
}

function isPlain(value: unknown, depth: number): boolean {
  switch (typeof value) {
    case "string":
    case "boolean":
    case "number":
      return true;
    case "object":
      break;
    default:
      // undefined (rewritten by the serializer), functions, symbols, bigints.
      return false;
  }
  if (value === null) return true;
  if (depth >= MAX_DEPTH) return false;
  if (Array.isArray(value)) {
    // A hole reads as undefined, which the serializer rewrites: not plain.
    for (const item of value) if (!isPlain(item, depth + 1)) return false;
    return true;
  }
  const prototype = Object.getPrototypeOf(value) as unknown;
  if (prototype !== Object.prototype && prototype !== null) return false;
  for (const key in value) {
    // The serializer rewrites an object whose lg_name is "Send"; "lc" marks its own records.
    if (key === "lg_name" || key === "lc" || key === "toJSON") return false;
    if (!isPlain((value as Record<string, unknown>)[key], depth + 1)) return false;
  }
  return true;
}
