import { parseLabels, type SessionFilter } from "../api/sessions.js";
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
