import { useCallback, useEffect, useRef, useState } from "preact/hooks";
import { ApiError } from "../api/client.js";
import { checkpoints as listCheckpoints, eventsBefore, getSession, streamPath } from "../api/sessions.js";
import { followSse } from "../api/sse.js";
import { type Checkpoint, type JsonObject, type Session, type SessionEvent, type WhoAmI, isFinished } from "../api/types.js";
import { ErrorBanner } from "../components/error-banner.js";
import { followLink, hrefOf } from "../router.js";
import { SETTINGS } from "../settings.js";
import { Cells } from "./session/cells.js";
import { useCheckpointActions } from "./session/checkpoint-actions.js";
import { CheckpointConfirm } from "./session/checkpoint-confirm.js";
import { Checkpoints } from "./session/checkpoints.js";
import { ContextView } from "./session/context.js";
import { SessionHeader } from "./session/header.js";
import { Lifecycle } from "./session/lifecycle.js";
import { TerminalView } from "./session/terminal.js";
import { Timeline } from "./session/timeline.js";
import { ToolCalls } from "./session/tool-calls.js";

/** A stream message carrying an event (docs/streams.md). */
interface StreamEvent {
  seq: number;
  ts: string;
  event_type: string;
  data: JsonObject;
}

/** Events after which the checkpoints are read again. */
const CHECKPOINT_EVENTS = new Set(["checkpoint", "restore"]);

/**
 * One session: its header, timeline (live), checkpoints, context with a diff, tool calls, and
 * its terminal (shell) or cells (python, typescript). A session deleted while the page is open
 * says so and stops following it.
 */
