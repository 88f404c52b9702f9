import { useMemo, useState } from "preact/hooks";
import type { Checkpoint, SessionEvent } from "../../api/types.js";
import { JsonView } from "../../components/json-view.js";
import { when } from "../../format.js";
import { type CheckpointActions, NO_RESTORE_WHEN_ENDED, checkpointName } from "./checkpoint-actions.js";
import { ExecEventView } from "./exec-event.js";

interface Group {
  readonly key: string;
  readonly title: string;
  readonly events: SessionEvent[];
}

/**
 * The session's events, oldest first, grouped by iteration (an `iteration` event opens a group),
 * with a filter by type. Numbers are exact when the whole history is loaded; otherwise a group
 * is named by the event that opened it.
 */
function groupByIteration(events: readonly SessionEvent[], complete: boolean): Group[] {
  const groups: Group[] = [];
  let current: Group = { key: "start", title: complete ? "Before the first iteration" : "Earlier events", events: [] };
  let n = 0;
  for (const event of events) {
    if (event.type === "iteration") {
      if (current.events.length > 0) groups.push(current);
      n++;
      current = { key: `it-${event.seq}`, title: complete ? `Iteration ${n}` : `Iteration from event ${event.seq}`, events: [] };
    }
    current.events.push(event);
  }
  if (current.events.length > 0) groups.push(current);
  return groups;
}

export function Timeline(props: {
  events: readonly SessionEvent[];
  complete: boolean;
  loadingOlder: boolean;
  onLoadOlder(): void;
  live: boolean;
  checkpoints: readonly Checkpoint[];
  /** Restore and fork from the checkpoint events; undefined for a token that may not write. */
  actions: CheckpointActions | undefined;
  restorable: boolean;
}) {
  const { events, complete, actions } = props;
  const checkpointAt = useMemo(() => new Map(props.checkpoints.map((c) => [c.seq, c])), [props.checkpoints]);
  const types = useMemo(() => [...new Set(events.map((e) => e.type))].sort(), [events]);
  const [hidden, setHidden] = useState<Set<string>>(new Set());
  const visible = useMemo(() => events.filter((e) => !hidden.has(e.type)), [events, hidden]);
  const groups = useMemo(() => groupByIteration(visible, complete), [visible, complete]);
  const toggle = (type: string) =>
    setHidden((current) => {
      const copy = new Set(current);
      if (copy.has(type)) copy.delete(type);
      else copy.add(type);
      return copy;
    });
  return (
    <section class="timeline" aria-labelledby="timeline-title">
      <h2 id="timeline-title">Timeline</h2>
      <p class="note" role="status">
        {events.length} event{events.length === 1 ? "" : "s"} loaded{complete ? " (all)" : ""}; {props.live ? "live" : "not live (reconnecting)"}.
      </p>
      {types.length > 0 && (
        <fieldset class="type-filter">
          <legend>Event types</legend>
          {types.map((type) => (
            <label key={type}>
              <input type="checkbox" checked={!hidden.has(type)} onChange={() => toggle(type)} /> {type}
            </label>
          ))}
        </fieldset>
      )}
      {!complete && (
        <button type="button" onClick={props.onLoadOlder} disabled={props.loadingOlder}>
          Load older events
        </button>
      )}
      {groups.map((group) => (
        <section key={group.key} class="iteration" aria-label={group.title}>
          <h3>{group.title}</h3>
          <ol class="events">
            {group.events.map((event) => (
              <li key={event.seq} class={`event type-${event.type.replace(/[^\w-]/g, "_")}`}>
                <div class="event-head">
                  <span class="seq">#{event.seq}</span> <strong>{event.type}</strong> <time dateTime={event.ts}>{when(event.ts)}</time>
                </div>
                {event.type === "exec" ? <ExecEventView event={event} /> : Object.keys(event.data).length > 0 && <JsonView value={event.data} label={`Event ${event.seq} data`} />}
                {event.type === "checkpoint" && actions && checkpointAt.has(event.seq) && (
                  <CheckpointButtons checkpoint={checkpointAt.get(event.seq)!} actions={actions} restorable={props.restorable} />
                )}
              </li>
            ))}
          </ol>
        </section>
      ))}
    </section>
  );
}

/** Restore and Fork beside a checkpoint on the timeline (the same as in the Checkpoints region). */
function CheckpointButtons({ checkpoint, actions, restorable }: { checkpoint: Checkpoint; actions: CheckpointActions; restorable: boolean }) {
  const name = checkpointName(checkpoint);
  return (
    <div class="actions">
      <button
        type="button"
        disabled={actions.busy || !restorable}
        title={restorable ? undefined : NO_RESTORE_WHEN_ENDED}
        aria-label={`Restore checkpoint ${name}`}
        onClick={() => void actions.restore(checkpoint)}
      >
        Restore
      </button>{" "}
      <button type="button" disabled={actions.busy} aria-label={`Fork checkpoint ${name}`} onClick={() => void actions.fork(checkpoint)}>
        Fork
      </button>
    </div>
  );
}
