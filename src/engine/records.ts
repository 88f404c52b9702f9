import {
  type Config,
  type CreateSessionInput,
  type JsonObject,
  type Session,
  generateName,
  joinParticipants,
  newId,
  ownJson,
  ownerParticipants,
} from "../core/index.js";

/** The size limits a session record is held to. */
export type Limits = Pick<Config, "maxContextBytes" | "maxEventBytes">;

/**
 * A new session record from validated input, with private copies of every JSON value
 * (size-checked). Status `active`, version 1, no events yet (`last_seq` 0).
 */
export function newSessionRecord(input: CreateSessionInput, now: string, limits: Limits): Session {
  const id = input.id ?? newId();
  const kind = input.kind ?? "agent";
  return {
    id,
    name: input.name ?? generateName(id, input.mode ?? input.type ?? kind, now, input.user_id),
    kind,
    type: input.type ?? null,
    mode: input.mode ?? null,
    agent_id: input.agent_id ?? null,
    user_id: input.user_id ?? null,
    channel_id: input.channel_id ?? null,
    labels: input.labels ? ownJson(input.labels, "labels", limits.maxEventBytes) : {},
    task: input.task ?? null,
    workspace: input.workspace ?? null,
    status: "active",
    iterations: 0,
    max_iterations: input.max_iterations ?? null,
    context: ownObject(input.context, "context", limits.maxContextBytes),
    checkpoint: null,
    runtime_backend: input.runtime_backend ?? (kind === "agent" ? "unknown" : "local"),
    runtime_metadata: ownObject(input.runtime_metadata, "runtime_metadata", limits.maxEventBytes),
    server: input.server ?? "local",
    result: null,
    error: null,
    metadata: ownObject(input.metadata, "metadata", limits.maxEventBytes),
    parent: null,
    created_at: now,
    updated_at: now,
    started_at: now,
    ended_at: null,
    last_activity_at: now,
    last_seq: 0,
    version: 1,
    participants: startingParticipants(input, now),
  };
}

/** Who takes part from the start: those the input names, then its agent_id and user_id, each once. */
function startingParticipants(input: CreateSessionInput, now: string): Session["participants"] {
  return joinParticipants([], [...(input.participants ?? []), ...ownerParticipants(input)], now);
}

/** A private copy of an optional JSON object; `{}` when absent. */
export function ownObject(value: JsonObject | undefined, field: string, limitBytes: number): JsonObject {
  return value === undefined ? {} : ownJson(value, field, limitBytes);
}

/** Record fields whose change a scalars-only store update can write (see WriteOp). */
const SCALAR_FIELDS = new Set<string>(["status", "iterations", "max_iterations", "ended_at"]);

export function onlyScalars(fields: Iterable<string>): boolean {
  for (const field of fields) if (!SCALAR_FIELDS.has(field)) return false;
  return true;
}
