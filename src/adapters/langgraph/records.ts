/**
 * What a LangGraph thread looks like on a sessiond timeline: the event types the saver appends,
 * the shape of their data, and how a serde's bytes are kept in JSON. Pure: no I/O.
 */
import { isUtf8 } from "node:buffer";
import type { JsonObject, SessionEvent } from "../../core/index.js";

/** One `put`: a checkpoint with its metadata and the channel values it changed, in one event (never half written). */
export const CHECKPOINT_EVENT = "langgraph.checkpoint";
/** One `putWrites`: a task's pending writes against a checkpoint. */
export const WRITES_EVENT = "langgraph.writes";
export const THREAD_EVENT_TYPES = [CHECKPOINT_EVENT, WRITES_EVENT];

/**
 * A value as the saver's serde produced it (`dumpsTyped`): its type, and its bytes as UTF-8
 * `text` when they are text JSON can hold, else as `base64` — so binary survives JSON storage
 * and `loadsTyped` gets back exactly the bytes it wrote.
 */
export type StoredValue = { type: string; text: string } | { type: string; base64: string };

/** The data of a `langgraph.checkpoint` event. Small readable fields first: `sessiond trace` shows the start of it. */
export interface CheckpointRecord {
  /** Copied from the metadata for people reading the timeline; the metadata itself is authoritative. */
  step: number | null;
  source: string | null;
  checkpoint_ns: string;
  checkpoint_id: string;
  parent_checkpoint_id: string | null;
  /** The checkpoint without its channel_values, which are rebuilt from `values` and `refs`. */
  checkpoint: StoredValue;
  metadata: StoredValue;
  /** The values of the channels this put changed (its `newVersions`). */
  values: Record<string, StoredValue>;
  /** Every other channel with a value: the seq of the checkpoint event that holds it (in its `values`). */
  refs: Record<string, number>;
}

/** One write of a `langgraph.writes` event; `idx` is LangGraph's (negative for special channels such as errors). */
export interface WriteRecord {
  channel: string;
  idx: number;
  value: StoredValue;
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

/** Keeps a serde's output in JSON: text when it is well-formed UTF-8 without NUL (which some stores refuse), else base64. */
export function storeValue([type, bytes]: [string, Uint8Array]): StoredValue {
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  // Checked first: decoding malformed UTF-8 would replace bytes, and the value would not come back as written.
  if (isUtf8(buffer) && !buffer.includes(0)) return { type, text: buffer.toString("utf8") };
  return { type, base64: buffer.toString("base64") };
}

/** The bytes (or text) to give the serde's `loadsTyped`. */
export function loadable(value: StoredValue): [string, Uint8Array | string] {
  return "text" in value ? [value.type, value.text] : [value.type, new Uint8Array(Buffer.from(value.base64, "base64"))];
}

/** Roughly how much memory a stored value holds (its text), for the cache's bound. */
export function storedSize(value: StoredValue): number {
  return "text" in value ? value.text.length : value.base64.length;
}

/** The approximate size of an event's data, counting the stored values it carries. */
export function recordSize(event: SessionEvent): number {
  const data = event.data as unknown as Partial<CheckpointRecord & WritesRecord>;
  let size = 256;
  if (data.checkpoint) size += storedSize(data.checkpoint);
  if (data.metadata) size += storedSize(data.metadata);
  for (const value of Object.values(data.values ?? {})) size += storedSize(value);
  for (const write of data.writes ?? []) size += storedSize(write.value) + write.channel.length;
  return size;
}

/** A checkpoint record as event data. */
export function checkpointData(record: CheckpointRecord): JsonObject {
  return record as unknown as JsonObject;
}

/** A writes record as event data. */
export function writesData(record: WritesRecord): JsonObject {
  return record as unknown as JsonObject;
}
