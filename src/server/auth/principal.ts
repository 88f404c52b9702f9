import { type Session, type SessionFilter, SessiondError, errors } from "../../core/index.js";
import type { LookupScope } from "../../engine/index.js";

/** What a role may do: admin everything; agent its own sessions; reader GET only. */
export type Role = "admin" | "agent" | "reader";

/** Who is making a request, as established by the auth hook. */
export interface Principal {
  readonly role: Role;
  /** For logs, metrics and rate limiting; never the secret. */
  readonly name: string;
  /** An agent principal sees only sessions with this agent_id (when set)… */
  readonly agent_id?: string;
  /** …and this user_id (when set). */
  readonly user_id?: string;
}

/** The principal of Unix-socket requests and of a server with auth turned off. */
export const LOCAL_ADMIN: Principal = Object.freeze({ role: "admin", name: "local" });

/** True when the principal may see (and, role permitting, change) the session. */
export function canSee(principal: Principal, session: Pick<Session, "agent_id" | "user_id">): boolean {
  if (principal.role !== "agent") return true;
  if (principal.agent_id !== undefined && session.agent_id !== principal.agent_id) return false;
  if (principal.user_id !== undefined && session.user_id !== principal.user_id) return false;
  return true;
}

/**
 * The scope of the principal's session lookups (SessionManager.find): an agent token finds only
 * its own sessions, by id as by name, and a bare name means the one in its own agent_id's
 * namespace; admins and readers find every session.
 */
export function lookupScope(principal: Principal): LookupScope | undefined {
  return principal.role === "agent" ? principal : undefined;
}

/**
 * The session as the principal may see it; a session of someone else is reported exactly as a
 * missing one, so an agent token learns nothing about other agents' sessions.
 * @throws not_found
 */
export function visibleTo(principal: Principal, session: Session, ref: string): Session {
  if (!canSee(principal, session)) throw errors.sessionNotFound(ref);
  return session;
}

/**
 * Checks the owner fields an agent principal writes (on create or update): they may only name
 * the principal's own agent and user.
 * @throws forbidden naming the field
 */
export function assertOwnFields(principal: Principal, input: { agent_id?: string | null; user_id?: string | null }): void {
  if (principal.role !== "agent") return;
  for (const field of ["agent_id", "user_id"] as const) {
    const bound = principal[field];
    const given = input[field];
    if (bound !== undefined && given !== undefined && given !== bound) {
      throw new SessiondError("forbidden", { reason: `this token may only use ${field} ${bound}` }, { field });
    }
  }
}

/** The owner fields an agent principal's new sessions get when the body leaves them out. */
export function ownerDefaults(principal: Principal): { agent_id?: string; user_id?: string } {
  if (principal.role !== "agent") return {};
  return {
    ...(principal.agent_id !== undefined ? { agent_id: principal.agent_id } : {}),
    ...(principal.user_id !== undefined ? { user_id: principal.user_id } : {}),
  };
}

/**
 * An agent token may not choose a new session's id: ids are one space for every agent, so a
 * refused id would tell it that another agent's session has it. It is refused whether or not the
 * id is taken.
 * @throws forbidden naming `id`
 */
export function assertMayChooseId(principal: Principal, input: { id?: string }): void {
  if (principal.role === "agent" && input.id !== undefined) {
    throw new SessiondError("forbidden", { reason: "an agent token may not choose a session's id; leave id out and one is generated" }, { field: "id" });
  }
}

/**
 * `runtime_metadata` is the server's record of a session's process — its pid and start time (the
 * orphan sweep kills what they name), its sandbox uid (the owner of the files the server writes),
 * the mode options a recovery re-applies — so the server acts on what it holds: only the admin
 * writes it, on create as on update.
 * @throws forbidden naming `runtime_metadata`
 */
export function assertMayWriteRuntimeMetadata(principal: Principal, input: { runtime_metadata?: unknown }): void {
  if (principal.role !== "admin" && input.runtime_metadata !== undefined) {
    throw new SessiondError(
      "forbidden",
      { reason: "runtime_metadata is the server's record of the session's process; only an admin token may write it" },
      { field: "runtime_metadata" },
    );
  }
}

/** @throws forbidden unless the principal is an admin */
export function assertAdmin(principal: Principal, action: string): void {
  if (principal.role !== "admin") throw new SessiondError("forbidden", { reason: `${action} needs an admin token` });
}

/**
 * A list filter narrowed to what the principal may see: an agent token's own agent_id/user_id.
 * @returns undefined when the filter asks for someone else's sessions (the answer is empty)
 */
export function scopedFilter(principal: Principal, filter: SessionFilter): SessionFilter | undefined {
  if (principal.role !== "agent") return filter;
  const scoped = { ...filter };
  for (const field of ["agent_id", "user_id"] as const) {
    const bound = principal[field];
    if (bound === undefined) continue;
    if (scoped[field] !== undefined && scoped[field] !== bound) return undefined;
    scoped[field] = bound;
  }
  return scoped;
}
