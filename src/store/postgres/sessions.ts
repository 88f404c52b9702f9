import type pg from "pg";
import type { Session, SessionFilter, SessionPageRequest, SessionStats, SessionStatus } from "../../core/index.js";
import { cursorPosition, listOrder } from "../list-order.js";
import {
  POSTGRES_DIALECT,
  type PageQuery,
  assertSearchCountable,
  pageOfKeys,
  searchScanEnd,
  searchScanQuery,
  sessionIdsByNameQuery,
  sessionPageQuery,
  sessionQuery,
} from "../sql-filter.js";
import { type StatsGroup, statsFromGroups } from "../stats.js";
import { SESSION_SELECT, type SessionRow, sessionFromRow } from "../rows.js";
import type { HeldSessions, SessionPage, Store } from "../store.js";
import { rows } from "./db.js";

/** The session reads of the Store contract. */
export type SessionReads = Pick<Store, "getSession" | "findSessionIds" | "listSessions" | "stats" | "countByStatus" | "listExpired">;

/**
 * The session reads over `pool`: gets with the newest event joined, filtered pages, stats, expiry.
 * A search examines at most `listScanRows` sessions for a page (config listScanRows).
 */
export function sessionReads(pool: pg.Pool, { listScanRows }: { listScanRows: number }): SessionReads {
  /** A keys query's rows, each the values of its columns in order. */
  const keyRows = async ({ sql, params, columns }: PageQuery): Promise<unknown[][]> =>
    (await rows<Record<string, unknown>>(pool, sql, params)).map((r) => columns.map((c) => r[c]));

  /** Sessions by id, each with its newest event, in no particular order; ids with no row are skipped. */
  const readSessions = async (ids: readonly string[]): Promise<Session[]> => {
    if (ids.length === 0) return [];
    const found = await rows<SessionRow>(
      pool,
      `SELECT ${SESSION_SELECT} FROM sessions p
       LEFT JOIN LATERAL (SELECT seq, ts FROM events WHERE skey = p.skey ORDER BY seq DESC LIMIT 1) e ON true
       WHERE p.id = ANY($1::text[])`,
      [ids],
    );
    return found.map(sessionFromRow);
  };

  return {
    async getSession(id) {
      return (await readSessions([id]))[0];
    },

    async findSessionIds(query) {
      const { sql, params } = sessionIdsByNameQuery(query, POSTGRES_DIALECT);
      return (await rows<{ id: string }>(pool, sql, params)).map((r) => r.id);
    },

    async listSessions(filter: SessionFilter, page: { limit: number } & SessionPageRequest, held?: HeldSessions): Promise<SessionPage> {
      // As in the SQLite store: the page is chosen first as its order's keys alone, then only the
      // rows the caller does not hold are read.
      const order = listOrder(page);
      const after = cursorPosition(page.cursor, order);
      const scan = searchScanQuery(filter, order, after, listScanRows, POSTGRES_DIALECT);
      const through = scan && searchScanEnd(order, await keyRows(scan));
      const keys = await keyRows(sessionPageQuery(filter, order, { after, through }, page.limit, POSTGRES_DIALECT));
      const assembly = pageOfKeys(keys, order, page.limit, held, through);
      return assembly.finish(await readSessions(assembly.unheld));
    },

    async stats(filter): Promise<SessionStats> {
      const scan = searchScanQuery(filter, listOrder({}), undefined, listScanRows, POSTGRES_DIALECT);
      if (scan) assertSearchCountable(await keyRows(scan), listScanRows);
      const q = sessionQuery(filter, POSTGRES_DIALECT);
      // Sums are cast so they come back as numbers (a bigint sum is a numeric, which pg returns as text).
      const groups = await rows<StatsGroup>(
        pool,
        `SELECT s.status, s.mode, s.kind, count(*) AS n, coalesce(sum(s.iterations), 0)::float8 AS iterations,
                count(s.ended_at) AS ended,
                coalesce(sum(CASE WHEN s.ended_at IS NOT NULL
                  THEN extract(epoch FROM s.ended_at::timestamptz - s.started_at::timestamptz) * 1000 ELSE 0 END), 0)::float8 AS duration_ms
         ${q.from} ${q.where} GROUP BY s.status, s.mode, s.kind`,
        q.params,
      );
      return statsFromGroups(groups);
    },

    async countByStatus() {
      const counts = await rows<{ status: SessionStatus; n: number }>(pool, "SELECT status, count(*)::int AS n FROM sessions GROUP BY status", []);
      return Object.fromEntries(counts.map((r) => [r.status, r.n]));
    },

    async listExpired(endedBy, limit) {
      const expired = await rows<{ id: string }>(
        pool,
        `SELECT id FROM sessions WHERE ended_at <= $1 AND status IN ('completed', 'failed', 'timeout')
         ORDER BY ended_at LIMIT $2`,
        [endedBy, limit],
      );
      return expired.map((r) => r.id);
    },
  };
}
