import type pg from "pg";
import { type EventRow, eventFromRow } from "../rows.js";
import type { ExecOutputExtent, Store, StoredOutput } from "../store.js";
import { LOCKS, lock, rows, transaction } from "./db.js";

/** The exec-output log and the global event feed of the Store contract. */
export type OutputTables = Pick<Store, "appendOutput" | "listOutput" | "execOutputExtent" | "outputPosAt" | "listFeed" | "feedHead">;

/** Exec output and the global event feed over `pool`, positions handed out in commit order. */
export function outputTables(pool: pg.Pool): OutputTables {
  return {
    async appendOutput(records) {
      if (!records.length) return [];
      // Readers resume "after position N" (listOutput), so positions must become visible in
      // order: a position is drawn at insert but seen only at commit, and two transactions
      // appending at once could commit out of order, making a reader skip a row for good. The
      // engine's OutputLog writes one batch at a time per node, but the lock makes that a property
      // of the store rather than of its caller (a second writer, another node), at the cost of
      // one uncontended lock per batch.
      return transaction(pool, async (tx) => {
        await lock(tx, LOCKS.output);
        // One statement in the records' order: the identity is drawn row by row after the sort,
        // so the ascending positions are the records', in order.
        const inserted = await rows<{ pos: number }>(
          tx,
          `INSERT INTO exec_output (session_id, exec_id, stream, "offset", data)
           SELECT session_id, exec_id, stream, "offset", data
           FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::bytea[]) WITH ORDINALITY
             AS r(session_id, exec_id, stream, "offset", data, n)
           ORDER BY n
           RETURNING pos`,
          [
            records.map((r) => r.session_id),
            records.map((r) => r.exec_id),
            records.map((r) => r.stream),
            records.map((r) => r.offset),
            records.map((r) => r.data),
          ],
        );
        return inserted.map((r) => r.pos).sort((a, b) => a - b);
      });
    },

    async listOutput(sessionId, afterPos, limit) {
      return rows<StoredOutput>(
        pool,
        'SELECT pos, session_id, exec_id, stream, "offset", data FROM exec_output WHERE session_id = $1 AND pos > $2 ORDER BY pos LIMIT $3',
        [sessionId, afterPos, limit],
      );
    },

    async execOutputExtent(execId) {
      const [extent] = await rows<ExecOutputExtent>(
        pool,
        `SELECT session_id, min(pos) AS first_pos, max(pos) AS last_pos,
           coalesce(max(CASE WHEN stream = 'stdout' THEN "offset" + length(data) END), 0) AS stdout_bytes,
           coalesce(max(CASE WHEN stream = 'stderr' THEN "offset" + length(data) END), 0) AS stderr_bytes
         FROM exec_output WHERE exec_id = $1 GROUP BY session_id`,
        [execId],
      );
      return extent;
    },

    async outputPosAt(execId, stream, offset) {
      const [piece] = await rows<{ pos: number; end: number }>(
        pool,
        `SELECT pos, "offset" + length(data) AS "end" FROM exec_output
         WHERE exec_id = $1 AND stream = $2 AND "offset" <= $3 ORDER BY "offset" DESC LIMIT 1`,
        [execId, stream, offset],
      );
      return piece && piece.end > offset ? piece.pos : undefined;
    },

    async listFeed(afterPos, limit) {
      // Placeholder rows (skey 0) and events of deleted sessions join no session and are skipped.
      const found = await rows<EventRow & { pos: number; session_id: string; kind: string; agent_id: string | null; user_id: string | null }>(
        pool,
        `SELECT e.pos, s.id AS session_id, s.kind, s.agent_id, s.user_id, e.seq, e.ts, e.type, e.data
         FROM events e JOIN sessions s ON s.skey = e.skey
         WHERE e.pos > $1 ORDER BY e.pos LIMIT $2`,
        [afterPos, limit],
      );
      return found.map((r) => ({ pos: r.pos, session_id: r.session_id, kind: r.kind, agent_id: r.agent_id, user_id: r.user_id, event: eventFromRow(r) }));
    },

    async feedHead() {
      return (await rows<{ pos: number | null }>(pool, "SELECT max(pos) AS pos FROM events"))[0]?.pos ?? 0;
    },
  };
}
