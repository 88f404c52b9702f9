import { api, query } from "./client.js";
import type { Checkpoint, ExecResult, Session, SessionEvent, Stats } from "./types.js";

/** The filters of the sessions list, as GET /sessions/ and GET /stats take them. */
export interface SessionFilter {
  status?: string;
  kind?: string;
  agent_id?: string;
  /** `key=value` (or `key:value`) pairs, comma-separated; each must match. */
  labels?: string;
  /** Text the name or the task contains (the server ignores the case of ASCII letters). */
  q?: string;
}

/** What the list may be sorted by: the server's `sort` values. */
export const SORT_KEYS = ["created_at", "last_activity_at", "updated_at", "name", "status", "kind", "agent_id", "iterations"] as const;
export type SortKey = (typeof SORT_KEYS)[number];

/** A listing order: a key, newest (largest) first or not. */
export interface ListSort {
  readonly key: SortKey;
  readonly descending: boolean;
}

/** The server's default order: the newest first. */
export const NEWEST_FIRST: ListSort = { key: "created_at", descending: true };

/** The filter as query parameters (labels as repeated `label=key:value`). */
export function filterParams(filter: SessionFilter): Record<string, string | readonly string[] | undefined> {
  return {
    status: filter.status,
    kind: filter.kind,
    agent_id: filter.agent_id?.trim(),
    label: parseLabels(filter.labels ?? ""),
    q: filter.q?.trim() || undefined,
  };
}

/**
 * `env=prod, team=ml` → ["env:prod", "team:ml"]; `=` or `:` between key and value. A pair with
 * neither (`justakey`) is passed on as it is, for the server to refuse with its message about
 * labels, as it does every other malformed one: read as `justakey:` it would quietly ask for an
 * empty value and match nothing.
 */
export function parseLabels(text: string): string[] {
  return text
    .split(",")
    .map((pair) => pair.trim())
    .filter(Boolean)
    .map((pair) => {
      const at = pair.search(/[=:]/);
      return at === -1 ? pair : `${pair.slice(0, at).trim()}:${pair.slice(at + 1).trim()}`;
    });
}

/** A page of sessions in the order asked for (newest first by default), and the cursor of the next one. */
export async function listSessions(
  filter: SessionFilter,
  page: { limit: number; cursor?: string | undefined; sort?: ListSort | undefined },
  signal?: AbortSignal,
): Promise<{ sessions: Session[]; next: string | null }> {
  const sort = page.sort ?? NEWEST_FIRST;
  const params = { ...filterParams(filter), sort: sort.key, order: sort.descending ? "desc" : "asc", limit: page.limit, cursor: page.cursor };
  const { data, headers } = await api<Session[]>(`/sessions/${query(params)}`, signal ? { signal } : {});
  return { sessions: data, next: headers.get("x-next-cursor") };
}

export async function stats(filter: SessionFilter & { created_after?: string; created_before?: string }, signal?: AbortSignal): Promise<Stats> {
  const params = { ...filterParams(filter), created_after: filter.created_after, created_before: filter.created_before };
  return (await api<Stats>(`/stats${query(params)}`, signal ? { signal } : {})).data;
}

const path = (id: string) => `/sessions/${encodeURIComponent(id)}`;

export async function getSession(id: string, signal?: AbortSignal): Promise<Session> {
  return (await api<Session>(path(id), signal ? { signal } : {})).data;
}

/** pause, resume, complete…: a lifecycle action. */
export async function act(id: string, action: "pause" | "resume" | "complete"): Promise<Session> {
  return (await api<Session>(`${path(id)}/${action}`, { method: "POST" })).data;
}

export async function deleteSession(id: string): Promise<void> {
  await api<void>(path(id), { method: "DELETE" });
}

/** Events newest first: up to `limit` with seq ≤ `toSeq` (all when undefined). */
export async function eventsBefore(id: string, limit: number, toSeq?: number, signal?: AbortSignal): Promise<SessionEvent[]> {
  return (await api<SessionEvent[]>(`${path(id)}/events${query({ limit, order: "desc", to_seq: toSeq })}`, signal ? { signal } : {})).data;
}

export async function checkpoints(id: string, signal?: AbortSignal): Promise<Checkpoint[]> {
  return (await api<Checkpoint[]>(`${path(id)}/checkpoints`, signal ? { signal } : {})).data;
}

export async function restore(id: string, checkpoint: string): Promise<void> {
  await api<unknown>(`${path(id)}/checkpoints/${encodeURIComponent(checkpoint)}/restore`, { method: "POST" });
}

export async function fork(id: string, checkpoint: string, name?: string): Promise<Session> {
  return (await api<Session>(`${path(id)}/checkpoints/${encodeURIComponent(checkpoint)}/fork`, { method: "POST", body: name ? { name } : {} })).data;
}

/** Runs one cell (python, typescript) or command and waits for its result. */
export async function exec(id: string, input: string): Promise<ExecResult> {
  return (await api<ExecResult>(`${path(id)}/exec`, { method: "POST", body: { input } })).data;
}

/** The URL of a session's stream of events (SSE), from after `afterSeq`, without exec output. */
export function streamPath(id: string, afterSeq: number): string {
  return `${path(id)}/stream${query({ after_seq: afterSeq, output: "0" })}`;
}
