import type { SessionEvent } from "../../api/types.js";
import { duration } from "../../format.js";
import { OutputText } from "./output-text.js";

/** The fields of an exec event the page shows (docs/exec-sessions.md); input and output absent when redacted. */
export interface ExecData {
  exec_id?: string;
  input?: string;
  stdout?: string;
  stderr?: string;
  exit_code?: number | null;
  status?: string;
  duration_ms?: number;
  truncated?: boolean;
  redacted?: boolean;
}

/** An exec: its input, output and errors, exit code and time. */
export function ExecEventView({ event }: { event: Pick<SessionEvent, "seq" | "data"> }) {
  const data = event.data as ExecData;
  return (
    <div class="exec">
      {data.redacted ? (
        <p class="note">Input and output are not shown to this token.</p>
      ) : (
        <>
          {data.input !== undefined && (
            <pre class="input" aria-label={`Exec ${event.seq} input`}>
              {data.input}
            </pre>
          )}
          <OutputText text={data.stdout ?? ""} label={`Exec ${event.seq} output`} />
          <OutputText text={data.stderr ?? ""} label={`Exec ${event.seq} errors`} tone="error" />
        </>
      )}
      <p class="exec-meta">
        {data.status ?? "finished"}
        {data.exit_code !== undefined && data.exit_code !== null ? `, exit ${data.exit_code}` : ""}
        {data.duration_ms !== undefined ? `, ${duration(data.duration_ms)}` : ""}
        {data.truncated ? ", output truncated" : ""}
      </p>
    </div>
  );
}
