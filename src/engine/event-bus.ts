import type { Checkpoint, Session, SessionEvent } from "../core/index.js";

/**
 * A change the engine has committed. Published only after the write is durable, in commit
 * order, so a subscriber never sees something a crash could take back.
 */
export type SessionChange =
  | { readonly type: "session.created"; readonly session: Session }
  | {
      readonly type: "session.updated";
      readonly session: Session;
      /** The record fields this change set (seed 003's `updates`). */
      readonly updates: readonly string[];
      /** The session as it was before the change (a rename's old name, say). */
      readonly previous: Session;
    }
  | { readonly type: "session.deleted"; readonly session: Session }
  | { readonly type: "event.appended"; readonly session: Session; readonly event: SessionEvent }
  | { readonly type: "checkpoint.created"; readonly session: Session; readonly checkpoint: Checkpoint };

export type ChangeListener = (change: SessionChange) => void;

/**
 * The in-process event bus every surface hangs on (streams, Redis, webhooks). Listeners run
 * synchronously in publish order and must not block; one that throws is reported to
 * `onListenerError` and the others still run.
 */
export class EventBus {
  private readonly listeners = new Set<ChangeListener>();

  constructor(private readonly onListenerError: (err: unknown, change: SessionChange) => void = reportToProcess) {}

  /** @returns a function that unsubscribes */
  subscribe(listener: ChangeListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  get listenerCount(): number {
    return this.listeners.size;
  }

  publish(change: SessionChange): void {
    for (const listener of this.listeners) {
      try {
        listener(change);
      } catch (err) {
        this.onListenerError(err, change);
      }
    }
  }
}

function reportToProcess(err: unknown, change: SessionChange): void {
  process.emitWarning(`an event-bus listener failed on ${change.type}: ${String(err)}`, "SessiondListenerWarning");
}