export function SessionPage({ id, me }: { id: string; me: WhoAmI }) {
  const [session, setSession] = useState<Session>();
  const [events, setEvents] = useState<SessionEvent[]>([]);
  const [complete, setComplete] = useState(false);
  const [cps, setCps] = useState<Checkpoint[]>([]);
  const [error, setError] = useState<unknown>();
  const [gone, setGone] = useState(false);
  const [live, setLive] = useState(false);
  const [loadingOlder, setLoadingOlder] = useState(false);
  const eventsRef = useRef(events);
  eventsRef.current = events;

  const addEvents = useCallback((more: readonly SessionEvent[], keep: "newest" | "oldest" = "newest") => {
    setEvents((current) => {
      const bySeq = new Map(current.map((e) => [e.seq, e]));
      for (const e of more) bySeq.set(e.seq, e);
      const all = [...bySeq.values()].sort((a, b) => a.seq - b.seq);
      if (all.length <= SETTINGS.maxEventsKept) return all;
      // A long live session: the page holds a window of its history, not all of it.
      if (keep === "newest") {
        setComplete(false);
        return all.slice(-SETTINGS.maxEventsKept);
      }
      return all.slice(0, SETTINGS.maxEventsKept);
    });
  }, []);

  const refresh = useCallback(async () => {
    try {
      setSession(await getSession(id));
    } catch (err) {
      if (err instanceof ApiError && err.status === 404) setGone(true);
      else setError(err);
    }
  }, [id]);

  const refreshCheckpoints = useCallback(async () => {
    try {
      setCps(await listCheckpoints(id));
    } catch {
      // Shown with the session's own error, if any.
    }
  }, [id]);

  // First the session, its newest page of events and its checkpoints; then its stream from there.
  useEffect(() => {
    const controller = new AbortController();
    let stop: (() => void) | undefined;
    let refreshTimer: ReturnType<typeof setTimeout> | undefined;
    void (async () => {
      try {
        const [s, page, c] = await Promise.all([getSession(id, controller.signal), eventsBefore(id, SETTINGS.eventPageSize, undefined, controller.signal), listCheckpoints(id, controller.signal)]);
        if (controller.signal.aborted) return;
        setSession(s);
        const ordered = [...page].reverse();
        addEvents(ordered);
        setComplete(ordered.length === 0 || ordered[0]!.seq === 1);
        setCps(c);
        const after = ordered.length ? ordered[ordered.length - 1]!.seq : 0;
        stop = followSse(streamPath(s.id, after), {
          onOpen: () => setLive(true),
          onRetry: () => setLive(false),
          onClose: (reason) => {
            setLive(false);
            const why = reason as { reason?: string } | ApiError;
            if ((why instanceof ApiError && why.status === 404) || (!(why instanceof ApiError) && why?.reason === "session_deleted")) setGone(true);
          },
          onMessage: (type, data) => {
            if (type !== "event") return;
            const m = data as StreamEvent;
            addEvents([{ seq: m.seq, ts: m.ts, type: m.event_type, data: m.data }]);
            if (CHECKPOINT_EVENTS.has(m.event_type)) void refreshCheckpoints();
            // A burst of events reads the session once.
            refreshTimer ??= setTimeout(() => {
              refreshTimer = undefined;
              void refresh();
            }, SETTINGS.countsRefreshMs / 4);
          },
        });
      } catch (err) {
        if (controller.signal.aborted) return;
        if (err instanceof ApiError && err.status === 404) setGone(true);
        else setError(err);
      }
    })();
    return () => {
      controller.abort();
      stop?.();
      clearTimeout(refreshTimer);
    };
  }, [id, addEvents, refresh, refreshCheckpoints]);

  const actions = useCheckpointActions(session, () => {
    void refresh();
    void refreshCheckpoints();
  });

  const loadOlder = async () => {
    const first = eventsRef.current[0];
    if (!first) return;
    setLoadingOlder(true);
    try {
      const older = await eventsBefore(id, SETTINGS.eventPageSize, first.seq - 1);
      addEvents(older, "oldest");
      if (older.length === 0 || older[older.length - 1]!.seq === 1) setComplete(true);
    } catch (err) {
      setError(err);
    } finally {
      setLoadingOlder(false);
    }
  };

  if (gone) {
    // Deleted under the page only if the page ever had it: a name that was never there is not found.
    return (
      <section>
        <h1>{session ? session.name : "Session not found"}</h1>
        <p class="error" role="alert">
          {session ? "This session no longer exists: it was deleted while this page was open." : `No session named “${id}” was found: there is none by that name or id, or this token may not see it.`}
        </p>
        <p>
          <a href={hrefOf({ page: "sessions" })} onClick={followLink}>
            Back to the sessions
          </a>
        </p>
      </section>
    );
  }
  if (!session) {
    return (
      <section>
        <h1>{id}</h1>
        {error ? <ErrorBanner error={error} /> : <p role="status">Loading…</p>}
      </section>
    );
  }
  const mayWrite = me.role !== "reader";
  const interpreter = session.kind === "python" || session.kind === "typescript";
  // The server cuts exec input and output for a token that may not read them: then it refuses the terminal too.
  const execHidden = events.some((e) => e.type === "exec" && e.data.redacted === true);
  return (
    <div class="session-page">
      <SessionHeader session={session} />
      {mayWrite && <Lifecycle session={session} onChanged={setSession} />}
      <ErrorBanner error={error} onDismiss={() => setError(undefined)} />
      {session.kind === "shell" &&
        (session.status === "active" && !execHidden ? (
          <TerminalView session={session} mayDrive={me.role !== "reader"} />
        ) : execHidden ? (
          <section aria-labelledby="terminal-title">
            <h2 id="terminal-title">Terminal</h2>
            <p class="note">This token may not read this session's commands and output (config execRoles), so its terminal is not shown.</p>
          </section>
        ) : (
          <section aria-labelledby="terminal-title">
            <h2 id="terminal-title">Terminal</h2>
            <p class="note">The shell is {session.status}: there is no terminal to attach to. Its commands are on the timeline.</p>
          </section>
        ))}
      {interpreter && <Cells session={session} events={events} mayRun={mayWrite} />}
      <div class="columns">
        <ContextView session={session} checkpoints={cps} />
        <Checkpoints session={session} checkpoints={cps} mayWrite={mayWrite} actions={actions} />
      </div>
      <ToolCalls events={events} />
      <Timeline
        events={events}
        complete={complete}
        loadingOlder={loadingOlder}
        onLoadOlder={() => void loadOlder()}
        live={live}
        checkpoints={cps}
        actions={mayWrite ? actions : undefined}
        restorable={!isFinished(session.status)}
      />
      {mayWrite && <CheckpointConfirm actions={actions} />}
    </div>
  );
}
