import { useCallback, useEffect, useLayoutEffect, useRef, useState } from "preact/hooks";
import { ApiError, describeError } from "../api/client.js";
import { type SortKey, act, deleteSession, getSession, stats } from "../api/sessions.js";
import { followSse } from "../api/sse.js";
import { type FeedEvent, KINDS, STATUSES, type Session, type Stats, type WhoAmI } from "../api/types.js";
import { ConfirmDialog } from "../components/confirm-dialog.js";
import { ErrorBanner } from "../components/error-banner.js";
import { StatusBadge } from "../components/status-badge.js";
import { useTick } from "../components/use-tick.js";
import { ago, when } from "../format.js";
import { followLink, hrefOf, parseRoute, pushQuery, replaceQuery, usePopState } from "../router.js";
import { SETTINGS } from "../settings.js";
import { placeSession } from "./list-placement.js";
import { listUrlProblem } from "./list-url.js";
import { type ListQuery, listQueryFromUrl, listQueryToUrl, loadPage, matchesFilter, nextSort } from "./session-filter.js";

/** Feed events after which a listed session is read again: its status or counters changed. */
const CHANGES = new Set(["start", "pause", "resume", "complete", "error", "timeout", "crash", "recover", "restore", "iteration", "context_update"]);

type Bulk = "pause" | "complete" | "delete";

/**
 * The sessions list: filters (status, kind, agent, labels), a search of names and tasks and a
 * sort by any column, all done by the server over every session and kept in the page's URL,
 * cursor paging, counts by status, live updates from the feed (a session that changes status
 * moves or leaves without a reload), and bulk actions for the admin.
 */
