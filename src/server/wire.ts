import { type Session, jsonText } from "../core/index.js";
import { type Principal, seesSavedEnv } from "./auth/index.js";

/**
 * JSON text of what the server sends, built field by field so that the JSON values the engine
 * already serialized (context, checkpoint, metadata…) are reused rather than stringified again.
 */
export function toJson(value: object): string {
  let out = "{";
  for (const key in value) {
    const v = (value as Record<string, unknown>)[key];
    if (v === undefined) continue;
    if (out.length > 1) out += ",";
    out += `"${key}":${v !== null && typeof v === "object" ? jsonText(v) : JSON.stringify(v)}`;
  }
  return `${out}}`;
}

/**
 * A session on the wire, as `principal` may see it: the engine's fields, snake_case, plus
 * `session_type` (seed 003's name for `type`) so seed 003's clients read what they wrote. The
 * saved environment of a live session (`runtime_metadata.env`) is left out unless the principal
 * {@link seesSavedEnv} (admin): this is the one place sessions become JSON, so the rule holds on
 * every route that answers a session.
 */
export function sessionJson(session: Session, principal: Principal): string {
  const full = seesSavedEnv(principal);
  const cache = full ? serialized : serializedWithoutEnv;
  let text = cache.get(session);
  if (text === undefined) {
    const shown = full || session.runtime_metadata.env === undefined ? session : withoutSavedEnv(session);
    text = `${toJson(shown).slice(0, -1)},"session_type":${JSON.stringify(session.type)}}`;
    cache.set(session, text);
  }
  return text;
}

function withoutSavedEnv(session: Session): Session {
  const { env: _env, ...runtime } = session.runtime_metadata;
  return { ...session, runtime_metadata: runtime };
}

// The engine never changes a Session object (a change makes a new one), so its JSON can be kept
// for as long as the object lives: repeated reads of an unchanged session serialize it once.
const serialized = new WeakMap<Session, string>();
const serializedWithoutEnv = new WeakMap<Session, string>();

/** A JSON array of the items, each serialized by `item`. */
export function arrayJson<T>(items: readonly T[], item: (value: T) => string): string {
  return `[${items.map(item).join(",")}]`;
}

/**
 * The JSON array of the first of `items` that fit in `maxBytes` (config maxPageBytes), in order;
 * always at least one. `count` says how many it holds: fewer than given means the page was cut,
 * and its next cursor is the last one's.
 */
export function boundedArrayJson<T>(items: readonly T[], item: (value: T) => string, maxBytes: number): { json: string; count: number } {
  const parts: string[] = [];
  let bytes = 2;
  for (const value of items) {
    const part = item(value);
    bytes += Buffer.byteLength(part) + 1;
    if (parts.length > 0 && bytes > maxBytes) break;
    parts.push(part);
  }
  return { json: `[${parts.join(",")}]`, count: parts.length };
}
