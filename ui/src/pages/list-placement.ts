import type { ListSort } from "../api/sessions.js";
import type { Session } from "../api/types.js";

/**
 * Where a session that comes into the list live (new, or back under its filter: resumed on
 * `?status=active`) goes among the rows shown, by the list's order as the server sorts it
 * (docs/api.md, "Listing sessions"): the sort key, ties by `created_at` then `id`, all in the
 * same direction; text by code point, no agent_id as "".
 */

/** Negative when `a` comes before `b` in the list's order, positive after, 0 for the same session. */
export function compareSessions(a: Session, b: Session, sort: ListSort): number {
  const ascending = compareAscending(a, b, sort);
  return sort.descending ? -ascending : ascending;
}

function compareAscending(a: Session, b: Session, sort: ListSort): number {
  const byKey = sort.key === "iterations" ? a.iterations - b.iterations : byCodePoint(textOf(a, sort), textOf(b, sort));
  if (byKey !== 0) return byKey;
  return byCodePoint(a.created_at, b.created_at) || byCodePoint(a.id, b.id);
}

function textOf(session: Session, sort: ListSort): string {
  if (sort.key === "iterations") return "";
  return session[sort.key] ?? "";
}

/** Compares by code point, as the stores do (JavaScript's own `<` compares UTF-16 units). */
function byCodePoint(a: string, b: string): number {
  if (a === b) return 0;
  const left = a[Symbol.iterator]();
  const right = b[Symbol.iterator]();
  for (;;) {
    const x = left.next();
    const y = right.next();
    if (x.done || y.done) return x.done ? (y.done ? 0 : -1) : 1;
    const diff = x.value.codePointAt(0)! - y.value.codePointAt(0)!;
    if (diff !== 0) return diff;
  }
}

/** Which page of the list the rows are: the first or not, and whether one follows. */
export interface PageBounds {
  readonly first: boolean;
  readonly hasNext: boolean;
}

/**
 * The rows with `session` put at its place in the order (replacing a row of the same id), or the
 * rows unchanged when its place is on another page: before the first row of a page after the
 * first, or after the last row of a page that has a next one.
 */
export function placeSession(rows: readonly Session[], session: Session, sort: ListSort, bounds: PageBounds): readonly Session[] {
  const others = rows.filter((s) => s.id !== session.id);
  let at = others.findIndex((row) => compareSessions(session, row, sort) < 0);
  if (at === -1) at = others.length;
  if (at === 0 && !bounds.first && others.length > 0) return rows;
  if (at === others.length && bounds.hasNext) return rows;
  return [...others.slice(0, at), session, ...others.slice(at)];
}
