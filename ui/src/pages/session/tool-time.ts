import type { Bar } from "../../components/charts.js";
import { duration } from "../../format.js";

/** What the time chart needs of a tool call: its tool, and its duration when it was recorded. */
export interface TimedCall {
  readonly tool: string;
  readonly duration_ms: number | undefined;
}

/**
 * Time per tool, the longest first: the sum of the recorded durations. A call recorded without
 * a duration adds none and is counted apart, so the chart says what the table's "—" says: a tool
 * whose calls have no duration shows "no duration (1 call)", never "0 ms".
 */
export function timePerTool(calls: readonly TimedCall[]): Bar[] {
  const total = new Map<string, { ms: number; timed: number; untimed: number }>();
  for (const c of calls) {
    const t = total.get(c.tool) ?? { ms: 0, timed: 0, untimed: 0 };
    if (c.duration_ms === undefined) t.untimed++;
    else {
      t.ms += c.duration_ms;
      t.timed++;
    }
    total.set(c.tool, t);
  }
  return [...total.entries()]
    .sort((a, b) => b[1].ms - a[1].ms || a[0].localeCompare(b[0]))
    .map(([tool, t]) => ({ label: tool, value: t.ms, text: describe(t) }));
}

function describe(t: { ms: number; timed: number; untimed: number }): string {
  const n = t.timed + t.untimed;
  const calls = `${n} call${n === 1 ? "" : "s"}`;
  if (t.timed === 0) return `no duration (${calls})`;
  return t.untimed === 0 ? `${duration(t.ms)} (${calls})` : `${duration(t.ms)} (${calls}, ${t.untimed} without a duration)`;
}
