import type { Session, SessionEvent, SessionStatus } from "../../core/index.js";

/** The session events seed 004 delivers to webhooks, named as the session's event types. */
export const WEBHOOK_EVENTS = ["start", "pause", "resume", "complete", "error", "timeout"] as const;
export type WebhookEvent = (typeof WEBHOOK_EVENTS)[number];

const EVENT_SET: ReadonlySet<string> = new Set(WEBHOOK_EVENTS);

export function isWebhookEvent(type: string): type is WebhookEvent {
  return EVENT_SET.has(type);
}

/** The JSON body of a webhook delivery: seed 004's payload format, exactly. */
export interface WebhookPayload {
  readonly event: WebhookEvent;
  readonly session: {
    readonly id: string;
    readonly mode: string;
    readonly status: SessionStatus;
    readonly task: string;
    readonly userId?: string;
    readonly channelId?: string;
  };
  /** When the event happened (the session event's `ts`, ISO 8601). */
  readonly timestamp: string;
  /** The session event's data, when it has any. */
  readonly data?: Record<string, unknown>;
}

/**
 * The payload for a session event of a webhook type. `session` is the session as the committed
 * change left it; mode and task are "" when the session has none (sessions made over REST may
 * not), as seed 004's API reports them.
 */
export function webhookPayload(session: Session, event: SessionEvent & { type: WebhookEvent }): WebhookPayload {
  return {
    event: event.type,
    session: {
      id: session.id,
      mode: session.mode ?? "",
      status: session.status,
      task: session.task ?? "",
      ...(session.user_id !== null ? { userId: session.user_id } : {}),
      ...(session.channel_id !== null ? { channelId: session.channel_id } : {}),
    },
    timestamp: event.ts,
    ...(Object.keys(event.data).length ? { data: event.data } : {}),
  };
}
