import { useMemo } from "preact/hooks";
import type { SessionEvent } from "../../api/types.js";
import { type Bar, BarChart } from "../../components/charts.js";
import { JsonView } from "../../components/json-view.js";
import { duration } from "../../format.js";
import { timePerTool } from "./tool-time.js";

interface ToolCall {
  readonly seq: number;
  readonly tool: string;
  readonly duration_ms: number | undefined;
  readonly error: { name?: string; message?: string } | undefined;
  readonly args: unknown;
  readonly result: unknown;
}

/** The session's tool calls (from the events loaded), with their durations and time per tool. */
export function ToolCalls({ events }: { events: readonly SessionEvent[] }) {
  const calls = useMemo<ToolCall[]>(
    () =>
      events
        .filter((e) => e.type === "tool_call")
        .map((e) => {
          const d = e.data as { tool?: string; duration_ms?: number; error?: { name?: string; message?: string }; args?: unknown; result?: unknown };
          return { seq: e.seq, tool: String(d.tool ?? "?"), duration_ms: typeof d.duration_ms === "number" ? d.duration_ms : undefined, error: d.error, args: d.args, result: d.result };
        }),
    [events],
  );
  const bars = useMemo<Bar[]>(() => timePerTool(calls), [calls]);
  return (
    <section aria-labelledby="tools-title">
      <h2 id="tools-title">Tool calls</h2>
      {calls.length === 0 ? (
        <p class="note">No tool calls in the events loaded.</p>
      ) : (
        <>
          <BarChart bars={bars} title="Time per tool" />
          <table aria-label="Tool calls of this session">
            <thead>
              <tr>
                <th scope="col">Event</th>
                <th scope="col">Tool</th>
                <th scope="col">Duration</th>
                <th scope="col">Outcome</th>
                <th scope="col">Details</th>
              </tr>
            </thead>
            <tbody>
              {calls.map((c) => (
                <tr key={c.seq}>
                  <td>#{c.seq}</td>
                  <td class="wrap">{c.tool}</td>
                  <td>{c.duration_ms === undefined ? "—" : duration(c.duration_ms)}</td>
                  <td class="wrap">{c.error ? `error: ${c.error.name ?? ""} ${c.error.message ?? ""}` : "ok"}</td>
                  <td>
                    <JsonView value={{ args: c.args, ...(c.error ? { error: c.error } : { result: c.result }) }} label={`Tool call ${c.seq}`} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      )}
    </section>
  );
}
