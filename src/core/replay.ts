import { applyMergePatch } from "./merge-patch.js";
import type { JsonObject, SessionStatus } from "./session.js";
import type { SessionEvent, SessionState } from "./events.js";

/** Statuses that the lifecycle event types move a session into. */
const STATUS_AFTER: Partial<Record<string, SessionStatus>> = {
  start: "active",
  pause: "paused",
  resume: "active",
  recover: "active",
  complete: "completed",
  error: "failed",
  timeout: "timeout",
  crash: "crashed",
};

/** Event types that change a session's state; only the engine records them (addEvent refuses them). */
export const STATE_EVENT_TYPES: readonly string[] = [...Object.keys(STATUS_AFTER), "iteration", "context_update", "restore", "checkpoint"];

/**
 * Folds one event into a session state: the rule that makes "state at seq N" computable from
 * the nearest checkpoint plus the events after it. The engine writes every state-changing event
 * so that this fold reproduces what it did.
 */
export function applyEvent(state: SessionState, event: SessionEvent): SessionState {
  const data = event.data;
  switch (event.type) {
    case "start":
      return { context: (data.context as JsonObject | undefined) ?? state.context, status: "active", iterations: 0 };
    case "iteration":
      return { ...state, iterations: state.iterations + 1 };
    case "context_update":
      if (data.context !== undefined) return { ...state, context: data.context as JsonObject };
      return { ...state, context: applyMergePatch(state.context, data.patch) as JsonObject };
    case "restore":
      return data.state as SessionState;
    default: {
      const status = STATUS_AFTER[event.type];
      return status ? { ...state, status } : state;
    }
  }
}
