/**
 * The two file layouts sessions move in and out of, as pure conversions (no I/O):
 *
 * - `sessions` — seed 004's `sessions/<id>/session.json` (its AgentSession: camelCase fields and a
 *   `history` of `{timestamp, type, data}`), plus a `sessiond` member with what seed 004 has no
 *   field for (kind, name, labels, every event's seq, checkpoints), so an export imports back exactly.
 * - `activity` — seed 000's audit trail `data/activity/YYYY-MM-DD/session_<id>/meta.json` with
 *   `01-exec.json`, `02-exec.json`… (one exec result each, in order); meta.json carries the
 *   session record and its other events under `sessiond`.
 *
 * Files written by other programs have only the seed's fields; what they lack gets defaults.
 */
import type { Checkpoint, JsonObject, Session, SessionEvent } from "../../sdk/client/index.js";

/** One session as POST /import/sessions takes it. */
export interface ImportBody {
  session: Record<string, unknown> & { id: string; created_at: string };
  events: SessionEvent[];
  checkpoints?: Omit<Checkpoint, "session_id">[];
}

/** What an export keeps beside the seed's own fields. */
interface SessiondExtras {
  session: Session;
  checkpoints: readonly Checkpoint[];
}

const SEED004_STATUSES = new Set(["active", "paused", "completed", "failed", "timeout"]);
const TERMINAL = new Set(["completed", "failed", "timeout"]);

/** The fields of a session record that an import sends back (the rest the server derives). */
const KEPT = [
  "id", "name", "kind", "type", "mode", "agent_id", "user_id", "channel_id", "labels", "task", "workspace",
  "max_iterations", "context", "checkpoint", "runtime_backend", "runtime_metadata", "server", "metadata",
  "status", "iterations", "result", "error", "parent", "created_at", "updated_at", "started_at", "ended_at", "version",
  "participants",
] as const;

function kept(session: Session): ImportBody["session"] {
  const out: Record<string, unknown> = {};
  for (const key of KEPT) out[key] = session[key];
  return out as ImportBody["session"];
}

