import type { Session } from "../../api/types.js";
import { StatusBadge } from "../../components/status-badge.js";
import { useTick } from "../../components/use-tick.js";
import { ago, when } from "../../format.js";
import { followLink, hrefOf } from "../../router.js";

/** A session's name (the page's heading) and what to know at a glance. */
export function SessionHeader({ session }: { session: Session }) {
  const labels = Object.entries(session.labels);
  const now = useTick();
  return (
    <header class="session-header">
      <h1>{session.name}</h1>
      <dl class="facts">
        <div>
          <dt>Status</dt>
          <dd>
            <StatusBadge status={session.status} />
          </dd>
        </div>
        <div>
          <dt>Kind</dt>
          <dd>{session.kind}</dd>
        </div>
        <div>
          <dt>Agent</dt>
          <dd>{session.agent_id ?? "—"}</dd>
        </div>
        <div>
          <dt>Iterations</dt>
          <dd>
            {session.iterations}
            {session.max_iterations !== null ? ` of ${session.max_iterations}` : " (no maximum)"}
          </dd>
        </div>
        <div>
          <dt>Age</dt>
          <dd title={when(session.created_at)}>{ago(session.created_at, now).replace(" ago", "")}</dd>
        </div>
        <div>
          <dt>Last activity</dt>
          <dd title={when(session.last_activity_at)}>{ago(session.last_activity_at, now)}</dd>
        </div>
      </dl>
      {session.task && <p class="task">Task: {session.task}</p>}
      {labels.length > 0 && (
        <ul class="labels" aria-label="Labels">
          {labels.map(([k, v]) => (
            <li key={k}>
              {k}={v}
            </li>
          ))}
        </ul>
      )}
      {session.error && <p class="error-text">Error: {session.error}</p>}
      {session.parent && (
        <p class="note">
          Forked from{" "}
          <a href={hrefOf({ page: "session", id: session.parent })} onClick={followLink}>
            {session.parent}
          </a>
        </p>
      )}
    </header>
  );
}
