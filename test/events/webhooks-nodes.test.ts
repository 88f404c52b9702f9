import { Registry } from "prom-client";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type Config, newId } from "../../src/core/index.js";
import { ClusterOwnership, SessionManager } from "../../src/engine/index.js";
import { type WebhookDelivery, type WebhookRecord, type WebhookSink, startWebhooks } from "../../src/events/index.js";
import type { Store } from "../../src/store/index.js";
import { FAST_WEBHOOKS } from "../helpers/fast-webhooks.js";
import { type TestSchema, createTestSchema, openStoreIn } from "../helpers/postgres.js";
import { serviceAvailable } from "../helpers/services.js";
import { tempHome } from "../helpers/temp-home.js";
import { type Receiver, type Reply, startReceiver } from "./support/receiver.js";
import { expectNoLeakedHandles } from "./support/leaks.js";
import { waitFor } from "./support/wait.js";

const postgres = await serviceAvailable("postgres");

/** Attempts enough that no delivery gives up while a test keeps its receiver failing. */
const FAST: Partial<Config> = {
  ...FAST_WEBHOOKS,
  webhookPollIntervalMs: 50,
  webhookMaxAttempts: 1000,
  webhookDrainTimeoutMs: 0,
};

/** The value of a counter's series in a registry's text exposition, 0 when absent. */
async function counted(registry: Registry, series: string): Promise<number> {
  const line = (await registry.metrics()).split("\n").find((l) => l.startsWith(`${series} `));
  return line ? Number(line.slice(series.length + 1)) : 0;
}

