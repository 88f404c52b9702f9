import type { Checkpoint, Session } from "../../api/types.js";
import { isFinished } from "../../api/types.js";
import { ErrorBanner } from "../../components/error-banner.js";
import { when } from "../../format.js";
import { type CheckpointActions, NO_RESTORE_WHEN_ENDED, checkpointName as name } from "./checkpoint-actions.js";

/**
 * The session's checkpoints, with Restore (rewinds the context and iterations; history is kept)
 * and Fork (a new session from that point, opened at once) for a token that may write.
 */
export function Checkpoints(props: { session: Session; checkpoints: readonly Checkpoint[]; mayWrite: boolean; actions: CheckpointActions }) {
  const { session, checkpoints, mayWrite, actions } = props;
  const { busy, error, notice } = actions;
  const doRestore = (c: Checkpoint) => actions.restore(c);
  const doFork = (c: Checkpoint) => actions.fork(c);
  return (
    <section aria-labelledby="checkpoints-title">
      <h2 id="checkpoints-title">Checkpoints</h2>
      <ErrorBanner error={error} />
      {notice && (
        <p class="notice" role="status">
          {notice}
        </p>
      )}
      {mayWrite && checkpoints.length > 0 && isFinished(session.status) && <p class="note">{NO_RESTORE_WHEN_ENDED}</p>}
      {checkpoints.length === 0 ? (
        <p class="note">No checkpoints.</p>
      ) : (
        <table aria-label="Checkpoints of this session">
          <thead>
            <tr>
              <th scope="col">Checkpoint</th>
              <th scope="col">Event</th>
              <th scope="col">Iterations</th>
              <th scope="col">Created</th>
              {mayWrite && <th scope="col">Actions</th>}
            </tr>
          </thead>
          <tbody>
            {checkpoints.map((c) => (
              <tr key={c.id}>
                <td class="wrap">{name(c)}</td>
                <td>#{c.seq}</td>
                <td>{c.state.iterations}</td>
                <td>{when(c.created_at)}</td>
                {mayWrite && (
                  <td class="actions">
                    <button
                      type="button"
                      disabled={busy || isFinished(session.status)}
                      title={isFinished(session.status) ? NO_RESTORE_WHEN_ENDED : undefined}
                      aria-describedby={`cp-${c.id}`}
                      onClick={() => void doRestore(c)}
                    >
                      Restore
                    </button>
                    <button type="button" disabled={busy} aria-describedby={`cp-${c.id}`} onClick={() => void doFork(c)}>
                      Fork
                    </button>
                    <span id={`cp-${c.id}`} class="visually-hidden">
                      checkpoint {name(c)}
                    </span>
                  </td>
                )}
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
