import type { AgentInputItem } from "@openai/agents-core";
import { isSessiondError } from "../../core/errors.js";
import type { SessionEvent } from "../../core/events.js";
import { decodeItem } from "./item-codec.js";
import type { Timeline } from "./timeline.js";

/** One conversation item: its event's data is the item (item-codec.ts). */
export const ITEM_EVENT = "agent.item";
/** popItem: `{session_id, seq}` names the item event it removed (a fork's may be its parent's). */
export const POPPED_EVENT = "agent.item_popped";
/** clearSession: the items before it are gone. */
export const CLEARED_EVENT = "agent.items_cleared";
/** The engine's: restore (`{seq}`) rewinds the session to a checkpoint; a fork's first (`{forked_from, seq}`) carries its parent's history up to the checkpoint. */
const RESTORE_EVENT = "restore";

const HISTORY_EVENTS = [ITEM_EVENT, POPPED_EVENT, CLEARED_EVENT, RESTORE_EVENT] as const;

/** Where the walk reads next: a session's events up to `toSeq` (all when undefined). */
interface Segment {
  sessionId: string;
  toSeq: number | undefined;
}

/** A live item and the event that holds it. */
export interface StoredItem {
  readonly sessionId: string;
  readonly seq: number;
  readonly item: AgentInputItem;
}

/** A clear's place: a walk through that session from above it needs none of the events below it. */
export interface ClearMark {
  readonly sessionId: string;
  readonly seq: number;
}

/** How far a walk reads, and what it knows and learns of clears. */
export interface WalkOptions {
  /** Start below this event (from the newest when absent). */
  toSeq?: number;
  /** Events per read. */
  pageSize: number;
  /** A clear known to be on this history, read as a lower bound so that no read fetches the events under it. */
  lastClear?: ClearMark | undefined;
  /** Told of the clear the walk stopped at. */
  onClear?: (mark: ClearMark) => void;
}

/**
 * The session's live items, newest first, read a page at a time and only as far as the caller
 * iterates: from the newest event (or from `toSeq`) back to the last clear, skipping popped items,
 * jumping back to the checkpoint at a restore and into the parent at a fork. So `getItems(limit)`
 * and `popItem` read about `limit` events, not the session's history; and with `lastClear` no read
 * fetches what lies under it.
 */
export async function* liveItems(timeline: Timeline, sessionId: string, options: WalkOptions): AsyncGenerator<StoredItem> {
  const popped = new Set<string>();
  const visited = new Set<string>();
  let { lastClear } = options;
  let segment: Segment | undefined = { sessionId, toSeq: options.toSeq };
  while (segment) {
    const id: string = segment.sessionId;
    let toSeq = segment.toSeq;
    segment = undefined;
    pages: while (toSeq === undefined || toSeq >= 1) {
      // The mark bounds a read of its own session that still has the clear in range (a restore may have jumped below it).
      const afterSeq = lastClear && lastClear.sessionId === id && (toSeq === undefined || toSeq >= lastClear.seq) ? lastClear.seq - 1 : undefined;
      let events: SessionEvent[];
      try {
        events = await timeline.newest(id, { types: HISTORY_EVENTS, limit: options.pageSize, ...(toSeq !== undefined ? { toSeq } : {}), ...(afterSeq !== undefined ? { afterSeq } : {}) });
      } catch (err) {
        // A fork whose parent was deleted keeps its own items; the parent's went with it.
        if (id !== sessionId && isSessiondError(err, "not_found")) return;
        throw err;
      }
      for (const event of events) {
        const data = event.data as Record<string, unknown>;
        if (event.type === ITEM_EVENT) {
          if (!popped.has(itemKey(id, event.seq))) yield { sessionId: id, seq: event.seq, item: decodeItem(event.data) };
        } else if (event.type === POPPED_EVENT) {
          if (typeof data.session_id === "string" && typeof data.seq === "number") popped.add(itemKey(data.session_id, data.seq));
        } else if (event.type === CLEARED_EVENT) {
          options.onClear?.({ sessionId: id, seq: event.seq });
          return;
        } else if (typeof data.seq === "number") {
          const next: Segment = { sessionId: typeof data.forked_from === "string" ? data.forked_from : id, toSeq: data.seq };
          const key = itemKey(next.sessionId, data.seq);
          // Only backwards, never twice: an imported history cannot send the walk round in circles.
          if ((next.sessionId === id && data.seq >= event.seq) || visited.has(key)) continue;
          visited.add(key);
          segment = next;
          break pages;
        }
      }
      if (events.length === options.pageSize) toSeq = events.at(-1)!.seq - 1;
      else if (afterSeq !== undefined) {
        // Down to the mark and no clear there (a context edited by hand?): read on below it, unbounded.
        toSeq = afterSeq;
        lastClear = undefined;
      } else break;
    }
  }
}

/** The newest `limit` live items (all when undefined), oldest first. */
export async function readItems(timeline: Timeline, sessionId: string, limit: number | undefined, clears: Pick<WalkOptions, "lastClear" | "onClear"> = {}): Promise<StoredItem[]> {
  if (limit !== undefined && limit <= 0) return [];
  const found: StoredItem[] = [];
  for await (const stored of liveItems(timeline, sessionId, { ...clears, pageSize: pageFor(limit) })) {
    found.push(stored);
    if (found.length === limit) break;
  }
  return found.reverse();
}

/**
 * Whether `target` is still live just before event `toSeq`: read from there down to it. Used after a
 * pop, to learn whether another caller's pop of the same item came first.
 */
export async function isLive(timeline: Timeline, sessionId: string, target: StoredItem, toSeq: number): Promise<boolean> {
  let seenItsSession = false;
  for await (const stored of liveItems(timeline, sessionId, { toSeq, pageSize: pageFor(1) })) {
    if (stored.sessionId === target.sessionId && stored.seq === target.seq) return true;
    // Past it: older items of its session, or items of an older session after its own.
    if (stored.sessionId === target.sessionId) {
      if (stored.seq < target.seq) return false;
      seenItsSession = true;
    } else if (seenItsSession) return false;
  }
  return false;
}

/** Events per read: enough for `limit` items and a few pops between them; the engine's page for everything. */
function pageFor(limit: number | undefined): number {
  return limit === undefined ? 1000 : Math.min(1000, 2 * limit + 8);
}

function itemKey(sessionId: string, seq: number): string {
  return `${sessionId}:${seq}`;
}