export function SessionsList({ me }: { me: WhoAmI }) {
  // What the URL asks for: a reload or a shared link shows the same list.
  const [applied, setApplied] = useState<ListQuery>(() => listQueryFromUrl(location.search));
  const [filter, setFilter] = useState(applied.filter);
  const [rows, setRows] = useState<Session[]>([]);
  const [cursors, setCursors] = useState<(string | undefined)[]>([undefined]);
  const [next, setNext] = useState<string | null>(null);
  const [loading, setLoading] = useState(true);
  const [error, setError] = useState<unknown>();
  const [counts, setCounts] = useState<Stats>();
  /** Why these filters have no counts, when the server said: a search over more sessions than it counts through. */
  const [uncounted, setUncounted] = useState<string>();
  const [selected, setSelected] = useState<Set<string>>(new Set());
  const [pending, setPending] = useState<Bulk>();
  // A link asking for a sort the list does not offer shows the default, and says so.
  const [notice, setNotice] = useState<string | undefined>(() => listUrlProblem(location.search, applied.sort));
  const [live, setLive] = useState(false);
  const isAdmin = me.role === "admin";
  const now = useTick();
  const page = cursors.length;

  const load = useCallback(async (wanted: ListQuery, cursor: string | undefined, signal?: AbortSignal) => {
    setLoading(true);
    try {
      const answer = await loadPage(wanted, cursor, SETTINGS.pageSize, signal);
      setRows(answer.sessions);
      setNext(answer.next);
      setError(undefined);
    } catch (err) {
      if (signal?.aborted) return;
      // Rows and counts of the filters before would read as the answer to these.
      setRows([]);
      setNext(null);
      setCounts(undefined);
      setError(err);
    } finally {
      if (!signal?.aborted) setLoading(false);
    }
  }, []);

  const loadCounts = useCallback(async ({ filter: wanted }: ListQuery) => {
    try {
      // Every filter but the status: the counts are by status.
      setCounts(await stats({ kind: wanted.kind, agent_id: wanted.agent_id, labels: wanted.labels, q: wanted.q }));
      setUncounted(undefined);
    } catch (err) {
      // The counts are a summary; the list shows the error. Old numbers would pass for these filters'.
      setCounts(undefined);
      // The server counts a search only over so many sessions (config listScanRows): say so.
      setUncounted(err instanceof ApiError && err.field === "q" ? "Not counted: the search covers more sessions than the server counts through. Narrow the other filters to count it." : undefined);
    }
  }, []);

  // The rows are asked for as soon as the list is rendered, not after a paint (see App).
  useLayoutEffect(() => {
    const controller = new AbortController();
    void load(applied, cursors[cursors.length - 1], controller.signal);
    return () => controller.abort();
  }, [applied, cursors, load]);

  // The counts after the page's rows: over many sessions the aggregate is the slower answer, and
  // asked for at once it can hold the list's own answer up on the server.
  const countedFor = useRef<ListQuery["filter"]>();
  useEffect(() => {
    // Once per filter: paging and sorting do not change the counts.
    if (loading || countedFor.current === applied.filter) return;
    countedFor.current = applied.filter;
    void loadCounts(applied);
  }, [applied, loading, loadCounts]);

  // Live: the feed's events of the kinds and agent asked for; the rows shown are read again when one changes.
  const appliedRef = useRef(applied);
  appliedRef.current = applied;
  const pageRef = useRef(page);
  pageRef.current = page;
  const nextRef = useRef(next);
  nextRef.current = next;
  const cursorRef = useRef(cursors[cursors.length - 1]);
  cursorRef.current = cursors[cursors.length - 1];
  useEffect(() => {
    // Only the events that change what a row shows: a busy server's tool calls and execs stay off
    // this page. Deletions too (docs/streams.md): a deleted session leaves its row at once.
    const params = new URLSearchParams({ type: [...CHANGES].join(","), deletions: "1" });
    if (applied.filter.kind) params.set("kind", applied.filter.kind);
    if (applied.filter.agent_id?.trim()) params.set("agent_id", applied.filter.agent_id.trim());
    let countsTimer: ReturnType<typeof setTimeout> | undefined;
    const refreshCounts = () => {
      countsTimer ??= setTimeout(() => {
        countsTimer = undefined;
        void loadCounts(appliedRef.current);
      }, SETTINGS.countsRefreshMs);
    };
    const reading = new Set<string>();
    let opened = false;
    const stop = followSse(`/feed?${params}`, {
      onOpen: () => {
        setLive(true);
        // Back after a drop or a server restart: the feed resumes where it stopped, but a deletion
        // made meanwhile has no place in it, so the rows shown are read again once.
        if (opened) {
          void load(appliedRef.current, cursorRef.current);
          refreshCounts();
        }
        opened = true;
      },
      onRetry: () => setLive(false),
      onClose: () => setLive(false),
      onMessage: (type, data) => {
        if (type === "deleted") {
          const gone = (data as { session_id: string }).session_id;
          setRows((current) => current.filter((s) => s.id !== gone));
          setSelected((current) => (current.has(gone) ? new Set([...current].filter((id) => id !== gone)) : current));
          refreshCounts();
          return;
        }
        if (type !== "event") return;
        const event = data as FeedEvent;
        refreshCounts();
        if (reading.has(event.session_id)) return;
        reading.add(event.session_id);
        getSession(event.session_id)
          .then((session) => {
            setRows((current) => {
              const at = current.findIndex((s) => s.id === session.id);
              const belongs = matchesFilter(session, appliedRef.current.filter);
              // A row shown stays where it is: where its new values put it in the order, the next load shows.
              if (at !== -1) return belongs ? current.map((s, i) => (i === at ? session : s)) : current.filter((_, i) => i !== at);
              // A session new to this filter (or back under it) goes where the order puts it, when that is on this page.
              if (!belongs) return current;
              return [...placeSession(current, session, appliedRef.current.sort, { first: pageRef.current === 1, hasNext: nextRef.current !== null })];
            });
          })
          .catch(() => setRows((current) => current.filter((s) => s.id !== event.session_id)))
          .finally(() => reading.delete(event.session_id));
      },
    });
    return () => {
      stop();
      clearTimeout(countsTimer);
    };
  }, [applied.filter.kind, applied.filter.agent_id, load, loadCounts]);

  // The URL says what the list shows: a sort it does not offer is replaced by the one shown.
  useEffect(() => {
    const shown = listQueryToUrl(appliedRef.current);
    if (shown !== location.search) replaceQuery(shown);
  }, []);

  /** Shows the list `query` asks for from its first page, and puts it in the URL as a new history entry (Back returns). */
  const show = (query: ListQuery) => {
    setSelected(new Set());
    setCursors([undefined]);
    setApplied(query);
    setNotice(undefined);
    pushQuery(listQueryToUrl(query));
  };

  // Back and Forward go through the filters and sorts applied: the list follows its URL.
  usePopState((search) => {
    if (parseRoute(location.pathname).page !== "sessions") return;
    const query = listQueryFromUrl(search);
    setSelected(new Set());
    setCursors([undefined]);
    setFilter(query.filter);
    setApplied(query);
    setNotice(listUrlProblem(search, query.sort));
  });

  const apply = (event: Event) => {
    event.preventDefault();
    show({ ...applied, filter: { ...filter } });
  };

  const sort = applied.sort;
  const toggleSort = (key: SortKey) => show({ ...applied, sort: nextSort(sort, key) });

  const runBulk = async (action: Bulk) => {
    setPending(undefined);
    const ids = [...selected];
    const failed: string[] = [];
    for (const id of ids) {
      const name = rows.find((s) => s.id === id)?.name ?? id;
      try {
        if (action === "delete") await deleteSession(id);
        else {
          const session = await act(id, action);
          setRows((current) => current.map((s) => (s.id === id ? session : s)));
        }
      } catch (err) {
        failed.push(`${name}: ${describeError(err)}`);
      }
    }
    if (action === "delete") setRows((current) => current.filter((s) => !ids.includes(s.id) || failed.some((f) => f.startsWith(`${s.name}:`))));
    setSelected(new Set());
    setNotice(failed.length ? `${ids.length - failed.length} of ${ids.length} done. Failed: ${failed.join("; ")}` : `${action === "delete" ? "Deleted" : action === "pause" ? "Paused" : "Completed"} ${ids.length} session${ids.length === 1 ? "" : "s"}.`);
    void loadCounts(applied);
    if (action === "delete" || applied.filter.status) void load(applied, cursors[cursors.length - 1]);
  };

  const header = (key: SortKey, text: string) => (
    <th scope="col" aria-sort={sort.key === key ? (sort.descending ? "descending" : "ascending") : "none"}>
      <button type="button" class="sort" onClick={() => toggleSort(key)}>
        {text}
        <span aria-hidden="true">{sort.key === key ? (sort.descending ? " ▼" : " ▲") : ""}</span>
      </button>
    </th>
  );

  const allOnPage = rows.length > 0 && rows.every((s) => selected.has(s.id));
  const selectedNames = rows.filter((s) => selected.has(s.id)).map((s) => s.name);

  return (
    <section class="sessions">
      <h1>Sessions</h1>
      <form class="filters" onSubmit={apply} aria-label="Filters">
        <div class="field">
          <label for="filter-status">Status</label>
          <select id="filter-status" value={filter.status ?? ""} onChange={(e) => setFilter({ ...filter, status: (e.currentTarget as HTMLSelectElement).value })}>
            <option value="">any</option>
            {STATUSES.map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </select>
        </div>
        <div class="field">
          <label for="filter-kind">Kind</label>
          <select id="filter-kind" value={filter.kind ?? ""} onChange={(e) => setFilter({ ...filter, kind: (e.currentTarget as HTMLSelectElement).value })}>
            <option value="">any</option>
            {KINDS.map((k) => (
              <option key={k} value={k}>
                {k}
              </option>
            ))}
          </select>
        </div>
        <div class="field">
          <label for="filter-agent">Agent</label>
          <input id="filter-agent" value={filter.agent_id ?? ""} placeholder="agent id" onInput={(e) => setFilter({ ...filter, agent_id: (e.currentTarget as HTMLInputElement).value })} />
        </div>
        <div class="field">
          <label for="filter-labels">Labels</label>
          <input id="filter-labels" value={filter.labels ?? ""} placeholder="env=prod, team=ml" onInput={(e) => setFilter({ ...filter, labels: (e.currentTarget as HTMLInputElement).value })} />
        </div>
        <div class="field">
          <label for="filter-search">Search</label>
          <input id="filter-search" type="search" value={filter.q ?? ""} placeholder="name or task" onInput={(e) => setFilter({ ...filter, q: (e.currentTarget as HTMLInputElement).value })} />
        </div>
        <button type="submit">Apply</button>
      </form>

      <section class="counts" aria-label="Counts">
        {uncounted && <p class="note">{uncounted}</p>}
        <ul>
          <li>
            <span class="count">{counts?.total ?? (error || uncounted ? "—" : "…")}</span> total
          </li>
          {STATUSES.map((s) => (
            <li key={s}>
              <span class="count">{counts ? (counts.by_status[s] ?? 0) : "—"}</span> <StatusBadge status={s} />
            </li>
          ))}
        </ul>
        <span class={live ? "live on" : "live"} role="status">
          {live ? "Live" : "Not live (reconnecting)"}
        </span>
      </section>

      <ErrorBanner error={error} />
      {notice && (
        <p class="notice" role="status">
          {notice}
        </p>
      )}

      {isAdmin && (
        <div class="bulk" role="group" aria-label="Bulk actions">
          <span>{selected.size} selected</span>
          <button type="button" disabled={selected.size === 0} onClick={() => setPending("pause")}>
            Pause
          </button>
          <button type="button" disabled={selected.size === 0} onClick={() => setPending("complete")}>
            Complete
          </button>
          <button type="button" class="danger" disabled={selected.size === 0} onClick={() => setPending("delete")}>
            Delete
          </button>
        </div>
      )}

      <div class="table-box">
        <table aria-label="Sessions" aria-busy={loading} class="sessions-table">
          <colgroup>
            {isAdmin && <col class="col-select" />}
            <col class="col-name" />
            <col class="col-status" />
            <col class="col-kind" />
            <col class="col-agent" />
            <col class="col-task" />
            <col class="col-iterations" />
            <col class="col-time" />
            <col class="col-time" />
          </colgroup>
          <thead>
            <tr>
              {isAdmin && (
                <th scope="col">
                  <input
                    type="checkbox"
                    aria-label="Select all on this page"
                    checked={allOnPage}
                    onChange={() => setSelected(allOnPage ? new Set() : new Set(rows.map((s) => s.id)))}
                  />
                </th>
              )}
              {header("name", "Name")}
              {header("status", "Status")}
              {header("kind", "Kind")}
              {header("agent_id", "Agent")}
              <th scope="col">Task</th>
              {header("iterations", "Iterations")}
              {header("last_activity_at", "Last activity")}
              {header("created_at", "Created")}
            </tr>
          </thead>
          <tbody>
            {rows.map((s) => (
              <tr key={s.id}>
                {isAdmin && (
                  <td>
                    <input
                      type="checkbox"
                      aria-label={`Select ${s.name}`}
                      checked={selected.has(s.id)}
                      onChange={() =>
                        setSelected((current) => {
                          const copy = new Set(current);
                          if (copy.has(s.id)) copy.delete(s.id);
                          else copy.add(s.id);
                          return copy;
                        })
                      }
                    />
                  </td>
                )}
                <td class="clip" title={s.name}>
                  <a href={hrefOf({ page: "session", id: s.id })} onClick={followLink}>
                    {s.name}
                  </a>
                </td>
                <td>
                  <StatusBadge status={s.status} />
                </td>
                <td class="clip" title={s.kind}>
                  {s.kind}
                </td>
                <td class="clip" title={s.agent_id ?? undefined}>
                  {s.agent_id ?? "—"}
                </td>
                <td class="clip task" title={s.task ?? undefined}>
                  {s.task ?? ""}
                </td>
                <td>
                  {s.iterations}
                  {s.max_iterations !== null ? ` / ${s.max_iterations}` : ""}
                </td>
                <td title={when(s.last_activity_at)}>{ago(s.last_activity_at, now)}</td>
                <td title={when(s.created_at)}>{ago(s.created_at, now)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {!loading && rows.length === 0 && next === null && <p class="note">No sessions match.</p>}
      {/* A search reads a bounded number of sessions for each page (config listScanRows): a page may hold few, none even, and more come after it. */}
      {!loading && applied.filter.q?.trim() && rows.length < SETTINGS.pageSize && next !== null && (
        <p class="note">
          {rows.length === 0 ? "No match among the sessions searched for this page" : "This page is short"}: a search reads a limited number of sessions
          for each page. Next page searches on.
        </p>
      )}

      <nav class="pager" aria-label="Pages">
        <button type="button" disabled={page === 1 || loading} onClick={() => setCursors((c) => c.slice(0, -1))}>
          Previous page
        </button>
        <span>Page {page}</span>
        <button type="button" disabled={next === null || loading} onClick={() => next && setCursors((c) => [...c, next])}>
          Next page
        </button>
      </nav>

      {pending && (
        <ConfirmDialog title={`${bulkLabel(pending, selected.size)}?`} confirmLabel={bulkLabel(pending, selected.size)} onConfirm={() => void runBulk(pending)} onCancel={() => setPending(undefined)}>
          <p>{pending === "delete" ? "Their events, checkpoints and workspaces are deleted with them." : "Each one is changed in turn; those that cannot be are listed after."}</p>
          <ul class="names">
            {selectedNames.slice(0, 20).map((n) => (
              <li key={n}>{n}</li>
            ))}
            {selectedNames.length > 20 && <li>and {selectedNames.length - 20} more</li>}
          </ul>
        </ConfirmDialog>
      )}
    </section>
  );
}

/** What a bulk action does, as its confirmation names it: "Pause 3 sessions". */
function bulkLabel(action: Bulk, count: number): string {
  return `${action[0]!.toUpperCase()}${action.slice(1)} ${count} session${count === 1 ? "" : "s"}`;
}
