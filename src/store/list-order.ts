import { SESSION_SORT_KEYS, type SessionPageRequest, type SessionSortKey, type SortOrder, errors, textFault } from "../core/index.js";

/** The order of a session listing, defaults applied. */
export interface ListOrder {
  readonly sort: SessionSortKey;
  readonly order: SortOrder;
}

/** The order a page request asks for: newest first unless it says otherwise. */
export function listOrder(page: Pick<SessionPageRequest, "sort" | "order">): ListOrder {
  return { sort: page.sort ?? "created_at", order: page.order ?? "desc" };
}

/**
 * Where a session stands in a listing: the values of its order's columns (see orderColumns), as
 * the store compared them. A cursor is made from the position of a page's last session, never
 * from the session itself: a copy the engine holds may be newer than the row it was ordered by.
 */
export interface ListPosition {
  readonly order: ListOrder;
  readonly values: readonly (string | number)[];
}

/** Sorts whose first column is an integer; every other column is text. */
const NUMERIC_SORTS: ReadonlySet<SessionSortKey> = new Set(["iterations"]);

/**
 * The SQL expressions a listing is ordered by, most significant first, over `sessions s` (or, for
 * a label-driven listing by created_at, `session_labels l`). The last is the id, so the order is
 * total. Every sort but created_at breaks its ties by created_at then id, as the status, kind and
 * agent indexes end, so a listing of one status (or kind) sorted by status is a range of the
 * filter's own index. agent_id is coalesced to '' so that sessions without one sort together,
 * first ascending, the same in both stores (SQLite puts NULL first, PostgreSQL last).
 */
export function orderColumns(sort: SessionSortKey, labelDriven: boolean): readonly string[] {
  if (sort === "created_at") return labelDriven ? ["l.created_at", "l.session_id"] : ["s.created_at", "s.id"];
  const first = sort === "agent_id" ? "coalesce(s.agent_id, '')" : `s.${sort}`;
  return [first, "s.created_at", "s.id"];
}

/** How many values a position of this sort holds. */
function columnCount(sort: SessionSortKey): number {
  return sort === "created_at" ? 2 : 3;
}

/**
 * A listing position's values from a page query's row (its key columns, in orderColumns' order).
 * PostgreSQL and SQLite both return integers as numbers (the PostgreSQL pool parses bigint).
 */
export function positionOf(order: ListOrder, row: readonly unknown[]): ListPosition {
  return { order, values: row.slice(0, columnCount(order.sort)) as (string | number)[] };
}

// Values are joined with NUL, which no stored text holds (storable.ts refuses it): a cursor stays
// about as long as its values, where JSON would escape control characters six times over (an
// agent_id is up to 1024 bytes).
const SEPARATOR = "\u0000";
/** Marks this form of cursor; a cursor of the form before it is a JSON array. */
const VERSION = "2";

/** The cursor that continues a listing after `position`. */
export function listCursor(position: ListPosition): string {
  const { order, values } = position;
  return Buffer.from([VERSION, order.sort, order.order, ...values.map(String)].join(SEPARATOR)).toString("base64url");
}

/**
 * The listing position a page's `cursor` names, or undefined for the first page.
 * @throws validation naming cursor when it is not a cursor a previous page returned, or one
 *   made for another sort or order
 */
export function cursorPosition(cursor: string | undefined, order: ListOrder): ListPosition | undefined {
  if (cursor === undefined) return undefined;
  const position = decodeCursor(cursor);
  if (!position) throw errors.validation("cursor", "not a cursor returned by a previous page");
  if (position.order.sort !== order.sort || position.order.order !== order.order) {
    throw errors.validation(
      "cursor",
      `continues a listing sorted by ${position.order.sort} ${position.order.order}, not ${order.sort} ${order.order}: ask with the sort and order of the page it came from, or without a cursor`,
    );
  }
  return position;
}

function decodeCursor(cursor: string): ListPosition | undefined {
  const text = Buffer.from(cursor, "base64url").toString("utf8");
  if (text.startsWith(VERSION + SEPARATOR)) {
    const [, sort, order, ...values] = text.split(SEPARATOR);
    if (!isSort(sort) || (order !== "asc" && order !== "desc") || values.length !== columnCount(sort)) return undefined;
    if (NUMERIC_SORTS.has(sort)) {
      const n = Number(values[0]);
      if (!/^\d{1,16}$/.test(values[0]!) || !Number.isSafeInteger(n)) return undefined;
      return checked({ order: { sort, order }, values: [n, ...values.slice(1)] });
    }
    return checked({ order: { sort, order }, values });
  }
  // A cursor made before listings had a sort: [created_at, id] of a newest-first listing, so a
  // client paging through an upgrade carries on.
  try {
    const legacy: unknown = JSON.parse(text);
    if (Array.isArray(legacy) && legacy.length === 2) return checked({ order: { sort: "created_at", order: "desc" }, values: legacy });
  } catch {
    // fall through: not ours
  }
  return undefined;
}

/** The position, if its text values are ones a store compares (a made-up cursor may hold any text). */
function checked(position: { order: ListOrder; values: readonly unknown[] }): ListPosition | undefined {
  const numeric = NUMERIC_SORTS.has(position.order.sort);
  const comparable = position.values.every((v, i) => (i === 0 && numeric ? typeof v === "number" : typeof v === "string" && textFault(v) === undefined));
  return comparable ? (position as ListPosition) : undefined;
}

function isSort(value: string | undefined): value is SessionSortKey {
  return (SESSION_SORT_KEYS as readonly (string | undefined)[]).includes(value);
}
