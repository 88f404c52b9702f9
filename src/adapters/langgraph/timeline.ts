import { type CreateSessionInput, type JsonObject, type Page, type PageRequest, type Session, type SessionEvent, type SessionFilter, isSessiondError } from "../../core/index.js";
import type { SessionManager } from "../../engine/index.js";
import type { SessiondClient } from "../../sdk/client/index.js";

/** A range of one session's events, as both backends read it. */
export interface EventRange {
  after_seq?: number;
  to_seq?: number;
  types?: string[];
  limit: number;
}

/**
 * The few calls the saver makes on sessiond, which the engine (embedded) and `sessiond/client`
 * (remote) both answer with the same records: one saver implementation over either.
 */
export interface Timeline {
  /** The session `ref` (id or `agent_id/name`) names, or undefined when there is none. */
  find(ref: string): Promise<Session | undefined>;
  /** @throws conflict naming `name` when the name is taken (another saver created it first) */
  create(input: CreateSessionInput): Promise<Session>;
  /**
   * Resolves once the event is durable. `text` is the JSON text of the event's data, which the
   * saver builds as text (records.ts eventText): the engine stores it as it is and parses it only
   * if something reads the event. `alone`: no other write of the saver is under way, so none could
   * share this one's commit (the engine then commits it at once where it can).
   * @throws not_found when the session was deleted
   */
  append(sessionId: string, type: string, text: string, options?: { alone?: boolean }): Promise<SessionEvent>;
  /** Oldest first. */
  events(sessionId: string, range: EventRange): Promise<SessionEvent[]>;
  sessions(filter: SessionFilter, page: PageRequest): Promise<Page<Session>>;
  /** Deletes the session with its history; false when there was none. */
  remove(ref: string): Promise<boolean>;
}

/** The engine in this process: a SessionManager you built, or the embedded one's. */
export function engineTimeline(manager: () => SessionManager): Timeline {
  return {
    find: (ref) => manager().find(ref),
    create: (input) => manager().create(input),
    // As text (see Timeline.append): no stringify of the checkpoint, and no parse of it. A write
    // alone is committed at once where the store allows, with whatever the saver's other writes
    // queued before it; one beside others joins the group commit they share (a graph's writes of
    // one step, at FULL one fsync for all).
    append: async (sessionId, type, text, options) => {
      const engine = manager();
      return (options?.alone ? engine.tryAppendBuiltEventTextSync(sessionId, type, text) : undefined) ?? engine.appendBuiltEventText(sessionId, type, text);
    },
    events: (sessionId, range) => manager().listEvents(sessionId, range),
    sessions: (filter, page) => manager().list(filter, page),
    async remove(ref) {
      try {
        await manager().delete(ref);
        return true;
      } catch (err) {
        if (isSessiondError(err, "not_found")) return false;
        throw err;
      }
    },
  };
}

/** A sessiond server through `sessiond/client` (its Unix socket, or a URL and token). */
export function clientTimeline(client: Pick<SessiondClient, "sessions">): Timeline {
  const { sessions } = client;
  return {
    async find(ref) {
      try {
        return await sessions.getSession(ref);
      } catch (err) {
        if (isSessiondError(err, "not_found")) return undefined;
        throw err;
      }
    },
    create: (input) => sessions.createSession(input),
    // The server checks and stores the data as it checks any event's: it goes as JSON.
    append: (sessionId, type, text) => sessions.appendEvent(sessionId, type, JSON.parse(text) as JsonObject),
    // A server cuts a page of large events short (maxPageBytes): listEventsUpTo follows it, so
    // that fewer than `limit` still means the end, as from the engine.
    events: (sessionId, range) => sessions.listEventsUpTo(sessionId, range),
    sessions: (filter, page) => sessions.listSessions(filter, page),
    async remove(ref) {
      try {
        await sessions.deleteSession(ref);
        return true;
      } catch (err) {
        if (isSessiondError(err, "not_found")) return false;
        throw err;
      }
    },
  };
}

/**
 * The embedded sessiond of `import … from "sessiond"` (SESSIOND_HOME, or what configureSessions
 * set): its engine when this process owns the data dir; otherwise the owner, through the data
 * dir's socket, as `sessiond/client` reaches it. Asked again on every call, so a takeover or a
 * configureSessions is followed. The engine is loaded on first use, not when the saver is imported.
 */
export function embeddedTimeline(): Timeline {
  let embedded: typeof import("../../sdk/embedded.js") | undefined;
  let local: { manager: SessionManager; timeline: Timeline } | undefined;
  let remote: { socket: string; timeline: Timeline } | undefined;
  const resolve = async (): Promise<Timeline> => {
    embedded ??= await import("../../sdk/embedded.js");
    let manager: SessionManager;
    try {
      manager = embedded.sessionManager();
    } catch (err) {
      if (!isSessiondError(err, "not_owner") || typeof err.params.socket !== "string") throw err;
      const socket = err.params.socket;
      if (remote?.socket !== socket) {
        const { createClient } = await import("../../sdk/client/index.js");
        remote = { socket, timeline: clientTimeline(createClient({ socketPath: socket })) };
      }
      return remote.timeline;
    }
    if (local?.manager !== manager) local = { manager, timeline: engineTimeline(() => manager) };
    return local.timeline;
  };
  return {
    find: async (ref) => (await resolve()).find(ref),
    create: async (input) => (await resolve()).create(input),
    append: async (sessionId, type, text, options) => (await resolve()).append(sessionId, type, text, options),
    events: async (sessionId, range) => (await resolve()).events(sessionId, range),
    sessions: async (filter, page) => (await resolve()).sessions(filter, page),
    remove: async (ref) => (await resolve()).remove(ref),
  };
}
