import { type ParticipantInput, ownerParticipants } from "../../core/index.js";
import type { Principal } from "./principal.js";

/**
 * Who a request's principal is, as a session's participants (docs/api.md#participants):
 *
 * - an agent token is its agent (an AI) and its user (a human), as its config names them, on
 *   every write and every attach;
 * - any other principal (an admin or reader token, the Unix socket) joins only by attaching to a
 *   terminal — typing or watching is a person at work — as the human its token is named after
 *   (`admin`, `local`, or the name given in config `tokens`). Its writes add nobody: they are the
 *   operator's tools (the CLI, scripts), and would list them on every session they touch.
 */
export function principalParticipants(principal: Principal, act: "write" | "attach"): ParticipantInput[] {
  if (principal.role === "agent") return ownerParticipants(principal);
  return act === "attach" ? [{ kind: "human", id: principal.name }] : [];
}
