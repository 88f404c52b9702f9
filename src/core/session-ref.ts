import { isValidName } from "./ids.js";
import type { Session } from "./session.js";

/**
 * How callers address a session: by id, by name, or by `agent_id/name`.
 *
 * Names are unique per agent_id: two agents may each have a session called `build`. Sessions
 * without an agent_id (null or "") share one namespace of their own. So `agent_id/name` names at
 * most one session, while a bare name may be held in several namespaces (see docs/api.md#names).
 */

/** The namespace a session's name is unique in: its agent_id, or "" when it has none. */
export function nameNamespace(agentId: string | null | undefined): string {
  return agentId ?? "";
}

/** The parts of an `agent_id/name` reference. */
export interface QualifiedName {
  /** The agent_id ("" for the sessions without one). */
  readonly namespace: string;
  readonly name: string;
}

/**
 * Splits an `agent_id/name` reference at its last '/' (a name holds none; an agent_id may). An
 * empty agent_id part (`/build`) means the sessions without an agent_id.
 * @returns undefined when `ref` has no '/' (an id or a bare name), or when the part after it is
 *   not a well-formed name (no session can hold it)
 * @example
 * parseQualifiedName("agent-7/build") // { namespace: "agent-7", name: "build" }
 */
export function parseQualifiedName(ref: string): QualifiedName | undefined {
  const slash = ref.lastIndexOf("/");
  if (slash === -1) return undefined;
  const name = ref.slice(slash + 1);
  return isValidName(name) ? { namespace: ref.slice(0, slash), name } : undefined;
}

/** True when `ref` is written as `agent_id/name` (ids and names hold no '/'). */
export function isQualifiedRef(ref: string): boolean {
  return ref.includes("/");
}

/** The `agent_id/name` reference of a session (`/name` when it has no agent_id). */
export function qualifiedName(session: Pick<Session, "agent_id" | "name">): string {
  return `${nameNamespace(session.agent_id)}/${session.name}`;
}
