import { type Session, type SessionFilter, TASK_SEARCH_CHARS, errors } from "../core/index.js";
import { type ListOrder, type ListPosition, listCursor, orderColumns, positionOf } from "./list-order.js";
import type { HeldSessions, NameQuery, SessionPage } from "./store.js";

/** What differs between the stores' SQL. */
export interface SqlDialect {
  /** The n-th parameter: `?` for SQLite, `$n` for PostgreSQL. */
  placeholder(n: number): string;
  /**
   * The condition of a search: the text `param()` names (its ASCII letters lowercased; each call
   * adds it as a parameter once more) is in the session's name or in the first TASK_SEARCH_CHARS
   * characters of its task, the ASCII letters of both lowercased and every other character as it
   * is. A substring search costs at most (text length × those lengths) per session, where a LIKE
   * '%…%' backtracks over the whole task.
   */
  searchCondition(param: () => string): string;
  /**
   * The sessions table (alias `s`) of a query whose filter has an agent_id: the query reads that
   * agent's range of sessions_by_agent, never an index that spans other agents' sessions.
   */
  readonly agentSessions: string;
  /** A filter column of such a query, written so that no index led by it can drive the query. */
  offIndex(column: string): string;
  /**
   * What ends a label's EXISTS subquery in such a query, so that it stays a lookup per session
   * and is never turned into a join driven by the label index.
   */
  readonly labelLookupEnd: string;
}

/**
 * SQLite: a search reads session_search_text (the name and the task's first characters, already
 * lowercased: see searchText), not the session's row, which holds the whole task: SQLite would
 * read it whole first. An agent's query names its index with INDEXED BY, which leaves SQLite no
 * other plan (nor one that walks another order's index and skips other agents' sessions), so
 * nothing else needs keeping off an index; SQLite runs an EXISTS per row.
 */
export const SQLITE_DIALECT: SqlDialect = {
  placeholder: () => "?",
  searchCondition: (param) =>
    `EXISTS (SELECT 1 FROM session_search_text t WHERE t.session_id = s.id AND (instr(t.name, ${param()}) > 0 OR instr(t.task_head, ${param()}) > 0))`,
  agentSessions: "sessions s INDEXED BY sessions_by_agent",
  offIndex: (column) => column,
  labelLookupEnd: "",
};

/**
 * PostgreSQL: left() reads only the first chunks of a long (TOASTed) task; lower() folds ASCII
 * letters only under the "C" collation, which the task column does not have (it takes the
 * database's), hence the COLLATE. PostgreSQL has no way to name an index: an agent's query
 * writes its other equality columns as expressions no index matches, and ends each label
 * subquery with OFFSET 0, which PostgreSQL does not turn into a join (docs/api.md#listing-sessions
 * says what its planner may still choose).
 */
export const POSTGRES_DIALECT: SqlDialect = {
  placeholder: (n) => `$${n}`,
  searchCondition: (param) =>
    `(strpos(lower(s.name COLLATE "C"), ${param()}) > 0 OR strpos(lower(left(s.task, ${TASK_SEARCH_CHARS}) COLLATE "C"), ${param()}) > 0)`,
  agentSessions: "sessions s",
  offIndex: (column) => `(${column} || '')`,
  labelLookupEnd: " OFFSET 0",
};

/** The listing order when none is asked for: newest first. */
const NEWEST_FIRST: ListOrder = { sort: "created_at", order: "desc" };

