import type { Page, PageRequest } from "../../core/session.js";
import { headerValue } from "./wire.js";
import type { Transport } from "./transport.js";

/** Seed 004's webhook events. */
export type WebhookEventName = "start" | "pause" | "resume" | "complete" | "error" | "timeout";

/** A registration as the API shows it: the secret is never returned, only whether there is one. */
export interface Webhook {
  id: string;
  url: string;
  /** The events it gets; empty means all. */
  events: WebhookEventName[];
  has_secret: boolean;
  created_at: string;
}

/** What POST /webhooks takes. */
export interface NewWebhook {
  url: string;
  /** Events to deliver; empty or absent means all six. */
  events?: WebhookEventName[];
  /** Signs each delivery: `X-Sessiond-Signature: sha256=HMAC(secret, "<timestamp>.<body>")`. */
  secret?: string;
}

/** One delivery of one event to one webhook, with its attempts so far. */
export interface WebhookDelivery {
  id: string;
  webhook_id: string;
  event: WebhookEventName;
  session_id: string;
  seq: number;
  status: "pending" | "delivered" | "failed";
  attempts: number;
  last_status_code: number | null;
  last_error: string | null;
  next_attempt_at: string | null;
  created_at: string;
  delivered_at: string | null;
  /** The exact JSON body sent (and signed) on every attempt. */
  body: string;
}

/**
 * `/webhooks` (admin only): register, list, read and delete webhooks, and read each one's
 * delivery log.
 *
 * @example
 * const hook = await client.webhooks.create({ url: "https://ci.example.com/hooks", events: ["complete", "error"], secret: "s3cret" });
 * for await (const d of client.webhooks.iterateDeliveries(hook.id)) console.log(d.status, d.attempts);
 */
export class WebhooksClient {
  constructor(private readonly transport: Transport) {}

  /**
   * POST /webhooks → the registration (201).
   * @throws validation naming `url` (not http(s), credentials in it, or a private or local target
   *   the server's `webhookAllowHosts` does not list) or `events`
   */
  async create(input: NewWebhook): Promise<Webhook> {
    return (await this.transport.request<Webhook>({ method: "POST", path: "/webhooks/", body: input })).body;
  }

  /** GET /webhooks: the stored registrations (not the config file's). */
  async list(): Promise<Webhook[]> {
    return (await this.transport.request<Webhook[]>({ method: "GET", path: "/webhooks/" })).body;
  }

  /** GET /webhooks/{id}. @throws not_found */
  async get(id: string): Promise<Webhook> {
    return (await this.transport.request<Webhook>({ method: "GET", path: webhookPath(id) })).body;
  }

  /** DELETE /webhooks/{id}; its pending deliveries are given up. @throws not_found */
  async delete(id: string): Promise<void> {
    await this.transport.request({ method: "DELETE", path: webhookPath(id) });
  }

  /** GET /webhooks/{id}/deliveries: one page, newest first. @throws not_found for an unknown webhook */
  async deliveries(id: string, page: PageRequest = {}): Promise<Page<WebhookDelivery>> {
    const reply = await this.transport.request<WebhookDelivery[]>({ method: "GET", path: `${webhookPath(id)}/deliveries`, query: { limit: page.limit, cursor: page.cursor } });
    return { items: reply.body, next_cursor: headerValue(reply.headers, "x-next-cursor") || null };
  }

  /** Every delivery of the webhook, newest first, following the cursors. */
  async *iterateDeliveries(id: string, pageSize?: number): AsyncGenerator<WebhookDelivery> {
    let cursor: string | undefined;
    do {
      const page = await this.deliveries(id, { ...(pageSize ? { limit: pageSize } : {}), ...(cursor ? { cursor } : {}) });
      yield* page.items;
      cursor = page.next_cursor ?? undefined;
    } while (cursor);
  }
}

function webhookPath(id: string): string {
  return `/webhooks/${encodeURIComponent(id)}`;
}
