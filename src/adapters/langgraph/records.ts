/**
 * What a LangGraph thread looks like on a sessiond timeline: the event types the saver appends,
 * the shape of their data, and how a serde's bytes are kept in JSON. Pure: no I/O.
 */
import { isUtf8 } from "node:buffer";
import { type JsonObject, MAX_NESTING, type SessionEvent, jsonMayBreakTextRule } from "../../core/index.js";

/** One `put`: a checkpoint with its metadata and the channel values it changed, in one event (never half written). */
export const CHECKPOINT_EVENT = "langgraph.checkpoint";
/** One `putWrites`: a task's pending writes against a checkpoint. */
export const WRITES_EVENT = "langgraph.writes";
export const THREAD_EVENT_TYPES = [CHECKPOINT_EVENT, WRITES_EVENT];

/**
 * A value as the saver's serde produced it (`dumpsTyped`), as an event keeps it: its type, and
 * its bytes as JSON when they are JSON text LangGraph's own serializer made (so the timeline shows
 * the value itself), else as UTF-8 `text` when they are text JSON can hold, else as `base64` — so
 * binary survives JSON storage and `loadsTyped` gets back the value it wrote.
 */
export type StoredValue = { type: string; json: unknown } | { type: string; text: string } | { type: string; base64: string };

/**
 * A serde's output as the saver holds it in memory: text (`asJson` when it is JSON to keep as
 * JSON in the event) or base64. Values read back from events are held as text too.
 */
export type HeldValue = { type: string; text: string; asJson?: true } | { type: string; base64: string };

/**
 * The data of a `langgraph.checkpoint` event, as the saver holds it (its values as HeldValue; the
 * event keeps them as StoredValue). Small readable fields first: `sessiond trace` shows the start of it.
 */
export interface CheckpointRecord {
  /** Copied from the metadata for people reading the timeline; the metadata itself is authoritative. */
  step: number | null;
  source: string | null;
  checkpoint_ns: string;
  checkpoint_id: string;
  parent_checkpoint_id: string | null;
  /** The checkpoint without its channel_values, which are rebuilt from `values` and `refs`. */
  checkpoint: HeldValue;
  metadata: HeldValue;
  /** The values of the channels this put changed (its `newVersions`). */
  values: Record<string, HeldValue>;
  /** Every other channel with a value: the seq of the checkpoint event that holds it (in its `values`). */
  refs: Record<string, number>;
}

/** One write of a `langgraph.writes` event; `idx` is LangGraph's (negative for special channels such as errors). */
export interface WriteRecord {
  channel: string;
  idx: number;
  value: HeldValue;
}

/** The data of a `langgraph.writes` event. Readable fields first, as for checkpoints. */
export interface WritesRecord {
  /** First, for people reading the timeline: it names the node (`~__pregel_pull, agent`). */
  task_path: string;
  checkpoint_ns: string;
  checkpoint_id: string;
  task_id: string;
  writes: WriteRecord[];
}

/**
 * Holds a serde's output: text when it is well-formed UTF-8 without NUL (which some stores
 * refuse), else base64. `madeJson`: the serializer is known to make its `json` output with
 * JSON.stringify, so that output is valid JSON (see holdJsonText).
 */
export function holdValue([type, bytes]: [string, Uint8Array], madeJson: boolean): HeldValue {
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  // JSON.stringify's output encoded: valid UTF-8, its control characters (NUL too) escaped.
  if (madeJson && type === "json" && buffer.length) return holdJsonText(buffer.toString("utf8"));
  // Checked first: decoding malformed UTF-8 would replace bytes, and the value would not come back as written.
  if (isUtf8(buffer) && !buffer.includes(0)) return { type, text: buffer.toString("utf8") };
  return { type, base64: buffer.toString("base64") };
}

/**
 * Holds JSON.stringify's output for a value of type `json`: kept as JSON in the event when the
 * stores keep it as it is (it nests shallow enough, and holds no NUL or lone surrogate, which stay
 * in a string's escapes), else as text.
 */
export function holdJsonText(text: string): HeldValue {
  return nestsWithin(text, VALUE_NESTING) && !jsonMayBreakTextRule(text) ? { type: "json", text, asJson: true } : { type: "json", text };
}

/** How deep a value kept as JSON may nest: the stores' bound, less the event's levels above it. */
const VALUE_NESTING = MAX_NESTING - 4;

/**
 * Whether JSON text nests at most `limit` levels. Counting every bracket (in strings too) bounds
 * the depth from above, which settles most texts with one indexOf per bracket; only a text with
 * more brackets than `limit` is read through.
 */
export function nestsWithin(text: string, limit: number): boolean {
  let brackets = 0;
  for (const open of ["{", "["]) {
    for (let at = text.indexOf(open); at >= 0 && brackets <= limit; at = text.indexOf(open, at + 1)) brackets++;
  }
  if (brackets <= limit) return true;
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === BACKSLASH) i++;
      else if (c === QUOTE) inString = false;
    } else if (c === QUOTE) inString = true;
    else if (c === OPEN_BRACE || c === OPEN_BRACKET) {
      if (++depth > limit) return false;
    } else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) depth--;
  }
  return true;
}