/** The part of a listing a query reads: the sessions after `after`, up to and with `through`. */
export interface ListRange {
  readonly after?: ListPosition | undefined;
  readonly through?: ListPosition | undefined;
}

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
 * Translates a session filter (and a listing order, and the part of the listing to read) into
 * SQL over `sessions s`, so that a page is an index range: every filter's index ends in the
 * default order (created_at, id), and every other sort has an index led by its column (status
 * and kind share their filters'; updated_at and iterations, which change with nearly every write,
 * have none: those sorts read every matching session).
 *
 * A filter with an agent_id (every one of an agent token's) is read through that agent's range
 * of sessions_by_agent only, whatever else it has: an index that spans every agent (a label's, a
 * user's, an order's) would make the time of the answer tell how many sessions other agents
 * have there. Sorted by anything but created_at, that range is read whole and sorted.
 *
 * Otherwise, listed newest first, a label filter drives the query from the label index (which
 * carries created_at for that reason), so a rare label does not mean a scan of every session; in
 * another order every label is an EXISTS condition. The search `q` is a condition on name and
 * task that no index serves: the rows are read in the listing's order until a page matches, or
 * as far as `range.through` (see searchScanQuery).
 */
export function sessionQuery(filter: SessionFilter, dialect: SqlDialect, order: ListOrder = NEWEST_FIRST, range: ListRange = {}): SessionQuery {
  const clauses: string[] = [];
  const params: unknown[] = [];
  const param = (value: unknown) => {
    params.push(value);
    return dialect.placeholder(params.length);
  };
  const agentScoped = filter.agent_id !== undefined;
  const scoped = (column: string) => (agentScoped ? dialect.offIndex(column) : column);
  const labels = Object.entries(filter.labels ?? {});
  const labelDriven = labels.length > 0 && order.sort === "created_at" && !agentScoped;
  const keys = orderColumns(order.sort, labelDriven);
  let from = agentScoped ? `FROM ${dialect.agentSessions}` : "FROM sessions s";
  if (labelDriven) {
    const [key, value] = labels.shift()!;
    from = "FROM session_labels l JOIN sessions s ON s.id = l.session_id";
    clauses.push(`l.key = ${param(key)} AND l.value = ${param(value)}`);
  }
  for (const [key, value] of labels) {
    const end = agentScoped ? dialect.labelLookupEnd : "";
    clauses.push(
      `EXISTS (SELECT 1 FROM session_labels m WHERE m.session_id = s.id AND m.key = ${param(key)} AND m.value = ${param(value)}${end})`,
    );
  }
  if (filter.agent_id !== undefined) clauses.push(`s.agent_id = ${param(filter.agent_id)}`);
  for (const column of ["user_id", "channel_id", "type", "mode"] as const) {
    const value = filter[column];
    if (value !== undefined) clauses.push(`${scoped(`s.${column}`)} = ${param(value)}`);
  }
  for (const column of ["status", "kind"] as const) {
    const value = filter[column];
    if (value === undefined) continue;
    const values = Array.isArray(value) ? value : [value];
    const operand = scoped(`s.${column}`);
    clauses.push(values.length === 1 ? `${operand} = ${param(values[0])}` : `${operand} IN (${values.map(param).join(", ")})`);
  }
  const createdAt = labelDriven ? "l.created_at" : "s.created_at";
  if (filter.created_after !== undefined) clauses.push(`${createdAt} >= ${param(normalizeTimestamp(filter.created_after))}`);
  if (filter.created_before !== undefined) clauses.push(`${createdAt} < ${param(normalizeTimestamp(filter.created_before))}`);
  if (filter.q) {
    const needle = asciiLowerCase(filter.q);
    clauses.push(dialect.searchCondition(() => param(needle)));
  }
  const ascending = order.order === "asc";
  const bound = (position: ListPosition, operator: "<" | ">" | "<=" | ">=") => {
    // SQLite takes a row value as a range of an index over plain columns only: an order led by an
    // expression (agent_id's coalesce) bounds that expression alone first, which it does take.
    if (order.sort === "agent_id") clauses.push(`${keys[0]} ${operator[0]}= ${param(position.values[0])}`);
    // A row-value comparison, which both SQLite and PostgreSQL answer with an index range.
    clauses.push(`(${keys.join(", ")}) ${operator} (${position.values.map(param).join(", ")})`);
  };
  if (range.after) bound(range.after, ascending ? ">" : "<");
  if (range.through) bound(range.through, ascending ? "<=" : ">=");
  const direction = ascending ? "ASC" : "DESC";
  return {
    from,
    where: clauses.length ? `WHERE ${clauses.join(" AND ")}` : "",
    orderBy: `ORDER BY ${keys.map((k) => `${k} ${direction}`).join(", ")}`,
    keys,
    params,
  };
}

/** `text` with its ASCII letters lowercased and every other character as it is: how a search compares. */
export function asciiLowerCase(text: string): string {
  return text.replace(/[A-Z]+/g, (letters) => letters.toLowerCase());
}

/**
 * What a search looks in, as the SQLite store keeps it in session_search_text: the name, and the
 * first TASK_SEARCH_CHARS characters of the task, their ASCII letters lowercased.
 */
export function searchText(session: Pick<Session, "name" | "task">): { name: string; task_head: string } {
  return { name: asciiLowerCase(session.name), task_head: asciiLowerCase(searchedTaskHead(session.task)) };
}

/**
 * The part of a task a search reads: its first TASK_SEARCH_CHARS characters, counted as SQLite's
 * substr() and PostgreSQL's left() count them, by code point.
 */
export function searchedTaskHead(task: string | null): string {
  if (!task) return "";
  // Up to two UTF-16 units a code point: a shorter task is whole.
  if (task.length <= TASK_SEARCH_CHARS) return task;
  let end = 0;
  for (let n = 0; n < TASK_SEARCH_CHARS && end < task.length; n++) {
    const unit = task.charCodeAt(end);
    const next = task.charCodeAt(end + 1); // NaN past the end
    end += unit >= 0xd800 && unit <= 0xdbff && next >= 0xdc00 && next <= 0xdfff ? 2 : 1;
  }
  return task.slice(0, end);
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
 * The most branches a listing is split into (see anyOfBranches). Each branch may read as far as
 * the whole of its range when few sessions match it: every status with every kind, 30 branches,
 * would read an agent's range 30 times over.
 */
export const MAX_LIST_BRANCHES = 4;

/**
 * The queries a listing is answered by, merged: one per status/kind combination (splitAnyOf) when
 * there are a few, each then a range of the status's or the kind's index; else the filter whole,
 * one query with `IN (…)`. An agent's listing is never split: every branch would read the same
 * agent range (see sessionQuery), which one query reads once.
 */
export function anyOfBranches(filter: SessionFilter): SessionFilter[] {
  if (filter.agent_id !== undefined) return [filter];
  const branches = splitAnyOf(filter);
  return branches.length > MAX_LIST_BRANCHES ? [filter] : branches;
}

/** A page query: its SQL, and the names of the columns of its rows (the order's keys, the id last). */
export interface PageQuery {
  readonly sql: string;
  readonly params: unknown[];
  readonly columns: readonly string[];
}

/**
 * The keys (the order's columns, the id last) of `limit` sessions from `offset` on in a listing's
 * `range`: each branch (anyOfBranches) read at most `perBranch` deep, the branches merged by the
 * order. Keys alone need no row: a whole row costs far more to turn into a JS object than an id.
 */
function keysQuery(
  filter: SessionFilter,
  order: ListOrder,
  dialect: SqlDialect,
  { range, perBranch, limit, offset }: { range: ListRange; perBranch: number; limit: number; offset: number },
): PageQuery {
  // Parameters are numbered in the order the SQL names them (SQLite's `?` binds by position).
  const params: unknown[] = [];
  const param = (value: unknown) => {
    params.push(value);
    return dialect.placeholder(params.length);
  };
  let columns: string[] = [];
  const selectOf = (branch: SessionFilter) => {
    const before = params.length;
    const q = sessionQuery(branch, { ...dialect, placeholder: (n) => dialect.placeholder(before + n) }, order, range);
    params.push(...q.params);
    columns = q.keys.map((_, k) => `k${k}`);
    return `SELECT ${q.keys.map((key, k) => `${key} AS k${k}`).join(", ")} ${q.from} ${q.where} ${q.orderBy}`;
  };
  const window = () => `LIMIT ${param(limit)}${offset > 0 ? ` OFFSET ${param(offset)}` : ""}`;
  const branches = anyOfBranches(filter);
  if (branches.length === 1) {
    const select = selectOf(branches[0]!);
    return { sql: `${select} ${window()}`, params, columns };
  }
  const union = branches.map((branch, i) => `SELECT * FROM (${selectOf(branch)} LIMIT ${param(perBranch)}) AS branch_${i}`);
  const direction = order.order === "asc" ? "ASC" : "DESC";
  const merged = columns.map((c) => `${c} ${direction}`).join(", ");
  return { sql: `${union.join(" UNION ALL ")} ORDER BY ${merged} ${window()}`, params, columns };
}

/**
 * The keys of a page of sessions in `order` after `range.after` (and no further than
 * `range.through`, the end of a search's scan), at most `limit + 1` rows: one more tells there is
 * a next page. Each status/kind branch is an index range (see anyOfBranches), merged by the order.
 */
export function sessionPageQuery(filter: SessionFilter, order: ListOrder, range: ListRange, limit: number, dialect: SqlDialect): PageQuery {
  return keysQuery(filter, order, dialect, { range, perBranch: limit + 1, limit: limit + 1, offset: 0 });
}

/**
 * How far a search's page may read (config listScanRows, `budget`): the keys of the `budget`-th
 * session after `after` under the filter without its `q`, and of the one after it. The filter's
 * own range is walked, not searched: an index walk that reads no task. Undefined without a `q`.
 * searchScanEnd reads the answer; a page query bounded by it examines at most `budget` sessions.
 */
export function searchScanQuery(filter: SessionFilter, order: ListOrder, after: ListPosition | undefined, budget: number, dialect: SqlDialect): PageQuery | undefined {
  if (!filter.q) return undefined;
  const { q: _searched, ...unsearched } = filter;
  return keysQuery(unsearched, order, dialect, { range: { after }, perBranch: budget + 1, limit: 2, offset: budget - 1 });
}

/**
 * Where a search's page stops (the `through` of its page query), from the rows of searchScanQuery:
 * the budget-th session's position when more sessions follow it; undefined when the search may
 * read to the end of the listing.
 */
export function searchScanEnd(order: ListOrder, rows: readonly (readonly unknown[])[]): ListPosition | undefined {
  return rows.length > 1 ? positionOf(order, rows[0]!) : undefined;
}

/**
 * Counts with a search (stats) need every match: they are answered only when the filter without
 * its `q` selects at most `budget` sessions, which searchScanQuery's rows (newest first, from the
 * start) tell. The count then reads at most that many.
 * @throws validation naming q when it selects more
 */
export function assertSearchCountable(rows: readonly unknown[], budget: number): void {
  if (rows.length > 1) {
    throw errors.validation(
      "q",
      `counts search at most ${budget} sessions (config listScanRows), and the other filters select more: narrow them (status, kind, label, created_after, created_before…), or list the matches page by page (GET /sessions/?q=…)`,
    );
  }
}

/**
 * Turns a page's keys (rows of sessionPageQuery, id last) into the page: the sessions the caller
 * holds are taken as they are, and `unheld` names the rest, whose rows the store reads and hands
 * to `finish`. An id whose row is gone by then was deleted between the two reads: it is left out.
 * The cursor is made from the last key row, which is what the next page's query compares with;
 * a page with no more rows than `limit` that a search's scan cut short (`scanEnd`, see
 * searchScanEnd) continues from where the scan stopped, however few sessions it holds.
 */
export function pageOfKeys(
  keyRows: readonly (readonly unknown[])[],
  order: ListOrder,
  limit: number,
  held: HeldSessions | undefined,
  scanEnd?: ListPosition,
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
      // A search that stopped at its scan's end before a full page goes on from there.
      const next = more ? last : scanEnd;
      return { items, positions, next_cursor: next ? listCursor(next) : null };
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
