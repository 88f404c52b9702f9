import type pg from "pg";
import { parseJson } from "../../core/index.js";
import type { Store, WebhookDelivery, WebhookRecord } from "../store.js";
import { changes, rows } from "./db.js";

/** Webhook registrations and the delivery log of the Store contract. */
export type WebhookTables = Pick<
  Store,
  | "putWebhook"
  | "listWebhooks"
  | "deleteWebhook"
  | "putWebhookDeliveries"
  | "claimDueWebhookDeliveries"
  | "nextWebhookDeliveryAt"
  | "updateWebhookDelivery"
  | "getWebhookDelivery"
  | "listWebhookDeliveries"
  | "pruneWebhookDeliveries"
>;

/** Every field of a WebhookDelivery, each a column, with its array type for a batch insert. */
const DELIVERY_COLUMNS = [
  ["id", "text"], ["webhook_id", "text"], ["event", "text"], ["session_id", "text"], ["seq", "bigint"],
  ["status", "text"], ["attempts", "integer"], ["last_status_code", "integer"], ["last_error", "text"],
  ["next_attempt_at", "text"], ["created_at", "text"], ["delivered_at", "text"], ["body", "text"],
] as const satisfies readonly (readonly [keyof WebhookDelivery, string])[];

/**
 * Whether pending delivery `d` heads its (webhook, session) queue: no earlier event of its
 * session is still pending for its webhook (in flight, backing off, or not yet tried). The probe
 * runs on the (webhook_id, session_id, seq) unique index.
 */
const HEAD_OF_QUEUE = `NOT EXISTS (SELECT 1 FROM webhook_deliveries e WHERE e.webhook_id = d.webhook_id
  AND e.session_id = d.session_id AND e.seq < d.seq AND e.status = 'pending')`;

/** Webhook registrations and deliveries over `pool`; a claim leases rows with one UPDATE. */
export function webhookTables(pool: pg.Pool): WebhookTables {
  return {
    async putWebhook(w) {
      await pool.query(
        `INSERT INTO webhooks (id, url, events, secret, created_at) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (id) DO UPDATE SET url = excluded.url, events = excluded.events, secret = excluded.secret`,
        [w.id, w.url, JSON.stringify(w.events), w.secret, w.created_at],
      );
    },

    async listWebhooks() {
      const found = await rows<Omit<WebhookRecord, "events"> & { events: string }>(pool, "SELECT * FROM webhooks ORDER BY created_at, id");
      return found.map((r) => ({ ...r, events: parseJson<string[]>(r.events) }));
    },

    async deleteWebhook(id) {
      return (await changes(pool, "DELETE FROM webhooks WHERE id = $1", [id])) > 0;
    },

    async putWebhookDeliveries(deliveries) {
      if (!deliveries.length) return 0;
      // One statement for the batch: it is atomic on its own, as the SQLite store's transaction is.
      return changes(
        pool,
        `INSERT INTO webhook_deliveries (${DELIVERY_COLUMNS.map(([c]) => c).join(", ")})
         SELECT * FROM unnest(${DELIVERY_COLUMNS.map(([, type], i) => `$${i + 1}::${type}[]`).join(", ")})
         ON CONFLICT (webhook_id, session_id, seq) DO NOTHING`,
        DELIVERY_COLUMNS.map(([column]) => deliveries.map((d) => d[column])),
      );
    },

    async claimDueWebhookDeliveries(now, leaseUntil, limit) {
      // One statement, so the pick and the lease are atomic; SKIP LOCKED lets claimers on other
      // connections take other rows instead of waiting. Only the head of each (webhook, session)
      // queue may be picked, so one session's deliveries go out in seq order: a claimer that sees
      // the head still pending (even leased by another) leaves the rest of that queue alone.
      // RETURNING has no order, hence the sort.
      const claimed = await rows<WebhookDelivery>(
        pool,
        `UPDATE webhook_deliveries SET next_attempt_at = $1
         WHERE id IN (SELECT d.id FROM webhook_deliveries d WHERE d.status = 'pending' AND d.next_attempt_at <= $2 AND ${HEAD_OF_QUEUE}
                      ORDER BY d.next_attempt_at, d.id LIMIT $3 FOR UPDATE OF d SKIP LOCKED)
         RETURNING *`,
        [leaseUntil, now, limit],
      );
      return claimed.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    },

    async nextWebhookDeliveryAt() {
      const [row] = await rows<{ at: string }>(
        pool,
        `SELECT d.next_attempt_at AS at FROM webhook_deliveries d WHERE d.status = 'pending' AND ${HEAD_OF_QUEUE}
         ORDER BY d.next_attempt_at LIMIT 1`,
      );
      return row?.at;
    },

    async updateWebhookDelivery(u) {
      await pool.query(
        `UPDATE webhook_deliveries SET status = $2, attempts = $3, last_status_code = $4, last_error = $5, next_attempt_at = $6,
         delivered_at = $7 WHERE id = $1`,
        [u.id, u.status, u.attempts, u.last_status_code, u.last_error, u.next_attempt_at, u.delivered_at],
      );
    },

    async getWebhookDelivery(id) {
      return (await rows<WebhookDelivery>(pool, "SELECT * FROM webhook_deliveries WHERE id = $1", [id]))[0];
    },

    async listWebhookDeliveries(webhookId, page) {
      // The cursor is the id of the last delivery of the previous page (ids sort by creation).
      const found = await rows<WebhookDelivery>(
        pool,
        "SELECT * FROM webhook_deliveries WHERE webhook_id = $1 AND ($2::text IS NULL OR id < $2) ORDER BY id DESC LIMIT $3",
        [webhookId, page.cursor ?? null, page.limit + 1],
      );
      const more = found.length > page.limit;
      const items = more ? found.slice(0, page.limit) : found;
      return { items, next_cursor: more ? items.at(-1)!.id : null };
    },

    async pruneWebhookDeliveries(createdBefore) {
      return changes(pool, "DELETE FROM webhook_deliveries WHERE status <> 'pending' AND created_at < $1", [createdBefore]);
    },
  };
}
