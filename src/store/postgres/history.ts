import type pg from "pg";
import { type CheckpointRow, type EventRow, checkpointFromRow, eventFromRow } from "../rows.js";
import type { Store } from "../store.js";
import { rows } from "./db.js";

/** The reads of a session's history (events and checkpoints) in the Store contract. */
export type HistoryReads = Pick<Store, "listEvents" | "getCheckpoint" | "listCheckpoints" | "checkpointAtOrBefore" | "activity">;

/** A session's event key, looked up in the statement that uses it. */
const SKEY_OF = "(SELECT skey FROM sessions WHERE id = $1)";

/** A session's events, checkpoints and activity counts, read over `pool`. */
export function historyReads(pool: pg.Pool): HistoryReads {
  return {
    async listEvents(sessionId, query) {
      const clauses = [`skey = ${SKEY_OF}`, "seq > $2"];
      const params: unknown[] = [sessionId, query.after_seq ?? 0];
      if (query.to_seq !== undefined) {
        params.push(query.to_seq);
        clauses.push(`seq <= $${params.length}`);
      }
      if (query.types?.length) {
        params.push(query.types);
        clauses.push(`type = ANY($${params.length}::text[])`);
      }
      params.push(query.limit ?? 100);
      const order = query.descending ? "DESC" : "ASC";
      const events = await rows<EventRow>(
        pool,
        `SELECT seq, ts, type, data FROM events WHERE ${clauses.join(" AND ")} ORDER BY seq ${order} LIMIT $${params.length}`,
        params,
      );
      return events.map(eventFromRow);
    },

    async getCheckpoint(sessionId, checkpointId) {
      const [row] = await rows<CheckpointRow>(pool, "SELECT * FROM checkpoints WHERE id = $1 AND session_id = $2", [checkpointId, sessionId]);
      return row && checkpointFromRow(row);
    },

    async listCheckpoints(sessionId, limit) {
      const found = await rows<CheckpointRow>(pool, "SELECT * FROM checkpoints WHERE session_id = $1 ORDER BY seq ASC LIMIT $2", [sessionId, limit]);
      return found.map(checkpointFromRow);
    },

    async checkpointAtOrBefore(sessionId, seq) {
      const [row] = await rows<CheckpointRow>(
        pool,
        "SELECT * FROM checkpoints WHERE session_id = $1 AND seq <= $2 ORDER BY seq DESC LIMIT 1",
        [sessionId, seq],
      );
      return row && checkpointFromRow(row);
    },

    async activity(sessionId) {
      const byType = await rows<{ type: string; n: number }>(
        pool,
        `SELECT type, count(*) AS n FROM events WHERE skey = ${SKEY_OF} GROUP BY type`,
        [sessionId],
      );
      const [checkpoints] = await rows<{ n: number }>(pool, "SELECT count(*) AS n FROM checkpoints WHERE session_id = $1", [sessionId]);
      return { events_by_type: Object.fromEntries(byType.map((r) => [r.type, r.n])), checkpoints: checkpoints?.n ?? 0 };
    },
  };
}
