import { compareWritesSortKeys, writesSortKey } from "@langchain/langgraph-checkpoint";
import type { SessionEvent } from "../../core/index.js";
import { CHECKPOINT_EVENT, type CheckpointRecord, WRITES_EVENT, type WritesRecord } from "./records.js";

/** Where a checkpoint is on the timeline. */
export interface CheckpointEntry {
  readonly ns: string;
  readonly id: string;
  /** The seq of its `langgraph.checkpoint` event (the newest, when the id was put twice). */
  readonly seq: number;
  readonly parentId: string | null;
}

/** Where one pending write is: event seq and position in that event's `writes`. */
export interface WriteEntry {
  readonly taskId: string;
  readonly idx: number;
  readonly channel: string;
  readonly taskPath: string;
  readonly seq: number;
  readonly pos: number;
}

interface Namespace {
  checkpoints: Map<string, CheckpointEntry>;
  /** Checkpoint ids in ascending order (uuid6 ids sort by time, as every saver orders them). */
  ids: string[];
  /** Per checkpoint id: its writes by `task_id` and `idx`. */
  writes: Map<string, Map<string, WriteEntry>>;
}

/**
 * What the saver knows of one thread's timeline: which event holds each checkpoint and each
 * pending write, without their payloads (those are read by seq, and cached). Built from the
 * events in any order, each at most once: the saver adds its own appends as they are acknowledged
 * and reads only what came after `scannedTo` from the store, so a read does not scan the history.
 */
export class ThreadIndex {
  /** Every event with a seq up to this one is accounted for. */
  scannedTo: number;
  private readonly namespaces = new Map<string, Namespace>();
  private readonly seen = new Set<number>();
  /** The seqs of the checkpoint events read: the only events a checkpoint's refs may point at. */
  private readonly checkpointSeqs = new Set<number>();
  /** Seqs of this saver's own appends past scannedTo, waiting for the ones between to be known. */
  private readonly own = new Set<number>();
  /** The catch-up in progress, which other reads wait for instead of starting their own. */
  catchingUp: Promise<void> | undefined;

  constructor(
    readonly sessionId: string,
    lastSeq: number,
  ) {
    this.scannedTo = lastSeq;
  }

  /** Adds a thread event (others are ignored, as are malformed ones: the timeline is open to any writer). */
  add(event: SessionEvent): void {
    if (this.seen.has(event.seq)) return;
    this.seen.add(event.seq);
    if (event.type === CHECKPOINT_EVENT) this.addCheckpoint(event.seq, event.data as unknown as CheckpointRecord);
    else if (event.type === WRITES_EVENT) this.addWrites(event.seq, event.data as unknown as WritesRecord);
  }

  /** One of this saver's appends was acknowledged: when nothing can be between it and what is known, nothing is left to read. */
  addOwn(event: SessionEvent): void {
    this.add(event);
    this.own.add(event.seq);
    while (this.own.delete(this.scannedTo + 1)) this.scannedTo++;
  }

  /** Everything up to `seq` was read from the store. */
  caughtUp(seq: number): void {
    if (seq > this.scannedTo) this.scannedTo = seq;
    for (const s of this.own) if (s <= this.scannedTo) this.own.delete(s);
    while (this.own.delete(this.scannedTo + 1)) this.scannedTo++;
  }

  /** Whether the event at `seq` is one of the thread's checkpoint events (a ref to anything else is no value). */
  holdsCheckpointAt(seq: unknown): seq is number {
    return typeof seq === "number" && this.checkpointSeqs.has(seq);
  }

  checkpoint(ns: string, id: string): CheckpointEntry | undefined {
    return this.namespaces.get(ns)?.checkpoints.get(id);
  }

  /** The newest checkpoint of a namespace (the greatest id). */
  latest(ns: string): CheckpointEntry | undefined {
    const space = this.namespaces.get(ns);
    const id = space?.ids.at(-1);
    return id === undefined ? undefined : space!.checkpoints.get(id);
  }

  /** The checkpoints of one namespace, or of all, newest first. */
  newestFirst(ns: string | undefined): CheckpointEntry[] {
    const spaces = ns === undefined ? [...this.namespaces.values()] : [this.namespaces.get(ns)].filter((s): s is Namespace => s !== undefined);
    const entries = spaces.flatMap((space) => space.ids.map((id) => space.checkpoints.get(id)!));
    return entries.sort((a, b) => (a.id < b.id ? 1 : a.id > b.id ? -1 : a.ns < b.ns ? -1 : a.ns > b.ns ? 1 : 0));
  }

  /** A checkpoint's pending writes in `writesSortKey` order, the order LangGraph applies them in. */
  writes(ns: string, checkpointId: string): WriteEntry[] {
    const stored = this.namespaces.get(ns)?.writes.get(checkpointId);
    if (!stored) return [];
    return [...stored.values()].sort((a, b) => compareWritesSortKeys(writesSortKey(a.taskPath, a.taskId, a.idx), writesSortKey(b.taskPath, b.taskId, b.idx)));
  }

  private space(ns: string): Namespace {
    let space = this.namespaces.get(ns);
    if (!space) this.namespaces.set(ns, (space = { checkpoints: new Map(), ids: [], writes: new Map() }));
    return space;
  }

  private addCheckpoint(seq: number, record: CheckpointRecord): void {
    if (typeof record?.checkpoint_ns !== "string" || typeof record.checkpoint_id !== "string") return;
    this.checkpointSeqs.add(seq);
    const space = this.space(record.checkpoint_ns);
    const id = record.checkpoint_id;
    const known = space.checkpoints.get(id);
    // The same id put twice: the later put is the checkpoint, whole (as a database row replaced).
    if (known && known.seq > seq) return;
    space.checkpoints.set(id, { ns: record.checkpoint_ns, id, seq, parentId: typeof record.parent_checkpoint_id === "string" ? record.parent_checkpoint_id : null });
    if (!known) insertSorted(space.ids, id);
  }

  private addWrites(seq: number, record: WritesRecord): void {
    if (typeof record?.checkpoint_ns !== "string" || typeof record.checkpoint_id !== "string" || !Array.isArray(record.writes)) return;
    const space = this.space(record.checkpoint_ns);
    let stored = space.writes.get(record.checkpoint_id);
    if (!stored) space.writes.set(record.checkpoint_id, (stored = new Map()));
    record.writes.forEach((write, pos) => {
      if (typeof write?.channel !== "string" || typeof write.idx !== "number") return;
      const key = `${record.task_id}\u0000${write.idx}`;
      const known = stored.get(key);
      const entry: WriteEntry = { taskId: record.task_id, idx: write.idx, channel: write.channel, taskPath: record.task_path ?? "", seq, pos };
      // A task's regular write is kept once (the first); a special one (an error, an interrupt: idx < 0) the latest.
      if (!known || (write.idx < 0 ? later(entry, known) : later(known, entry))) stored.set(key, entry);
    });
  }
}

function later(a: WriteEntry, b: WriteEntry): boolean {
  return a.seq > b.seq || (a.seq === b.seq && a.pos > b.pos);
}

function insertSorted(ids: string[], id: string): void {
  if (!ids.length || ids.at(-1)! < id) {
    ids.push(id);
    return;
  }
  let lo = 0;
  let hi = ids.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (ids[mid]! < id) lo = mid + 1;
    else hi = mid;
  }
  ids.splice(lo, 0, id);
}
