import type { SessionStatus } from "../api/types.js";

/** A session's status as a word with a colour (the word carries the meaning; the colour only helps). */
export function StatusBadge({ status }: { status: SessionStatus }) {
  return <span class={`badge status-${status}`}>{status}</span>;
}
