import { createHash } from "node:crypto";
import type { Config } from "../../core/index.js";
import type { Store, WebhookRecord } from "../../store/store.js";

/** A webhook to deliver to: a stored registration (API, `configureWebhook`) or one from config. */
export interface WebhookRegistration {
  readonly id: string;
  readonly url: string;
  /** Seed 004 event names; empty means all. */
  readonly events: readonly string[];
  readonly secret: string | null;
  readonly source: "store" | "config";
}

/**
 * The registrations of the config's `webhooks`. Each gets a stable id derived from its URL and
 * event filter (`config-<16 hex>`), so its delivery log and pending retries carry over a restart;
 * the secret is left out of the id so that rotating it keeps them too.
 */
export function configRegistrations(webhooks: Config["webhooks"]): WebhookRegistration[] {
  const byId = new Map<string, WebhookRegistration>();
  for (const w of webhooks) {
    const events = [...new Set(w.events ?? [])].sort();
    const id = `config-${createHash("sha256").update(`${w.url}\n${events.join(",")}`).digest("hex").slice(0, 16)}`;
    byId.set(id, { id, url: w.url, events, secret: w.secret ?? null, source: "config" });
  }
  return [...byId.values()];
}

/** Whether a registration wants an event (an empty filter wants all). */
export function wants(registration: Pick<WebhookRegistration, "events">, event: string): boolean {
  return registration.events.length === 0 || registration.events.includes(event);
}

/**
 * Every registration now, by id: the config's and the store's. Read afresh each time it is needed,
 * so a webhook registered by another process on the same store (seed 004's `configureWebhook`)
 * counts from its next event on.
 */
export async function currentRegistrations(
  store: Pick<Store, "listWebhooks">,
  fromConfig: readonly WebhookRegistration[],
): Promise<Map<string, WebhookRegistration>> {
  const stored = (await store.listWebhooks()).map(fromRecord);
  return new Map([...fromConfig, ...stored].map((r) => [r.id, r]));
}

function fromRecord(w: WebhookRecord): WebhookRegistration {
  return { id: w.id, url: w.url, events: w.events, secret: w.secret, source: "store" };
}