function withoutSessionId(c: Checkpoint): Omit<Checkpoint, "session_id"> {
  const { session_id: _, ...rest } = c;
  return rest;
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

/**
 * A seed 004 session.json as an import. Our own exports come back exactly (from `sessiond`);
 * seed 004's files map camelCase to our fields, `history` to events 1, 2, 3…, and a terminal
 * status ends at `updatedAt`.
 * @throws Error saying which field is missing or wrong
 */
export function fromSeed004(file: unknown): ImportBody {
  const f = object(file, "session.json");
  const history = Array.isArray(f.history) ? f.history : f.history === undefined ? [] : fail("history must be an array");
  const events: SessionEvent[] = history.map((h, i) => {
    const e = object(h, `history[${i}]`);
    const seq = typeof e.seq === "number" ? e.seq : i + 1;
    return { seq, ts: text(e.timestamp, `history[${i}].timestamp`), type: text(e.type, `history[${i}].type`), data: (e.data ?? {}) as JsonObject };
  });
  const extras = f.sessiond as SessiondExtras | undefined;
  if (extras && typeof extras === "object" && extras.session) {
    return { session: kept(extras.session), events, checkpoints: (extras.checkpoints ?? []).map(withoutSessionId) };
  }
  const id = text(f.id, "id");
  const status = typeof f.status === "string" && SEED004_STATUSES.has(f.status) ? f.status : fail(`status ${JSON.stringify(f.status)} is not one of ${[...SEED004_STATUSES].join(", ")}`);
  const createdAt = text(f.createdAt, "createdAt");
  const updatedAt = typeof f.updatedAt === "string" ? f.updatedAt : createdAt;
  const session: ImportBody["session"] = {
    id,
    kind: "agent",
    status,
    created_at: createdAt,
    updated_at: updatedAt,
    started_at: createdAt,
    ended_at: TERMINAL.has(status) ? updatedAt : null,
    iterations: typeof f.iterations === "number" ? f.iterations : 0,
    ...(typeof f.maxIterations === "number" ? { max_iterations: f.maxIterations } : {}),
    ...(typeof f.mode === "string" ? { mode: f.mode } : {}),
    ...(typeof f.task === "string" ? { task: f.task } : {}),
    ...(typeof f.workspace === "string" ? { workspace: f.workspace } : {}),
    ...(typeof f.userId === "string" ? { user_id: f.userId } : {}),
    ...(typeof f.channelId === "string" ? { channel_id: f.channelId } : {}),
    ...(isObject(f.context) ? { context: f.context } : {}),
    ...(isObject(f.metadata) ? { metadata: f.metadata } : {}),
    ...(f.result !== undefined ? { result: f.result } : {}),
    ...(typeof f.error === "string" ? { error: f.error } : {}),
  };
  return { session, events };
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

/**
 * Seed 000's activity files as an import. Our own exports come back exactly; other meta.json
 * files give the session (mode → kind, startedAt → created_at) and each NN-exec.json an `exec`
 * event after a `start` event.
 * @throws Error saying which file or field is wrong
 */
export function fromActivity(metaFile: unknown, execFiles: readonly unknown[]): ImportBody {
  const meta = object(metaFile, "meta.json");
  const execs = execFiles.map((x, i) => object(x, `exec file ${i + 1}`));
  const extras = meta.sessiond as (SessiondExtras & { events?: SessionEvent[] }) | undefined;
  if (extras && typeof extras === "object" && extras.session) {
    const execEvents = execs.map((x, i) => {
      const { seq, ts, ...data } = x;
      if (typeof seq !== "number" || typeof ts !== "string") fail(`exec file ${i + 1} has no seq or ts`);
      return { seq: seq as number, ts: ts as string, type: "exec", data: data as JsonObject };
    });
    const events = [...(extras.events ?? []), ...execEvents].sort((a, b) => a.seq - b.seq);
    return { session: kept(extras.session), events, checkpoints: (extras.checkpoints ?? []).map(withoutSessionId) };
  }
  const id = text(meta.id, "meta.json id");
  const startedAt = text(meta.startedAt ?? meta.started_at, "meta.json startedAt");
  const mode = typeof meta.mode === "string" ? meta.mode : "shell";
  const kind = ["shell", "python", "typescript", "llm"].includes(mode) ? mode : "shell";
  const events: SessionEvent[] = [{ seq: 1, ts: startedAt, type: "start", data: { kind, imported_from: "activity" } }];
  execs.forEach((x, i) => {
    const ts = typeof x.started_at === "string" ? x.started_at : typeof x.ts === "string" ? x.ts : startedAt;
    const { seq: _seq, ts: _ts, ...data } = x;
    events.push({ seq: i + 2, ts, type: "exec", data: data as JsonObject });
  });
  const endedAt = typeof meta.endedAt === "string" ? meta.endedAt : typeof meta.stoppedAt === "string" ? meta.stoppedAt : null;
  return {
    session: {
      id,
      kind,
      ...(typeof meta.server === "string" ? { server: meta.server } : {}),
      status: endedAt ? "completed" : "crashed",
      created_at: startedAt,
      started_at: startedAt,
      updated_at: endedAt ?? events.at(-1)!.ts,
      ended_at: endedAt,
      ...(isObject(meta.state) ? { runtime_metadata: meta.state } : {}),
    },
    events,
  };
}

function isObject(v: unknown): v is JsonObject {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

function object(v: unknown, what: string): JsonObject {
  return isObject(v) ? v : fail(`${what} must hold a JSON object`);
}

function text(v: unknown, what: string): string {
  return typeof v === "string" && v.length > 0 ? v : fail(`${what} is missing or not a string`);
}

function fail(message: string): never {
  throw new Error(message);
}