const BACKSLASH = 0x5c;
const QUOTE = 0x22;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;

/** A value read back from an event, held as the saver holds its own. */
function heldValue(value: StoredValue): HeldValue {
  return "json" in value ? { type: value.type, text: JSON.stringify(value.json) } : value;
}

/**
 * A thread event read from the store, its values held as text (an event of the saver's own is
 * held so from the start), and only fields of its type kept. A value that is no serde output is
 * dropped (undefined): the timeline is open to any writer, and the readers skip what is missing.
 */
export function heldEvent(event: SessionEvent): SessionEvent {
  const data = (isObject(event.data) ? event.data : {}) as Record<string, unknown>;
  if (event.type === CHECKPOINT_EVENT) {
    const values: Record<string, HeldValue> = {};
    for (const [channel, value] of Object.entries(isObject(data.values) ? data.values : {})) if (isStored(value)) values[channel] = heldValue(value);
    const { writes: _notOfACheckpoint, ...rest } = data;
    const held = { ...rest, checkpoint: isStored(data.checkpoint) ? heldValue(data.checkpoint) : undefined, metadata: isStored(data.metadata) ? heldValue(data.metadata) : undefined, values };
    return { ...event, data: held as unknown as JsonObject };
  }
  if (event.type === WRITES_EVENT) {
    // A write whose value is no serde output keeps its place (positions index the writes) without one.
    const writes = (Array.isArray(data.writes) ? data.writes : []).map((write: unknown) =>
      isObject(write) ? { ...write, value: isStored(write.value) ? heldValue(write.value) : undefined } : undefined,
    );
    const { values: _notOfWrites, checkpoint: _neither, metadata: _nor, ...rest } = data;
    return { ...event, data: { ...rest, writes } as unknown as JsonObject };
  }
  return event;
}

/** A plain JSON object (no array, no null). */
export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function isStored(value: unknown): value is StoredValue {
  return isObject(value) && typeof value.type === "string" && ("json" in value || typeof value.text === "string" || typeof value.base64 === "string");
}

/** Whether a value read from an event is one the saver can load (the timeline is open to any writer). */
export function isHeld(value: unknown): value is HeldValue {
  return isObject(value) && typeof value.type === "string" && (typeof value.text === "string" || typeof value.base64 === "string");
}

/** The bytes (or text) to give the serde's `loadsTyped`. */
export function loadable(value: HeldValue): [string, Uint8Array | string] {
  return "text" in value ? [value.type, value.text] : [value.type, new Uint8Array(Buffer.from(value.base64, "base64"))];
}

/** Roughly how much memory a held value takes (its text), for the cache's bound. */
export function heldSize(value: HeldValue): number {
  return "text" in value ? value.text.length : value.base64.length;
}

/** The approximate size of a held event's data, counting the values it carries. */
export function recordSize(event: SessionEvent): number {
  const data = event.data as unknown as Partial<CheckpointRecord & WritesRecord>;
  let size = 256;
  for (const value of [data.checkpoint, data.metadata, ...Object.values(isObject(data.values) ? data.values : {})]) if (isHeld(value)) size += heldSize(value);
  for (const write of Array.isArray(data.writes) ? data.writes : []) {
    if (isHeld(write?.value)) size += heldSize(write.value);
    if (typeof write?.channel === "string") size += write.channel.length;
  }
  return size;
}

/**
 * The JSON text of a thread event's data: held values become stored ones (JSON kept as JSON, by
 * concatenation: the serde's text is not escaped into a string and back), the rest as JSON.stringify writes it.
 */
export function eventText(type: string, record: CheckpointRecord | WritesRecord): string {
  return type === CHECKPOINT_EVENT ? checkpointText(record as CheckpointRecord) : writesText(record as WritesRecord);
}

function checkpointText(r: CheckpointRecord): string {
  const values = Object.entries(r.values).map(([channel, value]) => `${str(channel)}:${valueText(value)}`);
  return (
    `{"step":${str(r.step)},"source":${str(r.source)},"checkpoint_ns":${str(r.checkpoint_ns)},"checkpoint_id":${str(r.checkpoint_id)},` +
    `"parent_checkpoint_id":${str(r.parent_checkpoint_id)},"checkpoint":${valueText(r.checkpoint)},"metadata":${valueText(r.metadata)},` +
    `"values":{${values.join(",")}},"refs":${str(r.refs)}}`
  );
}

function writesText(r: WritesRecord): string {
  const writes = r.writes.map((w) => `{"channel":${str(w.channel)},"idx":${str(w.idx)},"value":${valueText(w.value)}}`);
  return `{"task_path":${str(r.task_path)},"checkpoint_ns":${str(r.checkpoint_ns)},"checkpoint_id":${str(r.checkpoint_id)},"task_id":${str(r.task_id)},"writes":[${writes.join(",")}]}`;
}

function valueText(value: HeldValue): string {
  if ("base64" in value) return `{"type":${str(value.type)},"base64":${str(value.base64)}}`;
  return value.asJson ? `{"type":${str(value.type)},"json":${value.text}}` : `{"type":${str(value.type)},"text":${str(value.text)}}`;
}

const str = JSON.stringify;
