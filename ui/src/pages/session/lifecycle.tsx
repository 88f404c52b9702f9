import { useState } from "preact/hooks";
import { act } from "../../api/sessions.js";
import type { Session } from "../../api/types.js";
import { ErrorBanner } from "../../components/error-banner.js";

type Action = "pause" | "resume" | "complete";

/** The moves the status machine allows from a status (docs/api.md: lifecycle). */
function allowed(status: Session["status"]): Action[] {
  switch (status) {
    case "active":
      return ["pause", "complete"];
    case "paused":
      return ["resume", "complete"];
    case "crashed":
      return ["resume"];
    default:
      return [];
  }
}

const LABEL: Record<Action, string> = { pause: "Pause session", resume: "Resume session", complete: "Complete session" };

/** Pause, resume (a crashed session is recovered) and complete, for a token that may write. */
export function Lifecycle({ session, onChanged }: { session: Session; onChanged(s: Session): void }) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>();
  const actions = allowed(session.status);
  if (actions.length === 0) return null;
  const run = async (action: Action) => {
    setBusy(true);
    try {
      onChanged(await act(session.id, action));
      setError(undefined);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return (
    <div class="lifecycle" role="group" aria-label="Session status">
      {actions.map((action) => (
        <button key={action} type="button" disabled={busy} onClick={() => void run(action)}>
          {LABEL[action]}
        </button>
      ))}
      <ErrorBanner error={error} />
    </div>
  );
}
