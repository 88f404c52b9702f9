import type { SessionFilter, SessionPageRequest } from "../../core/index.js";
import type { SessionManager } from "../../engine/index.js";
import { type Principal, seesSavedEnv } from "../auth/index.js";
import { listCursor } from "../../store/index.js";
import { boundedArrayJson, sessionJson } from "../wire.js";

/** A page of sessions as the wire sends it. */
export interface ListPage {
  /** Encoded once, however many requests share the page. */
  readonly json: Buffer;
  readonly next_cursor: string | null;
}

interface Pending {
  /** Commits seen when the read was started. */
  readonly epoch: number;
  readonly page: Promise<ListPage>;
}

/**
 * Identical list requests that arrive together share one store read and one serialization
 * (many agents or dashboards polling the same page). It is not a cache: a request joins a read
 * only if no commit has happened since that read was requested, and the read runs after that,
 * so a request still sees every write acknowledged before it arrived (the engine publishes a
 * commit before it acknowledges it, which is what moves `epoch`).
 */
export class CoalescedLists {
  private readonly pending = new Map<string, Pending>();
  private epoch = 0;
  private readonly unsubscribe: () => void;

  constructor(
    private readonly manager: SessionManager,
    /** config maxPageBytes: a page is cut there, its next cursor its last session's. */
    private readonly maxPageBytes: number,
  ) {
    this.unsubscribe = manager.bus.subscribe(() => {
      this.epoch++;
    });
  }

  /** The page as `principal` may see it; requests join only reads serialized for the same view. */
  read(filter: SessionFilter, page: SessionPageRequest, principal: Principal): Promise<ListPage> {
    const key = JSON.stringify([filter, page.limit, page.cursor, page.sort, page.order, seesSavedEnv(principal)]);
    const joined = this.pending.get(key);
    if (joined && joined.epoch === this.epoch) return joined.page;
    const entry: Pending = {
      epoch: this.epoch,
      // The read waits for the end of this turn of the event loop, so that the requests the
      // server is parsing now (all that arrived while it was busy) can join it.
      page: new Promise<void>((resolve) => setImmediate(resolve))
        .then(() => this.manager.list(filter, page))
        .then((p) => {
          const { json, count } = boundedArrayJson(p.items, (s) => sessionJson(s, principal), this.maxPageBytes);
          // Cut short, the page continues after its last session sent, at that session's place in the order.
          const last = p.positions[count - 1];
          return { json: Buffer.from(json), next_cursor: count < p.items.length && last ? listCursor(last) : p.next_cursor };
        }),
    };
    this.pending.set(key, entry);
    const done = () => {
      if (this.pending.get(key) === entry) this.pending.delete(key);
    };
    entry.page.then(done, done);
    return entry.page;
  }

  close(): void {
    this.unsubscribe();
    this.pending.clear();
  }
}
