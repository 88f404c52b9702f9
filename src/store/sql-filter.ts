import type { Session, SessionFilter } from "../core/index.js";
import { type ListOrder, type ListPosition, listCursor, orderColumns, positionOf } from "./list-order.js";
import type { HeldSessions, NameQuery, SessionPage } from "./store.js";

/** What differs between the stores' SQL. */
export interface SqlDialect {
  /** The n-th parameter: `?` for SQLite, `$n` for PostgreSQL. */
  placeholder(n: number): string;
  /**
   * The LIKE that ignores the case of ASCII letters: SQLite's LIKE does (other letters keep their
   * case); PostgreSQL's LIKE does not, its ILIKE does (on the "C" collation the text columns
   * have, ASCII letters alone too).
   */
  readonly likeIgnoringCase: "LIKE" | "ILIKE";
}

export const SQLITE_DIALECT: SqlDialect = { placeholder: () => "?", likeIgnoringCase: "LIKE" };
export const POSTGRES_DIALECT: SqlDialect = { placeholder: (n) => `$${n}`, likeIgnoringCase: "ILIKE" };

/** The listing order when none is asked for: newest first. */
const NEWEST_FIRST: ListOrder = { sort: "created_at", order: "desc" };

/** A filtered, ordered selection of sessions (alias `s`), built for either SQL dialect. */
export interface SessionQuery {
  /** Tables, starting with `FROM`. */
  readonly from: string;
  /** Conditions, starting with `WHERE`, or empty. */
  readonly where: string;
  /** The listing order, starting with `ORDER BY`. */
  readonly orderBy: string;
  /** The expressions of the listing order (see orderColumns), the id last. */
  readonly keys: readonly string[];
  readonly params: unknown[];
}

/**
 * Translates a session filter (and a listing order, and the position a page starts after) into
 * SQL over `sessions s`, so that a page is an index range: every filter's index ends in the
 * default order (created_at, id), and every other sort has an index led by its column (status
 * and kind share their filters'; updated_at and iterations, which change with nearly every write,
 * have none: those sorts read every matching session). Listed newest first, a label filter drives the query from the label index (which
 * carries created_at for that reason), so a rare label does not mean a scan of every session; in
 * another order every label is an EXISTS condition. The search `q` is a condition on name and
 * task that no index serves: the rows are read in the listing's order until a page matches.
 */
