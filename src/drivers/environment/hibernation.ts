import type { Session } from "../../core/index.js";

/**
 * How a hibernated session is marked: `runtime_metadata.hibernated`, set when its process is
 * stopped and dropped when it wakes. The mark survives a server restart, so a hibernated session
 * is no orphan: it stays active (or paused) and wakes on its next exec.
 */
export interface HibernatedMark {
  /** When it fell asleep (ISO). */
  readonly at: string;
  /** The session's last seq then: its interpreter is its history up to here. */
  readonly seq: number;
  /** Cells in its interpreter's history then (0 for a shell or an llm session). */
  readonly cells: number;
  /** `idle` (config hibernateAfterMs), `request` (POST /sessions/{id}/hibernate), or a rebuild made while paused. */
  readonly reason: string;
  /** It was paused when it fell asleep. */
  readonly paused: boolean;
}

/** The session's hibernation mark, when it is hibernated. */
export function hibernatedMark(session: Pick<Session, "runtime_metadata">): HibernatedMark | undefined {
  const mark = session.runtime_metadata.hibernated;
  if (!mark || typeof mark !== "object" || Array.isArray(mark)) return undefined;
  const { at, seq } = mark as Record<string, unknown>;
  if (typeof at !== "string" || typeof seq !== "number") return undefined;
  return mark as unknown as HibernatedMark;
}

/** The session as its process starts again: without the mark. */
export function withoutHibernation(session: Session): Session {
  if (!("hibernated" in session.runtime_metadata)) return session;
  const { hibernated: _, ...rest } = session.runtime_metadata;
  return { ...session, runtime_metadata: rest };
}