describe.skipIf(!postgres)("webhooks across nodes on one PostgreSQL schema", () => {
  expectNoLeakedHandles();
  let schema: TestSchema;
  const homes: ReturnType<typeof tempHome>[] = [];
  const stores: Store[] = [];
  const managers: SessionManager[] = [];
  const sinks: WebhookSink[] = [];
  const memberships: ClusterOwnership[] = [];
  const receivers: Receiver[] = [];

  /** A node: its own store (pool) on the shared schema, an engine, and its webhook sender. */
  const node = async (options: { member?: boolean } = {}) => {
    const home = tempHome(FAST);
    homes.push(home);
    const store = await openStoreIn(schema);
    stores.push(store);
    const config = { ...home.config, store: "postgres" as const, pgUrl: schema.url };
    // A cluster member claims each session it changes, as `sessiond serve` on PostgreSQL does.
    const membership = options.member
      ? new ClusterOwnership({ cluster: store.cluster!, name: newId(), url: null, authFingerprint: "test", leaseTtlMs: config.leaseTtlMs, leaseRenewMs: config.leaseRenewMs, rememberedOwners: config.hotPoolSize })
      : undefined;
    await membership?.start();
    if (membership) memberships.push(membership);
    const manager = new SessionManager({ store, config, ...(membership ? { ownership: membership } : {}) });
    managers.push(manager);
    const registry = new Registry();
    const sink = startWebhooks({ config: home.config, bus: manager.bus, store, registry });
    sinks.push(sink);
    return { store, manager, registry, sink, membership };
  };
  const receiver = async (answer: (payload: unknown, earlier: readonly { headers: Record<string, unknown> }[]) => Reply | undefined) => {
    const r = await startReceiver({ answer });
    receivers.push(r);
    return r;
  };
  /** Registers a webhook through `manager`'s node, as POST /webhooks does (the route writes it to the store). */
  const register = async (manager: SessionManager, url: string): Promise<WebhookRecord> => {
    const webhook = { id: newId(), url, events: [], secret: null, created_at: new Date().toISOString() };
    await manager.putWebhook(webhook);
    return webhook;
  };
  const allDeliveries = async (store: Store, webhookId: string): Promise<WebhookDelivery[]> => {
    const out: WebhookDelivery[] = [];
    let cursor: string | undefined;
    do {
      const page = await store.listWebhookDeliveries(webhookId, { limit: 100, ...(cursor ? { cursor } : {}) });
      out.push(...page.items);
      cursor = page.next_cursor ?? undefined;
    } while (cursor);
    return out;
  };
  /** Starts and completes `n` sessions on a node: two webhook events each. */
  const lifecycles = async (manager: SessionManager, label: string, n: number) => {
    const ids: string[] = [];
    for (let i = 0; i < n; i++) {
      const s = await manager.create({ name: `${label}-${i}`, task: label });
      await manager.complete(s.id, { ok: true });
      ids.push(s.id);
    }
    return ids;
  };

  beforeEach(async () => {
    schema = await createTestSchema();
  });
  afterEach(async () => {
    for (const sink of sinks.splice(0)) await sink.close();
    for (const membership of memberships.splice(0)) await membership.stop();
    for (const manager of managers.splice(0)) await manager.close();
    for (const store of stores.splice(0)) await store.close();
    for (const r of receivers.splice(0)) await r.close();
    await schema.drop();
    for (const home of homes.splice(0)) home.remove();
  });

  /** The (session, event) a webhook payload is about: one delivery per webhook. */
  const key = (payload: unknown) => {
    const p = payload as { event: string; session: { id: string } };
    return `${p.session.id}:${p.event}`;
  };

  it("delivers to a webhook registered through one node the events every node commits, each once, whichever node sends it", async () => {
    const a = await node();
    const b = await node();
    // Each delivery's first attempt fails, so its retry falls due later for whichever node claims it first.
    const tried = new Set<string>();
    const r = await receiver((payload) => {
      if (tried.has(key(payload))) return undefined;
      tried.add(key(payload));
      return 500;
    });
    const hook = await register(a.manager, r.url);

    const [onA, onB] = await Promise.all([lifecycles(a.manager, "a", 10), lifecycles(b.manager, "b", 10)]);
    const expected = [...onA, ...onB].flatMap((id) => [`${id}:start`, `${id}:complete`]).sort();
    await waitFor("every delivery to be accepted", () => r.accepted().length >= expected.length);
    await waitFor("the log to say delivered", async () => (await allDeliveries(a.store, hook.id)).every((d) => d.status === "delivered"));

    expect(r.accepted().map((x) => key(x.payload)).sort()).toEqual(expected);
    const log = await allDeliveries(b.store, hook.id);
    expect(log.map((d) => `${d.session_id}:${d.event}`).sort()).toEqual(expected);
    // Two attempts each (the failure and the success), each made by one node: no attempt twice.
    expect(log.every((d) => d.attempts === 2)).toBe(true);
    const requestsPerDelivery = new Map<string, number>();
    for (const x of r.received) {
      const id = String(x.headers["x-sessiond-delivery"]);
      requestsPerDelivery.set(id, (requestsPerDelivery.get(id) ?? 0) + 1);
    }
    expect([...requestsPerDelivery.keys()].sort()).toEqual(log.map((d) => d.id).sort());
    expect([...requestsPerDelivery.values()].every((n) => n === 2)).toBe(true);
    const attempts = async (registry: Registry) =>
      (await counted(registry, 'sessiond_webhook_attempts_total{outcome="delivered"}')) + (await counted(registry, 'sessiond_webhook_attempts_total{outcome="failed"}'));
    expect((await attempts(a.registry)) + (await attempts(b.registry))).toBe(r.received.length);
  });

  it("sends the deliveries one node recorded from another node once the first stops", async () => {
    const a = await node();
    const b = await node();
    let accepting = false;
    const r = await receiver(() => (accepting ? undefined : 503));
    const hook = await register(a.manager, r.url);

    // Only B commits, so only B records; every attempt fails until B's sender has stopped.
    const onB = await lifecycles(b.manager, "b", 5);
    await waitFor("B to have recorded every delivery", async () => (await allDeliveries(b.store, hook.id)).length === onB.length * 2);
    await waitFor("some attempts to have failed", () => r.received.length > 0);
    await b.sink.close({ drainTimeoutMs: 0 });
    accepting = true;

    await waitFor("A to send them all", async () => (await allDeliveries(a.store, hook.id)).every((d) => d.status === "delivered"));
    expect(await counted(a.registry, 'sessiond_webhook_deliveries_total{status="delivered"}')).toBe(onB.length * 2);
    expect(await counted(b.registry, 'sessiond_webhook_deliveries_total{status="delivered"}')).toBe(0);
    expect(r.accepted().map((x) => key(x.payload)).sort()).toEqual(onB.flatMap((id) => [`${id}:start`, `${id}:complete`]).sort());
  });

  it("delivers the events of a session that moved between nodes once each and in seq order", async () => {
    const a = await node({ member: true });
    const b = await node({ member: true });
    // The first attempt at the start event fails, so the complete event (recorded by the other
    // node) is queued behind a delivery still backing off.
    let failedOnce = false;
    const r = await receiver((payload) => {
      if (failedOnce || (payload as { event: string }).event !== "start") return undefined;
      failedOnce = true;
      return 500;
    });
    await register(b.manager, r.url);
    const s = await a.manager.create({ name: "moving", task: "move" });
    await a.manager.pause(s.id, "handing over");
    // A leaves as `sessiond serve` shuts down: its sinks record what they buffered, then its lease
    // ends and B may take the session over (next epoch). (A node that stalls past its lease instead
    // may record its last deliveries after B's: docs/scale-out.md, Webhooks.)
    await a.manager.flush();
    await a.sink.flush();
    await a.membership!.stop();
    await b.manager.resume(s.id);
    await b.manager.complete(s.id, { ok: true });

    await waitFor("four deliveries", () => r.accepted().length >= 4);
    expect(r.accepted().map((x) => (x.payload as { event: string }).event)).toEqual(["start", "pause", "resume", "complete"]);
    expect(r.received.map((x) => (x.payload as { event: string }).event)).toEqual(["start", "start", "pause", "resume", "complete"]);
  });

  it("never lets two nodes claim the same delivery, and only the head of each session's queue", async () => {
    const stores = [await openStoreIn(schema), await openStoreIn(schema)];
    try {
      const now = new Date().toISOString();
      const delivery = (session: string, seq: number): WebhookDelivery => ({
        id: newId(), webhook_id: "hook", event: "start", session_id: session, seq, status: "pending", attempts: 0,
        last_status_code: null, last_error: null, next_attempt_at: now, created_at: now, delivered_at: null, body: "{}",
      });
      const heads = Array.from({ length: 150 }, (_, i) => delivery(`s${i}`, 1));
      const behind = heads.flatMap((h) => [delivery(h.session_id, 2), delivery(h.session_id, 3)]);
      await stores[0]!.putWebhookDeliveries([...heads, ...behind]);

      // Both nodes claim, a few at a time, until nothing is due; every claim leases into the future.
      const leaseUntil = new Date(Date.now() + 3_600_000).toISOString();
      const claimAll = async (store: Store) => {
        const mine: WebhookDelivery[] = [];
        for (;;) {
          const claimed = await store.claimDueWebhookDeliveries(new Date().toISOString(), leaseUntil, 7);
          if (!claimed.length) return mine;
          mine.push(...claimed);
        }
      };
      const [first, second] = await Promise.all(stores.map(claimAll));
      const ids = [...first!, ...second!].map((d) => d.id);
      expect(new Set(ids).size).toBe(ids.length);
      expect(new Set(ids)).toEqual(new Set(heads.map((d) => d.id)));
      expect(first!.length + second!.length).toBe(heads.length);
    } finally {
      for (const store of stores) await store.close();
    }
  });
});
