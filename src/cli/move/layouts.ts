/**
 * The two file layouts `sessiond export` writes, as pure conversions (no I/O); the server reads
 * them back (src/engine/import-files.ts, docs/import-export.md):
 *
 * - `sessions` — seed 004's `sessions/<id>/session.json` (its AgentSession: camelCase fields and a
 *   `history` of `{timestamp, type, data}`), plus a `sessiond` member with what seed 004 has no
 *   field for (kind, name, labels, every event's seq, checkpoints), so an export imports back exactly.
 * - `activity` — seed 000's audit trail `data/activity/YYYY-MM-DD/session_<id>/meta.json` with
 *   `01-exec.json`, `02-exec.json`… (one exec result each, in order); meta.json carries the
 *   session record and its other events under `sessiond`.
 */
import type { Checkpoint, JsonObject, Session, SessionEvent } from "../../sdk/client/index.js";

/** What an export keeps beside the seed's own fields. */
interface SessiondExtras {
  session: Session;
  checkpoints: readonly Checkpoint[];
}

// ---- sessions (seed 004) ------------------------------------------------------------------------

/** A session as seed 004's session.json, with the sessiond extras. */
export function toSeed004(session: Session, events: readonly SessionEvent[], checkpoints: readonly Checkpoint[]): JsonObject {
  return {
    id: session.id,
    ...(session.user_id !== null ? { userId: session.user_id } : {}),
    ...(session.channel_id !== null ? { channelId: session.channel_id } : {}),
    mode: session.mode ?? session.type ?? session.kind,
    task: session.task ?? "",
    ...(session.workspace !== null ? { workspace: session.workspace } : {}),
    status: session.status,
    createdAt: session.created_at,
    updatedAt: session.updated_at,
    iterations: session.iterations,
    maxIterations: session.max_iterations,
    context: session.context,
    history: events.map((e) => ({ timestamp: e.ts, type: e.type, data: e.data, seq: e.seq })),
    ...(session.result !== null && session.result !== undefined ? { result: session.result } : {}),
    ...(session.error !== null ? { error: session.error } : {}),
    metadata: session.metadata,
    sessiond: { session, checkpoints } satisfies SessiondExtras as unknown as JsonObject,
  };
}

// ---- activity (seed 000) ------------------------------------------------------------------------

/** The files of one session in seed 000's activity layout: meta.json and its execs, in order. */
export interface ActivityFiles {
  /** `YYYY-MM-DD` of the session's creation (UTC): the folder it goes in. */
  day: string;
  meta: JsonObject;
  execs: JsonObject[];
}

/** A session as seed 000's activity files: `{id, mode, server, state, startedAt…}` and one file per exec event. */
export function toActivity(session: Session, events: readonly SessionEvent[], checkpoints: readonly Checkpoint[]): ActivityFiles {
  const execs = events.filter((e) => e.type === "exec");
  const others = events.filter((e) => e.type !== "exec");
  return {
    day: session.created_at.slice(0, 10),
    meta: {
      id: session.id,
      mode: session.kind,
      server: session.server,
      state: { status: session.status, cwd: (session.runtime_metadata as JsonObject).cwd ?? null },
      startedAt: session.started_at,
      ...(session.ended_at ? { endedAt: session.ended_at } : {}),
      execs: execs.length,
      sessiond: { session, checkpoints, events: others } as unknown as JsonObject,
    },
    execs: execs.map((e) => ({ ...e.data, seq: e.seq, ts: e.ts })),
  };
}

/** `01-exec.json`, `02-exec.json`… (two digits at least, more when there are more execs). */
export function execFileName(index: number, total: number): string {
  return `${String(index + 1).padStart(Math.max(2, String(total).length), "0")}-exec.json`;
}
