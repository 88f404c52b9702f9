import { useState } from "preact/hooks";
import { exec } from "../../api/sessions.js";
import type { Session, SessionEvent } from "../../api/types.js";
import { ErrorBanner } from "../../components/error-banner.js";
import { ExecEventView } from "./exec-event.js";

/**
 * A python or typescript session as cells: each exec's input, output and errors in order, and
 * a box to run the next one. The result arrives as an exec event on the session's stream.
 */
export function Cells({ session, events, mayRun }: { session: Session; events: readonly SessionEvent[]; mayRun: boolean }) {
  const [code, setCode] = useState("");
  const [running, setRunning] = useState(false);
  const [error, setError] = useState<unknown>();
  const cells = events.filter((e) => e.type === "exec");
  const run = async (event: Event) => {
    event.preventDefault();
    if (code.trim() === "") return;
    setRunning(true);
    try {
      await exec(session.id, code);
      setCode("");
      setError(undefined);
    } catch (err) {
      setError(err);
    } finally {
      setRunning(false);
    }
  };
  return (
    <section aria-labelledby="cells-title">
      <h2 id="cells-title">Cells</h2>
      <ol class="cells">
        {cells.map((cell) => (
          <li key={cell.seq}>
            <ExecEventView event={cell} />
          </li>
        ))}
      </ol>
      {cells.length === 0 && <p class="note">No cells run yet (in the events loaded).</p>}
      {mayRun && (
        <form onSubmit={run} class="cell-form">
          <label for="cell-input">Cell</label>
          <textarea
            id="cell-input"
            rows={4}
            spellcheck={false}
            value={code}
            onInput={(e) => setCode((e.currentTarget as HTMLTextAreaElement).value)}
            onKeyDown={(e) => {
              // Ctrl/Cmd-Enter runs, as in notebooks; Enter alone is a new line.
              if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) void run(e);
            }}
          />
          <button type="submit" disabled={running || session.status !== "active"}>
            Run
          </button>
          {running && <span role="status">Running…</span>}
        </form>
      )}
      <ErrorBanner error={error} />
    </section>
  );
}
