import { type ListSort, NEWEST_FIRST, SORT_KEYS, type SessionFilter, type SortKey, listSessions, parseLabels } from "../api/sessions.js";
import type { Session } from "../api/types.js";

/** What the list shows: the server's filters (the search `q` among them) and its order. */
export interface ListQuery {
  readonly filter: SessionFilter;
  readonly sort: ListSort;
}

/** The list with no filter, newest first. */
export const EVERYTHING: ListQuery = { filter: {}, sort: NEWEST_FIRST };

/** The filters a list query carries in the page's URL, by the API's own parameter names. */
const FILTER_PARAMS = ["status", "kind", "agent_id", "labels", "q"] as const satisfies readonly (keyof SessionFilter)[];

/**
 * The list query a page URL's query string holds (`?status=active&q=build&sort=name&order=asc`),
 * so that a reload or a shared link shows the same list. A parameter it does not know, or a sort
 * it does not offer, is left out: the link still opens the list.
 */
export function listQueryFromUrl(search: string): ListQuery {
  const params = new URLSearchParams(search);
  const filter: SessionFilter = {};
  for (const name of FILTER_PARAMS) {
    const value = params.get(name);
    if (value) filter[name] = value;
  }
  const key = params.get("sort");
  const sort: ListSort = (SORT_KEYS as readonly string[]).includes(key ?? "")
    ? { key: key as SortKey, descending: params.get("order") !== "asc" }
    : { ...NEWEST_FIRST, descending: params.get("order") !== "asc" };
  return { filter, sort };
}

/** The query string (with its `?`, or empty) that listQueryFromUrl reads back as `query`; defaults are left out. */
export function listQueryToUrl(query: ListQuery): string {
  const params = new URLSearchParams();
  for (const name of FILTER_PARAMS) {
    const value = query.filter[name]?.trim();
    if (value) params.set(name, value);
  }
  if (query.sort.key !== NEWEST_FIRST.key) params.set("sort", query.sort.key);
  if (!query.sort.descending) params.set("order", "asc");
  const text = params.toString();
  return text ? `?${text}` : "";
}

/** The order a column's header asks for when pressed: the other way if it is the current sort, else its natural first way. */
export function nextSort(current: ListSort, key: SortKey): ListSort {
  if (current.key === key) return { key, descending: !current.descending };
  // Times and counts start with the largest (the newest, the busiest); text starts at A.
  return { key, descending: key === "created_at" || key === "last_activity_at" || key === "updated_at" || key === "iterations" };
}

/** Whether a session new to the list belongs at the top of its first page: only when the list is newest first. */
export function newSessionsFirst(sort: ListSort): boolean {
  return sort.key === NEWEST_FIRST.key && sort.descending;
}

/** Whether a session (changed live) belongs in the list under the server-side filters and search. */
export function matchesFilter(session: Session, filter: SessionFilter): boolean {
  if (filter.status && session.status !== filter.status) return false;
  if (filter.kind && session.kind !== filter.kind) return false;
  if (filter.agent_id?.trim() && session.agent_id !== filter.agent_id.trim()) return false;
  for (const pair of parseLabels(filter.labels ?? "")) {
    const colon = pair.indexOf(":");
    if (session.labels[pair.slice(0, colon)] !== pair.slice(colon + 1)) return false;
  }
  return matchesSearch(session, filter.q);
}

/**
 * How much of a task the server's search reads: its first 1,024 characters (the server's
 * TASK_SEARCH_CHARS, which a test keeps this equal to).
 */
export const TASK_SEARCH_CHARS = 1024;

/**
 * Whether the searched text is in the session's name or the start of its task as the server finds
 * it: the first TASK_SEARCH_CHARS characters of the task, ASCII letters in either case, every
 * other character as it is.
 */
export function matchesSearch(session: Session, search: string | undefined): boolean {
  const text = asciiLower(search?.trim() ?? "");
  if (!text) return true;
  return asciiLower(session.name).includes(text) || asciiLower(taskHead(session.task ?? "")).includes(text);
}

/** The first TASK_SEARCH_CHARS characters of a task, counted by code point as the server counts them. */
function taskHead(task: string): string {
  if (task.length <= TASK_SEARCH_CHARS) return task;
  let head = "";
  let count = 0;
  for (const character of task) {
    if (count++ === TASK_SEARCH_CHARS) break;
    head += character;
  }
  return head;
}

function asciiLower(text: string): string {
  return text.replace(/[A-Z]/g, (c) => c.toLowerCase());
}

/** A page of the list: its rows and the cursor after it. */
export interface ListPage {
  readonly sessions: Session[];
  readonly next: string | null;
}

/**
 * A page of the list, filtered, searched and sorted by the server: `cursor` is the `next` of the
 * page before, asked for with the same query (the server refuses it for another order). A page
 * may hold fewer sessions than `pageSize`, none even, and still have a `next`: a search reads a
 * bounded number of sessions per page (config listScanRows), and a page of large sessions is cut
 * short (maxPageBytes). Follow `next`, not the count.
 */
export async function loadPage(query: ListQuery, cursor: string | undefined, pageSize: number, signal?: AbortSignal): Promise<ListPage> {
  return listSessions(query.filter, { limit: pageSize, cursor, sort: query.sort }, signal);
}