export function sessionQuery(filter: SessionFilter, dialect: SqlDialect, order: ListOrder = NEWEST_FIRST, after?: ListPosition): SessionQuery {
  const clauses: string[] = [];
  const params: unknown[] = [];
  const param = (value: unknown) => {
    params.push(value);
    return dialect.placeholder(params.length);
  };
  const labels = Object.entries(filter.labels ?? {});
  const labelDriven = labels.length > 0 && order.sort === "created_at";
  const keys = orderColumns(order.sort, labelDriven);
  let from = "FROM sessions s";
  if (labelDriven) {
    const [key, value] = labels.shift()!;
    from = "FROM session_labels l JOIN sessions s ON s.id = l.session_id";
    clauses.push(`l.key = ${param(key)} AND l.value = ${param(value)}`);
  }
  for (const [key, value] of labels) {
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
  const createdAt = labelDriven ? "l.created_at" : "s.created_at";
  if (filter.created_after !== undefined) clauses.push(`${createdAt} >= ${param(normalizeTimestamp(filter.created_after))}`);
  if (filter.created_before !== undefined) clauses.push(`${createdAt} < ${param(normalizeTimestamp(filter.created_before))}`);
  if (filter.q) {
    // The pattern once per column: SQLite's `?` takes a parameter each time it appears.
    const pattern = `%${escapeLike(filter.q)}%`;
    const like = dialect.likeIgnoringCase;
    clauses.push(`(s.name ${like} ${param(pattern)} ESCAPE '\\' OR s.task ${like} ${param(pattern)} ESCAPE '\\')`);
  }
  const direction = order.order === "asc" ? "ASC" : "DESC";
  if (after) {
    const beyond = direction === "ASC" ? ">" : "<";
    // SQLite takes a row value as a range of an index over plain columns only: an order led by an
    // expression (agent_id's coalesce) bounds that expression alone first, which it does take.
    if (order.sort === "agent_id") clauses.push(`${keys[0]} ${beyond}= ${param(after.values[0])}`);
    // A row-value comparison, which both SQLite and PostgreSQL answer with an index range.
    clauses.push(`(${keys.join(", ")}) ${beyond} (${after.values.map(param).join(", ")})`);
  }
  return {
    from,
    where: clauses.length ? `WHERE ${clauses.join(" AND ")}` : "",
    orderBy: `ORDER BY ${keys.map((k) => `${k} ${direction}`).join(", ")}`,
    keys,
    params,
  };
}

/** `text` as a LIKE pattern matching itself: `%`, `_` and the escape character `\` escaped. */
export function escapeLike(text: string): string {
  return text.replace(/[\\%_]/g, "\\$&");
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

/** A page query: its SQL, and the names of the columns of its rows (the order's keys, the id last). */
export interface PageQuery {
  readonly sql: string;
  readonly params: unknown[];
  readonly columns: readonly string[];
}

/**
 * The keys of a page of sessions in `order`, at most `limit + 1` rows (one more tells there is a
 * next page), each the values of the order's columns with the id last: one index range per
 * status/kind branch (see splitAnyOf), merged by the same order. Keys alone need no row: a whole
 * row costs far more to turn into a JS object than an id.
 */
export function sessionPageQuery(filter: SessionFilter, order: ListOrder, after: ListPosition | undefined, limit: number, dialect: SqlDialect): PageQuery {
  const params: unknown[] = [];
  let columns: string[] = [];
  const branches = splitAnyOf(filter).map((branch, i) => {
    const offset = params.length;
    const q = sessionQuery(branch, { ...dialect, placeholder: (n) => dialect.placeholder(offset + n) }, order, after);
    params.push(...q.params, limit + 1);
    columns = q.keys.map((_, k) => `k${k}`);
    const select = q.keys.map((key, k) => `${key} AS k${k}`).join(", ");
    return `SELECT * FROM (SELECT ${select} ${q.from} ${q.where} ${q.orderBy} LIMIT ${dialect.placeholder(params.length)}) AS branch_${i}`;
  });
  if (branches.length === 1) return { sql: branches[0]!, params, columns };
  params.push(limit + 1);
  const direction = order.order === "asc" ? "ASC" : "DESC";
  const merged = columns.map((c) => `${c} ${direction}`).join(", ");
  return { sql: `${branches.join(" UNION ALL ")} ORDER BY ${merged} LIMIT ${dialect.placeholder(params.length)}`, params, columns };
}

/**
 * Turns a page's keys (rows of sessionPageQuery, id last) into the page: the sessions the caller
 * holds are taken as they are, and `unheld` names the rest, whose rows the store reads and hands
 * to `finish`. An id whose row is gone by then was deleted between the two reads: it is left out.
 * The cursor is made from the last key row, which is what the next page's query compares with.
 */
export function pageOfKeys(
  keyRows: readonly (readonly unknown[])[],
  order: ListOrder,
  limit: number,
  held: HeldSessions | undefined,
): { unheld: string[]; finish(read: Iterable<Session>): SessionPage } {
  const more = keyRows.length > limit;
  const pageRows = more ? keyRows.slice(0, limit) : keyRows;
  const found = new Map<string, Session>();
  const unheld: string[] = [];
  for (const row of pageRows) {
    const id = row[row.length - 1] as string;
    const session = held?.(id);
    if (session) found.set(id, session);
    else unheld.push(id);
  }
  return {
    unheld,
    finish(read) {
      for (const session of read) found.set(session.id, session);
      const items: Session[] = [];
      const positions: ListPosition[] = [];
      for (const row of pageRows) {
        const session = found.get(row[row.length - 1] as string);
        if (!session) continue;
        items.push(session);
        positions.push(positionOf(order, row));
      }
      const last = positions.at(-1);
      return { items, positions, next_cursor: more && last ? listCursor(last) : null };
    },
  };
}

/**
 * The query of findSessionIds, for either SQL dialect: a range of the unique name index
 * `(name, coalesce(agent_id, ''))` (both stores' migrations create it), which the namespace
 * condition repeats word for word so the planner matches it.
 */
export function sessionIdsByNameQuery(query: NameQuery, { placeholder }: SqlDialect): { sql: string; params: unknown[] } {
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
