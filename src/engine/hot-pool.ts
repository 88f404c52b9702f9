import { LRUCache } from "lru-cache";
import type { Session } from "../core/index.js";

/**
 * The sessions held in memory, bounded by count with least-recently-used eviction, indexed by
 * id and by name. Reads of a hot session never touch disk.
 *
 * Eviction never loses a write: a session with unwritten changes is also held by the group
 * committer until its batch commits (see GroupCommitter.unwritten), and lookups ask there before
 * the store. So the pool may drop any entry, and only clean sessions truly leave memory.
 */
export class HotPool {
  private readonly byId: LRUCache<string, Session>;
  private readonly idByName = new Map<string, string>();

  constructor(maxSessions: number) {
    this.byId = new LRUCache<string, Session>({
      max: maxSessions,
      dispose: (session, id, reason) => {
        // "set" replaces the entry in place and keeps the name mapping (updated by set()).
        if (reason !== "set" && this.idByName.get(session.name) === id) this.idByName.delete(session.name);
      },
    });
  }

  get(id: string): Session | undefined {
    return this.byId.get(id);
  }

  idForName(name: string): string | undefined {
    return this.idByName.get(name);
  }

  set(session: Session): void {
    const previous = this.byId.peek(session.id);
    if (previous && previous.name !== session.name && this.idByName.get(previous.name) === session.id) {
      this.idByName.delete(previous.name);
    }
    this.byId.set(session.id, session);
    this.idByName.set(session.name, session.id);
  }

  delete(id: string): void {
    this.byId.delete(id);
  }

  get size(): number {
    return this.byId.size;
  }
}
