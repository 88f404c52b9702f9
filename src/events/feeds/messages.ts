import { isUtf8 } from "node:buffer";
import type { SessionEvent } from "../../core/index.js";
import { type FeedEntry, type StoredOutput, storedDataText } from "../../store/index.js";
import { withoutExecIo } from "../../drivers/exec-io.js";
import type { OutletMessage } from "./outlet.js";

/**
 * The JSON messages of streams and feeds (docs/streams.md, "Messages"). Built once per event or
 * chunk and shared by every subscriber that gets it.
 */

/** A per-session stream's resume cursor: the last event seq and the last output position sent. */
export function streamCursor(seq: number, pos: number): string {
  return `${seq}:${pos}`;
}

/** The JSON of an event's message, by event, in its two forms: whole, and without exec input and output. */
const eventJsons = new WeakMap<SessionEvent, { whole?: string; withoutIo?: string }>();

/**
 * A session event on a per-session stream. Its JSON is built once per event and form, however
 * many streams send it: each of an agent's streams (64 at most) would otherwise serialize every
 * event anew, a megabyte event 64 times.
 * @param withoutIoOf the session's kind, when exec input and output are to be left out (withoutExecIo)
 */
export function eventMessage(sessionId: string, event: SessionEvent, id: string, withoutIoOf?: string): OutletMessage {
  let known = eventJsons.get(event);
  if (!known) eventJsons.set(event, (known = {}));
  const form = withoutIoOf === undefined ? "whole" : "withoutIo";
  let json = known[form];
  if (json === undefined) {
    const shown = withoutIoOf === undefined ? event : withoutExecIo(withoutIoOf, event);
    // A large event read from the store (a backlog) goes with its stored text, unparsed.
    const stored = storedDataText(shown);
    json = known[form] =
      stored === undefined
        ? JSON.stringify({ type: "event", session_id: sessionId, seq: shown.seq, ts: shown.ts, event_type: shown.type, data: shown.data })
        : `{"type":"event","session_id":${JSON.stringify(sessionId)},"seq":${shown.seq},"ts":${JSON.stringify(shown.ts)},"event_type":${JSON.stringify(shown.type)},"data":${stored}}`;
  }
  return { type: "event", id, json };
}

/** Roughly how many bytes an event's message holds (its JSON, when built already), for what a stream holds back. */
export function eventMessageBytes(sessionId: string, event: SessionEvent): number {
  return eventMessage(sessionId, event, "").json.length;
}

/** An output chunk (possibly the tail of a stored piece, from `skip` bytes in). */
export function outputMessage(piece: StoredOutput, id: string, skip = 0): OutletMessage {
  const bytes = skip > 0 ? piece.data.subarray(skip) : piece.data;
  const text = isUtf8(bytes);
  return {
    type: "output",
    id,
    json: JSON.stringify({
      type: "output",
      session_id: piece.session_id,
      exec_id: piece.exec_id,
      stream: piece.stream,
      offset: piece.offset + skip,
      pos: piece.pos,
      ...(text ? { data: bytes.toString("utf8") } : { encoding: "base64", data: Buffer.from(bytes).toString("base64") }),
    }),
  };
}

/**
 * An event on the global feed, with its global position and the session's owner fields; `cut`:
 * without exec input and output (withoutExecIo).
 */
export function feedMessage(entry: FeedEntry, cut = false): OutletMessage {
  const e = cut ? withoutExecIo(entry.kind, entry.event) : entry.event;
  return {
    type: "event",
    id: String(entry.pos),
    json: JSON.stringify({
      type: "event",
      pos: entry.pos,
      session_id: entry.session_id,
      kind: entry.kind,
      agent_id: entry.agent_id,
      seq: e.seq,
      ts: e.ts,
      event_type: e.type,
      data: e.data,
    }),
  };
}

/**
 * A session of the feed was deleted (feed subscribers that asked with `deletions=1`): no SSE id,
 * as it has no position in the feed's order.
 */
export function deletedMessage(session: { readonly session_id: string; readonly kind: string; readonly agent_id: string | null }): OutletMessage {
  return { type: "deleted", json: JSON.stringify({ type: "deleted", session_id: session.session_id, kind: session.kind, agent_id: session.agent_id }) };
}

/** Backfill is over; what follows is live. */
export function readyMessage(cursor: string): OutletMessage {
  // Its SSE id is the cursor too: a browser dropped before any other message resumes from here.
  return { type: "ready", id: cursor, json: JSON.stringify({ type: "ready", cursor }) };
}
