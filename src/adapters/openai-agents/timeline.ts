import type { SessionEvent } from "../../core/events.js";
import type { CreateSessionInput, JsonObject, Session } from "../../core/session.js";
import type { SessionManager } from "../../engine/index.js";
import type { SessiondClient } from "../../sdk/client/index.js";

/**
 * The few calls the adapter makes of sessiond, which the embedded engine and the HTTP client both
 * answer: so one implementation of the Session serves both, and a test can count what it asks.
 * Errors are sessiond's own (`not_found` for a session that does not exist, or that the caller's
 * token may not see).
 */
export interface Timeline {
  /** The session with this id, name or `agent_id/name`. @throws not_found */
  session(ref: string): Promise<Session>;
  create(input: CreateSessionInput): Promise<Session>;
  /** Appends one event; resolves once it is durable. */
  append(sessionId: string, type: string, data: JsonObject): Promise<SessionEvent>;
  /** Merges `patch` into the session's context (RFC 7396). */
  mergeContext(sessionId: string, patch: JsonObject): Promise<unknown>;
  /** The session's events of `types`, newest first, from `toSeq` down (from the newest when absent) to above `afterSeq`, at most `limit`. */
  newest(sessionId: string, query: { types: readonly string[]; toSeq?: number; afterSeq?: number; limit: number }): Promise<SessionEvent[]>;
}

/** Where the sessions are: the embedded engine (`sessionManager()` from `sessiond`, or one you built), a client of a server (`createClient()` from `sessiond/client`), or a Timeline of your own. */
export type SessiondBackend = SessionManager | SessiondClient | Timeline;

/** The Timeline over a backend. @throws TypeError for anything else */
export function timelineOf(backend: SessiondBackend): Timeline {
  if (backend === null || typeof backend !== "object") {
    throw new TypeError("sessiond/openai-agents: the option `sessiond` is missing: give the embedded engine (sessionManager() from sessiond) or a client (createClient() from sessiond/client)");
  }
  if (isTimeline(backend)) return backend;
  if (isClient(backend)) return clientTimeline(backend);
  if (isManager(backend)) return engineTimeline(backend);
  throw new TypeError("sessiond/openai-agents: `sessiond` must be the embedded engine (sessionManager() from sessiond) or a client (createClient() from sessiond/client)");
}

function engineTimeline(manager: SessionManager): Timeline {
  return {
    session: (ref) => manager.get(ref),
    create: (input) => manager.create(input),
    append: (id, type, data) => manager.appendEvent(id, type, data),
    mergeContext: (id, patch) => manager.updateContext(id, patch, { merge: true }),
    newest: (id, { types, toSeq, afterSeq, limit }) => manager.listEvents(id, { types: [...types], descending: true, limit, ...range(toSeq, afterSeq) }),
  };
}

function clientTimeline(client: SessiondClient): Timeline {
  const { sessions } = client;
  return {
    session: (ref) => sessions.getSession(ref),
    create: (input) => sessions.createSession(input),
    append: (id, type, data) => sessions.appendEvent(id, type, data),
    mergeContext: (id, patch) => sessions.updateSession(id, { context_patch: patch }),
    // Followed past a page the server cut short (maxPageBytes): fewer than `limit` means the end.
    newest: (id, { types, toSeq, afterSeq, limit }) => sessions.listEventsUpTo(id, { types: [...types], order: "desc", limit, ...range(toSeq, afterSeq) }),
  };
}

function range(toSeq: number | undefined, afterSeq: number | undefined): { to_seq?: number; after_seq?: number } {
  return { ...(toSeq !== undefined ? { to_seq: toSeq } : {}), ...(afterSeq !== undefined ? { after_seq: afterSeq } : {}) };
}

function isTimeline(backend: object): backend is Timeline {
  const t = backend as Partial<Timeline>;
  return typeof t.session === "function" && typeof t.append === "function" && typeof t.newest === "function" && typeof t.create === "function" && typeof t.mergeContext === "function";
}

function isClient(backend: object): backend is SessiondClient {
  const sessions = (backend as Partial<SessiondClient>).sessions;
  return typeof sessions === "object" && sessions !== null && typeof sessions.listEvents === "function" && typeof sessions.appendEvent === "function";
}

function isManager(backend: object): backend is SessionManager {
  const m = backend as Partial<SessionManager>;
  return typeof m.listEvents === "function" && typeof m.appendEvent === "function" && typeof m.get === "function" && typeof m.create === "function";
}
