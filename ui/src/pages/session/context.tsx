import { useMemo, useState } from "preact/hooks";
import type { Checkpoint, Json, Session } from "../../api/types.js";
import { JsonView } from "../../components/json-view.js";
import { SETTINGS } from "../../settings.js";
import { diffJson } from "./json-diff.js";

const CURRENT = "current";

/** Short text of a JSON value in a diff line. */
function brief(value: Json | undefined): string {
  const text = JSON.stringify(value) ?? "";
  return text.length > 120 ? `${text.slice(0, 119)}…` : text;
}

/** The session's context now, and what changed in it between any two checkpoints (or now). */
export function ContextView({ session, checkpoints }: { session: Session; checkpoints: readonly Checkpoint[] }) {
  const [from, setFrom] = useState<string>(checkpoints[0]?.id ?? CURRENT);
  const [to, setTo] = useState<string>(CURRENT);
  const contextOf = (id: string): Json | undefined => (id === CURRENT ? session.context : checkpoints.find((c) => c.id === id)?.state.context);
  const diff = useMemo(() => diffJson(contextOf(from), contextOf(to), SETTINGS.diffMaxEntries), [from, to, session, checkpoints]);
  const options = [
    ...checkpoints.map((c) => (
      <option key={c.id} value={c.id}>
        {c.label ?? "checkpoint"} (event #{c.seq})
      </option>
    )),
    <option key={CURRENT} value={CURRENT}>
      current context
    </option>,
  ];
  return (
    <section aria-labelledby="context-title">
      <h2 id="context-title">Context</h2>
      <JsonView value={session.context} label="Current context" />
      {checkpoints.length > 0 && (
        <div class="diff">
          <h3>Changes between two points</h3>
          <div class="diff-pick">
            <div class="field">
              <label for="diff-from">From</label>
              <select id="diff-from" value={from} onChange={(e) => setFrom((e.currentTarget as HTMLSelectElement).value)}>
                {options}
              </select>
            </div>
            <div class="field">
              <label for="diff-to">To</label>
              <select id="diff-to" value={to} onChange={(e) => setTo((e.currentTarget as HTMLSelectElement).value)}>
                {options}
              </select>
            </div>
          </div>
          {diff.changes.length === 0 ? (
            <p class="note">No difference.</p>
          ) : (
            <ul class="changes" aria-label="Context changes">
              {diff.changes.map((c) => (
                <li key={c.path} class={`change ${c.kind}`}>
                  <code>{c.path || "(whole context)"}</code> {c.kind}
                  {c.kind !== "added" && <span class="before"> {brief(c.before)}</span>}
                  {c.kind === "changed" && <span aria-hidden="true"> → </span>}
                  {c.kind !== "removed" && <span class="after"> {brief(c.after)}</span>}
                </li>
              ))}
              {diff.more && <li>and more changes</li>}
            </ul>
          )}
        </div>
      )}
    </section>
  );
}
