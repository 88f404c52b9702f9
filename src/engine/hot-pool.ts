import { LRUCache } from "lru-cache";
import type { Session } from "../core/index.js";

/**
 * The sessions held in memory, bounded by count with least-recently-used eviction, indexed by
 * id and by name. Reads of a hot session never touch disk.
 *
 * A name is unique per agent_id only, so several hot sessions may hold one name: the name index
 * keeps every id that holds it, and the engine tells them apart by their agent_id.
 *
 * Eviction never loses a write: a session with unwritten changes is also held by the group
 * committer until its batch commits (see GroupCommitter.unwritten), and lookups ask there before
 * the store. So the pool may drop any entry, and only clean sessions truly leave memory.
 */
export class HotPool {
  private readonly byId: LRUCache<string, Session>;
  private readonly idsByName = new Map<string, Set<string>>();

  constructor(maxSessions: number) {
    this.byId = new LRUCache<string, Session>({
      max: maxSessions,
      dispose: (session, id, reason) => {
        // "set" replaces the entry in place and keeps the name mapping (updated by set()).
        if (reason !== "set") this.unindex(session.name, id);
      },
    });
  }

  get(id: string): Session | undefined {
    return this.byId.get(id);
  }

  /** The hot sessions named `name`, in any namespace. */
  named(name: string): Session[] {
    const ids = this.idsByName.get(name);
    if (!ids) return [];
    const found: Session[] = [];
    for (const id of ids) {
      const session = this.byId.peek(id);
      if (session) found.push(session);
    }
    return found;
  }

  set(session: Session): void {
    const previous = this.byId.peek(session.id);
    if (previous && previous.name !== session.name) this.unindex(previous.name, session.id);
    this.byId.set(session.id, session);
    let ids = this.idsByName.get(session.name);
    if (!ids) this.idsByName.set(session.name, (ids = new Set()));
    ids.add(session.id);
  }

  delete(id: string): void {
    this.byId.delete(id);
  }

  get size(): number {
    return this.byId.size;
  }

  private unindex(name: string, id: string): void {
    const ids = this.idsByName.get(name);
    if (!ids) return;
    ids.delete(id);
    if (ids.size === 0) this.idsByName.delete(name);
  }
}
