import { errors } from "./errors.js";
import type { SessionStatus } from "./session.js";

/**
 * The status machine (DESIGN.md §3):
 *
 *   active ⇄ paused
 *   active | paused → completed | failed | timeout
 *   active | paused → crashed → active (recovery)
 *   crashed → failed (give up on recovery)
 *   timeout → paused (held for review, as seed 004's "handle timeouts" example does)
 *
 * completed, failed and timeout are terminal: nothing but the review pause leaves them.
 */
const TRANSITIONS: Readonly<Record<SessionStatus, readonly SessionStatus[]>> = {
  active: ["paused", "completed", "failed", "timeout", "crashed"],
  paused: ["active", "completed", "failed", "timeout", "crashed"],
  crashed: ["active", "failed"],
  timeout: ["paused"],
  completed: [],
  failed: [],
};

/** Statuses a session does not leave on its own; cleanup removes only these. */
export const TERMINAL_STATUSES: readonly SessionStatus[] = ["completed", "failed", "timeout"];

export function isTerminal(status: SessionStatus): boolean {
  return TERMINAL_STATUSES.includes(status);
}

/**
 * What to do about a session that is not active, for a refusal's hint: a paused one is resumed, a
 * crashed one recovered; an ended one is not brought back (a live process may also be hibernated
 * or being stopped).
 */
export function notActiveHint(status: SessionStatus | "hibernated" | "stopping"): string {
  switch (status) {
    case "paused":
      return "resume it first";
    case "crashed":
      return "recover it first";
    case "hibernated":
      return "it is hibernated: its next exec wakes it";
    case "stopping":
      return "it is being stopped";
    default:
      return "it has ended; start a new session";
  }
}

export function canTransition(from: SessionStatus, to: SessionStatus): boolean {
  return TRANSITIONS[from].includes(to);
}

/** The event type recorded for a move into `to` (from `from`). */
export function transitionEventType(from: SessionStatus, to: SessionStatus): string {
  switch (to) {
    case "active":
      return from === "crashed" ? "recover" : "resume";
    case "paused":
      return "pause";
    case "completed":
      return "complete";
    case "failed":
      return "error";
    case "timeout":
      return "timeout";
    case "crashed":
      return "crash";
  }
}

/** The verb for a move into `to`, as used in messages and action routes. */
export function transitionAction(from: SessionStatus, to: SessionStatus): string {
  const type = transitionEventType(from, to);
  return type === "error" ? "fail" : type;
}

/** Throws invalid_transition, naming both states, unless `from → to` is allowed. */
export function assertTransition(from: SessionStatus, to: SessionStatus): void {
  if (!canTransition(from, to)) throw errors.invalidTransition(transitionAction(from, to), from, to);
}
