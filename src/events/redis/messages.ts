import type { RuntimeBackend, SessionStatus } from "../../core/index.js";
import type { SessionChange } from "../../engine/index.js";

/** Fields every message shares (seed 003's envelope). */
interface Envelope<T extends string, P> {
  readonly event_type: T;
  readonly aggregate_type: "session";
  /** The session id. */
  readonly aggregate_id: string;
  readonly payload: P;
}

/**
 * A message on the Redis channel (`events:session` by default). `session.created` and
 * `session.updated` are seed 003's shapes exactly; `session.deleted`, `session.event_appended`
 * and `session.checkpoint_created` extend them in the same envelope. Event data and checkpoint
 * data are not carried (they can be a megabyte each): read them over REST by seq or id.
 */
export type RedisSessionMessage =
  | Envelope<"session.created", { agent_id: string | null; session_type: string | null; runtime_backend: RuntimeBackend }>
  | Envelope<"session.updated", { agent_id: string | null; status: SessionStatus; updates: readonly string[] }>
  | Envelope<"session.deleted", { agent_id: string | null; status: SessionStatus }>
  | Envelope<"session.event_appended", { agent_id: string | null; status: SessionStatus; seq: number; type: string; ts: string }>
  | Envelope<
      "session.checkpoint_created",
      { agent_id: string | null; status: SessionStatus; checkpoint_id: string; seq: number; label: string | null }
    >;

/** The Redis message for a committed change. */
export function redisMessage(change: SessionChange): RedisSessionMessage {
  const s = change.session;
  const envelope = { aggregate_type: "session", aggregate_id: s.id } as const;
  switch (change.type) {
    case "session.created":
      return {
        event_type: "session.created",
        ...envelope,
        payload: { agent_id: s.agent_id, session_type: s.type, runtime_backend: s.runtime_backend },
      };
    case "session.updated":
      return { event_type: "session.updated", ...envelope, payload: { agent_id: s.agent_id, status: s.status, updates: change.updates } };
    case "session.deleted":
      return { event_type: "session.deleted", ...envelope, payload: { agent_id: s.agent_id, status: s.status } };
    case "event.appended": {
      const { seq, type, ts } = change.event;
      return { event_type: "session.event_appended", ...envelope, payload: { agent_id: s.agent_id, status: s.status, seq, type, ts } };
    }
    case "checkpoint.created": {
      const { id, seq, label } = change.checkpoint;
      return {
        event_type: "session.checkpoint_created",
        ...envelope,
        payload: { agent_id: s.agent_id, status: s.status, checkpoint_id: id, seq, label },
      };
    }
  }
}

/** Strings that are their own JSON body (ids, ISO times, statuses, most names): no escaping needed. */
const PLAIN = /^[\w .:+-]*$/;

/** A string or null as JSON; plain strings skip the generic serializer. */
function str(value: string | null): string {
  if (value === null) return "null";
  return PLAIN.test(value) ? `"${value}"` : JSON.stringify(value);
}

/**
 * `JSON.stringify(redisMessage(change))`, built directly as text: the publisher runs this once
 * per committed change on the writers' event loop, and skipping the intermediate object and the
 * generic serializer halves its cost. Same keys, same order, same values (a test checks the two
 * agree for every change type).
 */
export function redisMessageJson(change: SessionChange): string {
  const s = change.session;
  const head = `{"event_type":"${change.type === "event.appended" ? "session.event_appended" : change.type === "checkpoint.created" ? "session.checkpoint_created" : change.type}","aggregate_type":"session","aggregate_id":${str(s.id)},"payload":{"agent_id":${str(s.agent_id)}`;
  switch (change.type) {
    case "session.created":
      return `${head},"session_type":${str(s.type)},"runtime_backend":${str(s.runtime_backend)}}}`;
    case "session.updated":
      return `${head},"status":${str(s.status)},"updates":${JSON.stringify(change.updates)}}}`;
    case "session.deleted":
      return `${head},"status":${str(s.status)}}}`;
    case "event.appended": {
      const { seq, type, ts } = change.event;
      return `${head},"status":${str(s.status)},"seq":${seq},"type":${str(type)},"ts":${str(ts)}}}`;
    }
    case "checkpoint.created": {
      const { id, seq, label } = change.checkpoint;
      return `${head},"status":${str(s.status)},"checkpoint_id":${str(id)},"seq":${seq},"label":${str(label)}}}`;
    }
  }
}
