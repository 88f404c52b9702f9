import { type Config, type Session, SessiondError } from "../../core/index.js";
import { type Principal, canSee } from "./principal.js";

/**
 * What a principal may read of a session it can see, beyond the session record itself. Two rules,
 * each one function that every route calls (docs/api.md, "What a token may read"):
 *
 * - a live session's saved environment (`runtime_metadata.env`) — {@link seesSavedEnv};
 * - a live session's exec input and output — {@link mayReadExecIo}.
 */

/**
 * Whether the principal sees `runtime_metadata.env` (the environment kept for recovery, which may
 * hold what a command exported). Admin only — the admin token and the Unix socket; agent and
 * reader tokens get every session without it. Applied where sessions are serialized for the
 * wire (`sessionJson`), so it holds on every route that answers a session.
 */
export function seesSavedEnv(principal: Principal): boolean {
  return principal.role === "admin";
}

/**
 * Whether the principal may read the exec input and output of a session: the `input`, `stdout`
 * and `stderr` of its `exec` events and exec results, its streamed output, its terminal (attach),
 * and an llm session's conversation (the content of its `message` events). Commands and their
 * output are where secrets show up (a `curl -H "Authorization: …"`, an `env` listing).
 *
 * - admin (and the Unix socket): every session;
 * - agent: the sessions it can see, which are its own (agent_id/user_id);
 * - reader: only when config `execRoles` lists `"reader"` (the operator opened live sessions to
 *   readers); otherwise readers see those events with the input and output cut out.
 *
 * Roles in `execRoles` always pass (a role allowed to run commands may read what they print).
 */
export function mayReadExecIo(config: Pick<Config, "execRoles">, principal: Principal, owner: Pick<Session, "agent_id" | "user_id">): boolean {
  if (!canSee(principal, owner)) return false;
  if (principal.role === "reader") return config.execRoles.includes("reader");
  return true;
}

/**
 * @throws forbidden unless {@link mayReadExecIo}; `what` names what was asked for
 */
export function assertMayReadExecIo(config: Pick<Config, "execRoles">, principal: Principal, owner: Pick<Session, "agent_id" | "user_id">, what: string): void {
  if (!mayReadExecIo(config, principal, owner)) {
    throw new SessiondError("forbidden", { reason: `${what} shows a live session's input and output, which a ${principal.role} token may not read (config execRoles)` });
  }
}
