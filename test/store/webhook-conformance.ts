import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { newId } from "../../src/core/index.js";
import type { Store, WebhookDelivery } from "../../src/store/store.js";

/** Opens a fresh, empty store; `close` is called after each test. */
export type WebhookStoreFactory = () => Promise<Store>;

/**
 * The webhook delivery log part of the Store contract, through the interface only: every backend
 * runs it unchanged (`runWebhookDeliveryConformance("sqlite", () => …)`).
 */
export function runWebhookDeliveryConformance(name: string, open: WebhookStoreFactory): void {
  describe(`Store conformance, webhook deliveries: ${name}`, () => {
    let store: Store;
    const at = (second: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, second)).toISOString();

    const delivery = (fields: Partial<WebhookDelivery> = {}): WebhookDelivery => ({
      id: newId(),
      webhook_id: "w1",
      event: "start",
      session_id: "s1",
      seq: 1,
      status: "pending",
      attempts: 0,
      last_status_code: null,
      last_error: null,
      next_attempt_at: at(0),
      created_at: at(0),
      delivered_at: null,
      body: '{"event":"start"}',
      ...fields,
    });

    beforeEach(async () => {
      store = await open();
    });
    afterEach(async () => {
      await store.close();
    });

    it("round-trips every field of a delivery", async () => {
      const d = delivery({ attempts: 2, last_status_code: 500, last_error: "HTTP 500", body: '{"x":"héllo ✓"}' });
      expect(await store.putWebhookDeliveries([d])).toBe(1);
      expect(await store.getWebhookDelivery(d.id)).toEqual(d);
      expect(await store.getWebhookDelivery("nope")).toBeUndefined();
    });

    it("records a delivery once per webhook and session event, skipping repeats", async () => {
      const first = delivery();
      expect(await store.putWebhookDeliveries([first, delivery({ webhook_id: "w2" }), delivery({ seq: 2 })])).toBe(3);
      expect(await store.putWebhookDeliveries([delivery(), delivery({ seq: 3 })])).toBe(1);
      const page = await store.listWebhookDeliveries("w1", { limit: 10 });
      expect(page.items.map((d) => d.seq).sort()).toEqual([1, 2, 3]);
      expect(page.items.find((d) => d.seq === 1)?.id).toBe(first.id);
    });

    it("claims due pending deliveries soonest first and leases them until the given time", async () => {
      const late = delivery({ session_id: "s1", next_attempt_at: at(30) });
      const soon = delivery({ session_id: "s2", next_attempt_at: at(5) });
      const sooner = delivery({ session_id: "s3", next_attempt_at: at(1) });
      const done = delivery({ session_id: "s4", status: "delivered", next_attempt_at: null });
      await store.putWebhookDeliveries([late, soon, sooner, done]);

      const claimed = await store.claimDueWebhookDeliveries(at(10), at(100), 1);
      expect(claimed.map((d) => d.id)).toEqual([sooner.id]);
      expect(claimed[0]?.next_attempt_at).toBe(at(100));

      const rest = await store.claimDueWebhookDeliveries(at(10), at(100), 10);
      expect(rest.map((d) => d.id)).toEqual([soon.id]);
      expect(await store.claimDueWebhookDeliveries(at(10), at(100), 10)).toEqual([]);
      expect(await store.nextWebhookDeliveryAt()).toBe(at(30));
    });

    it("claims only the earliest pending event of a session per webhook, while other sessions and webhooks go ahead", async () => {
      const first = delivery({ seq: 1, next_attempt_at: at(5) });
      const second = delivery({ seq: 2, next_attempt_at: at(1) });
      const third = delivery({ seq: 3, next_attempt_at: at(1) });
      const otherSession = delivery({ session_id: "s2", seq: 2, next_attempt_at: at(2) });
      const otherWebhook = delivery({ webhook_id: "w2", seq: 2, next_attempt_at: at(3) });
      await store.putWebhookDeliveries([third, second, first, otherSession, otherWebhook]);

      const claimed = await store.claimDueWebhookDeliveries(at(10), at(100), 10);
      expect(claimed.map((d) => d.id).sort()).toEqual([first.id, otherSession.id, otherWebhook.id].sort());
      // The first is in flight: the session's later events wait behind it.
      expect(await store.claimDueWebhookDeliveries(at(10), at(100), 10)).toEqual([]);
      expect(await store.nextWebhookDeliveryAt()).toBe(at(100));

      await store.updateWebhookDelivery({ ...first, status: "delivered", attempts: 1, next_attempt_at: null, delivered_at: at(10) });
      expect((await store.claimDueWebhookDeliveries(at(10), at(100), 10)).map((d) => d.id)).toEqual([second.id]);
      // Failed for good also lets the next one go.
      await store.updateWebhookDelivery({ ...second, status: "failed", attempts: 3, next_attempt_at: null, last_error: "HTTP 500" });
      expect((await store.claimDueWebhookDeliveries(at(10), at(100), 10)).map((d) => d.id)).toEqual([third.id]);
    });

    it("holds a session's later events behind an earlier one backing off, and says when that one is due", async () => {
      const first = delivery({ seq: 1 });
      const second = delivery({ seq: 2 });
      await store.putWebhookDeliveries([first, second]);
      await store.claimDueWebhookDeliveries(at(0), at(20), 10);
      await store.updateWebhookDelivery({ ...first, attempts: 1, last_status_code: 503, last_error: "HTTP 503", next_attempt_at: at(40) });

      expect(await store.claimDueWebhookDeliveries(at(30), at(60), 10)).toEqual([]);
      expect(await store.nextWebhookDeliveryAt()).toBe(at(40));
      expect((await store.claimDueWebhookDeliveries(at(40), at(60), 10)).map((d) => d.id)).toEqual([first.id]);
    });

    it("makes a claimed delivery due again once its lease runs out", async () => {
      const d = delivery();
      await store.putWebhookDeliveries([d]);
      await store.claimDueWebhookDeliveries(at(0), at(20), 5);
      expect(await store.claimDueWebhookDeliveries(at(19), at(40), 5)).toEqual([]);
      expect((await store.claimDueWebhookDeliveries(at(20), at(40), 5)).map((x) => x.id)).toEqual([d.id]);
    });

    it("records an attempt's outcome, and a finished delivery is no longer due", async () => {
      const d = delivery();
      await store.putWebhookDeliveries([d]);
      const retry = { id: d.id, status: "pending", attempts: 1, last_status_code: 503, last_error: "HTTP 503", next_attempt_at: at(9), delivered_at: null } as const;
      await store.updateWebhookDelivery(retry);
      expect(await store.getWebhookDelivery(d.id)).toEqual({ ...d, ...retry });
      expect(await store.nextWebhookDeliveryAt()).toBe(at(9));

      await store.updateWebhookDelivery({ ...retry, status: "delivered", attempts: 2, last_status_code: 200, last_error: null, next_attempt_at: null, delivered_at: at(9) });
      expect(await store.getWebhookDelivery(d.id)).toMatchObject({ status: "delivered", attempts: 2, delivered_at: at(9) });
      expect(await store.nextWebhookDeliveryAt()).toBeUndefined();
      expect(await store.claimDueWebhookDeliveries(at(60), at(100), 5)).toEqual([]);
    });

    it("lists one webhook's deliveries newest first, page by page", async () => {
      const ours = Array.from({ length: 5 }, (_, i) => delivery({ seq: i + 1 }));
      await store.putWebhookDeliveries([...ours, delivery({ webhook_id: "other" })]);
      const first = await store.listWebhookDeliveries("w1", { limit: 2 });
      expect(first.items.map((d) => d.seq)).toEqual([5, 4]);
      const second = await store.listWebhookDeliveries("w1", { limit: 2, cursor: first.next_cursor! });
      expect(second.items.map((d) => d.seq)).toEqual([3, 2]);
      const last = await store.listWebhookDeliveries("w1", { limit: 2, cursor: second.next_cursor! });
      expect(last).toEqual({ items: [ours[0]], next_cursor: null });
      expect((await store.listWebhookDeliveries("nobody", { limit: 2 })).items).toEqual([]);
    });

    it("prunes finished deliveries older than the cutoff and keeps pending ones", async () => {
      const oldDone = delivery({ seq: 1, status: "delivered", created_at: at(1), next_attempt_at: null });
      const oldFailed = delivery({ seq: 2, status: "failed", created_at: at(1), next_attempt_at: null });
      const oldPending = delivery({ seq: 3, created_at: at(1) });
      const newDone = delivery({ seq: 4, status: "delivered", created_at: at(50), next_attempt_at: null });
      await store.putWebhookDeliveries([oldDone, oldFailed, oldPending, newDone]);
      expect(await store.pruneWebhookDeliveries(at(10))).toBe(2);
      const left = (await store.listWebhookDeliveries("w1", { limit: 10 })).items.map((d) => d.id);
      expect(left.sort()).toEqual([oldPending.id, newDone.id].sort());
    });
  });
}
