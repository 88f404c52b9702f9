import { listSessions, parseLabels, type SessionFilter } from "../api/sessions.js";
import type { Session } from "../api/types.js";

/** The list's filters as the page holds them: the server's, plus the text searched on the page. */
export interface ListFilter extends SessionFilter {
  search?: string;
}

/** Whether a session (changed live) belongs in the list under the server-side filters. */
export function matchesFilter(session: Session, filter: SessionFilter): boolean {
  if (filter.status && session.status !== filter.status) return false;
  if (filter.kind && session.kind !== filter.kind) return false;
  if (filter.agent_id?.trim() && session.agent_id !== filter.agent_id.trim()) return false;
  for (const pair of parseLabels(filter.labels ?? "")) {
    const colon = pair.indexOf(":");
    if (session.labels[pair.slice(0, colon)] !== pair.slice(colon + 1)) return false;
  }
  return true;
}

/** Whether the searched text is in the session's name or task (case-insensitive). */
export function matchesSearch(session: Session, search: string | undefined): boolean {
  const text = search?.trim().toLowerCase();
  if (!text) return true;
  return session.name.toLowerCase().includes(text) || (session.task ?? "").toLowerCase().includes(text);
}

export type SortKey = "created_at" | "name" | "status" | "kind" | "agent_id" | "iterations" | "last_activity_at";

/** The rows in the order asked for (stable: ties keep the server's newest-first order). */
export function sortSessions(rows: readonly Session[], key: SortKey, descending: boolean): Session[] {
  const value = (s: Session): string | number => {
    const v = s[key];
    return typeof v === "number" ? v : (v ?? "");
  };
  return rows
    .map((s, i) => ({ s, i }))
    .sort((a, b) => {
      const x = value(a.s);
      const y = value(b.s);
      const order = x < y ? -1 : x > y ? 1 : 0;
      return (descending ? -order : order) || a.i - b.i;
    })
    .map(({ s }) => s);
}

/** A page of the list: its rows, the cursor after it, and how many sessions a search read for it. */
export interface ListPage {
  readonly sessions: Session[];
  readonly next: string | null;
  /** Sessions read to find these (a search reads past the rows it shows); undefined without a search. */
  readonly scanned?: number;
}

/**
 * A page of the list. Without a search, one page of the server's. With one — the API has no text
 * search — the server's pages under the other filters are read in turn, newest first, keeping the
 * sessions whose name or task hold the text, until a page's worth is found or `maxScan` sessions
 * were read; the next page goes on from there.
 */
export async function loadPage(
  filter: ListFilter,
  cursor: string | undefined,
  sizes: { pageSize: number; scanPageSize: number; maxScan: number },
  signal?: AbortSignal,
): Promise<ListPage> {
  if (!filter.search?.trim()) {
    const { sessions, next } = await listSessions(filter, sizes.pageSize, cursor, signal);
    return { sessions, next };
  }
  const found: Session[] = [];
  let next: string | null | undefined = cursor;
  let scanned = 0;
  do {
    const page = await listSessions(filter, sizes.scanPageSize, next ?? undefined, signal);
    scanned += page.sessions.length;
    found.push(...page.sessions.filter((s) => matchesSearch(s, filter.search)));
    next = page.next;
  } while (found.length < sizes.pageSize && next !== null && scanned < sizes.maxScan);
  return { sessions: found, next, scanned };
}
