import type { Page, Session, SessionFilter } from "../core/index.js";
import { encodeCursor } from "./rows.js";
import type { HeldSessions, NameQuery } from "./store.js";

/** A filtered, ordered selection of sessions (alias `s`), built for either SQL dialect. */
export interface SessionQuery {
  /** Tables, starting with `FROM`. */
  readonly from: string;
  /** Conditions, starting with `WHERE`, or empty. */
  readonly where: string;
  /** The listing order, newest first, starting with `ORDER BY`. */
  readonly orderBy: string;
  readonly params: unknown[];
}

/**
 * Translates a session filter (and an optional page cursor) into SQL over `sessions s`, so that
 * a page is an index range: every condition matches an index whose tail is the listing order
 * (created_at, id). A label filter drives the query from the label index (which carries
 * created_at for that reason), so a rare label does not mean a scan of every session.
 * `placeholder(n)` renders the n-th parameter (`?` for SQLite, `$n` for PostgreSQL).
 */
export function sessionQuery(
  filter: SessionFilter,
  cursor: readonly [createdAt: string, id: string] | undefined,
  placeholder: (n: number) => string,
): SessionQuery {
  const clauses: string[] = [];
  const params: unknown[] = [];
  const param = (value: unknown) => {
    params.push(value);
    return placeholder(params.length);
  };
  const [driving, ...otherLabels] = Object.entries(filter.labels ?? {});
  let from = "FROM sessions s";
  let order: [createdAt: string, id: string] = ["s.created_at", "s.id"];
  if (driving) {
    from = "FROM session_labels l JOIN sessions s ON s.id = l.session_id";
    order = ["l.created_at", "l.session_id"];
    clauses.push(`l.key = ${param(driving[0])} AND l.value = ${param(driving[1])}`);
  }
  for (const [key, value] of otherLabels) {
    clauses.push(
      `EXISTS (SELECT 1 FROM session_labels m WHERE m.session_id = s.id AND m.key = ${param(key)} AND m.value = ${param(value)})`,
    );
  }
  for (const column of ["agent_id", "user_id", "channel_id", "type", "mode"] as const) {
    const value = filter[column];
    if (value !== undefined) clauses.push(`s.${column} = ${param(value)}`);
  }
  for (const column of ["status", "kind"] as const) {
    const value = filter[column];
    if (value === undefined) continue;
    const values = Array.isArray(value) ? value : [value];
    clauses.push(
      values.length === 1 ? `s.${column} = ${param(values[0])}` : `s.${column} IN (${values.map(param).join(", ")})`,
    );
  }
  if (filter.created_after !== undefined) clauses.push(`${order[0]} >= ${param(normalizeTimestamp(filter.created_after))}`);
  if (filter.created_before !== undefined) clauses.push(`${order[0]} < ${param(normalizeTimestamp(filter.created_before))}`);
  if (cursor) {
    // A row-value comparison, which both SQLite and PostgreSQL answer with an index range.
    clauses.push(`(${order[0]}, ${order[1]}) < (${param(cursor[0])}, ${param(cursor[1])})`);
  }
  return {
    from,
    where: clauses.length ? `WHERE ${clauses.join(" AND ")}` : "",
    orderBy: `ORDER BY ${order[0]} DESC, ${order[1]} DESC`,
    params,
  };
}

/** Stored timestamps are `toISOString()` strings; a filter bound must be too, to compare as text. */
function normalizeTimestamp(value: string): string {
  return new Date(value).toISOString();
}

/**
 * Splits a filter with several statuses or kinds into one filter per combination, each an index
 * range on its own. Listing them as a UNION ALL of per-branch pages, merged and cut to the page
 * size, reads at most (branches × page) rows, where one `IN (…)` query would sort every match.
 */
export function splitAnyOf(filter: SessionFilter): SessionFilter[] {
  const statuses = filter.status === undefined ? [undefined] : [filter.status].flat();
  const kinds = filter.kind === undefined ? [undefined] : [filter.kind].flat();
  return statuses.flatMap((status) =>
    kinds.map((kind) => ({
      ...filter,
      ...(status !== undefined ? { status } : {}),
      ...(kind !== undefined ? { kind } : {}),
    })),
  );
}

/**
 * The ids of a page of sessions, newest first, at most `limit + 1` (one more tells there is a
 * next page): one index range per status/kind branch (see splitAnyOf), merged. Ids alone need no
 * row: a whole row costs far more to turn into a JS object than an id.
 */
export function sessionPageQuery(
  filter: SessionFilter,
  cursor: readonly [createdAt: string, id: string] | undefined,
  limit: number,
  placeholder: (n: number) => string,
): { sql: string; params: unknown[] } {
  const params: unknown[] = [];
  const branches = splitAnyOf(filter).map((branch, i) => {
    const offset = params.length;
    const q = sessionQuery(branch, cursor, (n) => placeholder(offset + n));
    params.push(...q.params, limit + 1);
    return `SELECT * FROM (SELECT s.id, s.created_at ${q.from} ${q.where} ${q.orderBy} LIMIT ${placeholder(params.length)}) AS branch_${i}`;
  });
  if (branches.length === 1) return { sql: branches[0]!, params };
  params.push(limit + 1);
  return { sql: `${branches.join(" UNION ALL ")} ORDER BY created_at DESC, id DESC LIMIT ${placeholder(params.length)}`, params };
}

/**
 * Turns a page's ids (from sessionPageQuery) into the page: the sessions the caller holds are
 * taken as they are, and `unheld` names the rest, whose rows the store reads and hands to
 * `finish`. An id whose row is gone by then was deleted between the two reads: it is left out.
 */
export function pageOfIds(ids: readonly string[], limit: number, held: HeldSessions | undefined): { unheld: string[]; finish(read: Iterable<Session>): Page<Session> } {
  const more = ids.length > limit;
  const pageIds = more ? ids.slice(0, limit) : ids;
  const found = new Map<string, Session>();
  const unheld: string[] = [];
  for (const id of pageIds) {
    const session = held?.(id);
    if (session) found.set(id, session);
    else unheld.push(id);
  }
  return {
    unheld,
    finish(read) {
      for (const session of read) found.set(session.id, session);
      const items = pageIds.flatMap((id) => found.get(id) ?? []);
      const last = items.at(-1);
      return { items, next_cursor: more && last ? encodeCursor(last) : null };
    },
  };
}

/**
 * The query of findSessionIds, for either SQL dialect: a range of the unique name index
 * `(name, coalesce(agent_id, ''))` (both stores' migrations create it), which the namespace
 * condition repeats word for word so the planner matches it.
 */
export function sessionIdsByNameQuery(query: NameQuery, placeholder: (n: number) => string): { sql: string; params: unknown[] } {
  const params: unknown[] = [query.name];
  const clauses = [`name = ${placeholder(1)}`];
  if (query.namespace !== undefined) {
    params.push(query.namespace);
    clauses.push(`coalesce(agent_id, '') = ${placeholder(params.length)}`);
  }
  if (query.user_id !== undefined) {
    params.push(query.user_id);
    clauses.push(`user_id = ${placeholder(params.length)}`);
  }
  params.push(query.limit);
  return {
    sql: `SELECT id FROM sessions WHERE ${clauses.join(" AND ")} ORDER BY created_at, id LIMIT ${placeholder(params.length)}`,
    params,
  };
}
