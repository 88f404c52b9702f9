import {
  type Config,
  type EventQuery,
  EventQuerySchema,
  type Session,
  type SessionEvent,
  type SessionFilter,
  SessionFilterSchema,
  type SessionPageRequest,
  SessionPageRequestSchema,
  type SessionStats,
  errors,
  textFault,
  validate,
} from "../core/index.js";
import type { SessionPage, SyncStore } from "../store/index.js";
import { nameQuery, pickNamed, refParts } from "./session-manager.js";

/**
 * The synchronous reads of a SessionManager, straight from a store some other process writes:
 * no hot pool, so nothing read can go stale. Every read sees every write committed before it
 * began — and the owner acknowledges a write only once it is committed.
 */
export class StoreReader {
  constructor(
    private readonly store: SyncStore,
    private readonly config: Pick<Config, "defaultPageSize">,
  ) {}

  /** The session with this id, name or `agent_id/name`. @throws ambiguous_name */
  findSync(ref: string): Session | undefined {
    if (textFault(ref) !== undefined) return undefined;
    const wanted = refParts(ref, undefined);
    if (wanted.id !== undefined) {
      const byId = this.store.getSession(wanted.id);
      if (byId) return byId;
    }
    if (wanted.name === undefined) return undefined;
    const ids = this.store.findSessionIds(nameQuery(wanted.name, wanted.namespace, undefined));
    return pickNamed(wanted.name, ids.map((id) => this.store.getSession(id)), undefined, wanted.namespace);
  }

  /** @throws not_found; ambiguous_name */
  getSync(ref: string): Session {
    const session = this.findSync(ref);
    if (!session) throw errors.sessionNotFound(ref);
    return session;
  }

  listSync(filter: SessionFilter = {}, page: SessionPageRequest = {}): SessionPage {
    const f = validate(SessionFilterSchema, filter ?? {}, "filter");
    const p = validate(SessionPageRequestSchema, page ?? {});
    return this.store.listSessions(f, { ...p, limit: p.limit ?? this.config.defaultPageSize });
  }

  listEventsSync(ref: string, query: EventQuery = {}): SessionEvent[] {
    const q = validate(EventQuerySchema, query);
    return this.store.listEvents(this.getSync(ref).id, q);
  }

  statsSync(filter: SessionFilter = {}): SessionStats {
    return this.store.stats(validate(SessionFilterSchema, filter, "filter"));
  }

  close(): void {
    this.store.close();
  }
}
