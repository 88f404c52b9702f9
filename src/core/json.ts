import { errors } from "./errors.js";
import type { SessionEvent } from "./events.js";
import type { JsonObject } from "./session.js";
import { faultField, findTextFaultInJson, findTextFaultInJsonText } from "./storable.js";

/**
 * Serialized form of JSON values that entered through ownJson and are not written yet, so a value
 * is stringified once: when it enters (to check its size and take a private copy), and the store
 * takes that text when it writes the value. Taking it frees it: a hot session does not keep a
 * second copy of its context as text.
 */
const serialized = new WeakMap<object, string>();

/**
 * Takes a private, normalized copy of caller-supplied JSON (what a reload from disk would give:
 * no undefined members, dates as strings), checks its serialized size against `limitBytes`, and
 * checks that every string in it is text the stores keep (see storable.ts).
 * @throws too_large naming `field`; validation naming `field` when it cannot be serialized, or
 * naming the path of the offending string (`context.notes.2`)
 */
export function ownJson<T>(value: T, field: string, limitBytes: number): T {
  const text = serializeWithin(value, field, limitBytes);
  const copy = JSON.parse(text) as T;
  return remember(copy, text, field);
}

/**
 * The same checks as {@link ownJson} on JSON the engine built itself and hands over whole (an
 * exec's record): no copy is taken, so the caller must never change `value` afterwards. It is
 * already normalized (plain objects, strings, numbers, booleans and null).
 * @throws as ownJson
 */
export function adoptJson<T>(value: T, field: string, limitBytes: number): T {
  return remember(value, serializeWithin(value, field, limitBytes), field);
}

function serializeWithin(value: unknown, field: string, limitBytes: number): string {
  let text: string;
  try {
    text = JSON.stringify(value);
  } catch (cause) {
    throw errors.validation(field, `not serializable as JSON (${(cause as Error).message})`);
  }
  if (text === undefined) throw errors.validation(field, "not serializable as JSON");
  return within(text, field, limitBytes);
}

/** @throws too_large naming `field` when `text` is over `limitBytes` as UTF-8 */
function within(text: string, field: string, limitBytes: number): string {
  // Three bytes per UTF-16 unit is the most UTF-8 can need, so short strings skip the exact count.
  if (text.length * 3 > limitBytes) {
    const size = Buffer.byteLength(text);
    if (size > limitBytes) throw errors.tooLarge(field, size, limitBytes);
  }
  return text;
}

/** Checks the strings of `value` (parsed from or serialized as `text`) and keeps `text` for the store. */
function remember<T>(value: T, text: string, field: string): T {
  const fault = findTextFaultInJson(value, text);
  if (fault) throw errors.validation(faultField(field, fault), fault.reason);
  if (value !== null && typeof value === "object") serialized.set(value, text);
  return value;
}

/**
 * The checks of {@link adoptJson} on the JSON text of an object a caller built as text (an
 * embedded LangGraph saver's checkpoint, made of its serializer's output): its size, and its
 * strings, which are looked at only when the text shows an escape that may hide a fault.
 * @param text JSON text of an object, valid by construction: it is not parsed to be checked
 * @throws as adoptJson
 */
export function adoptJsonText(text: string, field: string, limitBytes: number): string {
  within(text, field, limitBytes);
  const fault = findTextFaultInJsonText(text);
  if (fault) throw errors.validation(faultField(field, fault), fault.reason);
  return text;
}

/**
 * An event whose `data` is parsed from `text` the first time something reads it (then kept): for
 * an event whose JSON text is at hand already and may never be looked at — one a writer built as
 * text (Change.eventFromText), a large one read from a store (eventFromRow).
 */
export function eventWithLazyData(seq: number, ts: string, type: string, text: string): SessionEvent {
  const event = {
    seq,
    ts,
    type,
    get data(): JsonObject {
      const data = JSON.parse(text) as JsonObject;
      Object.defineProperty(event, "data", { value: data, enumerable: true });
      return data;
    },
  };
  return event;
}

/** JSON text of a value, taking the text remembered by ownJson when there is one. */
export function jsonText(value: unknown): string {
  if (value !== null && typeof value === "object") {
    const known = serialized.get(value);
    if (known !== undefined) {
      serialized.delete(value);
      return known;
    }
  }
  return JSON.stringify(value ?? null);
}

/** Parses stored JSON text. */
export function parseJson<T>(text: string): T {
  return JSON.parse(text) as T;
}
