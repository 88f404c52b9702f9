/**
 * Webhook deliveries of one session go out once each, in seq order, one at a time, under one
 * delivery id however many attempts (and processes) it takes; closing the sender sends what is
 * due first and leaves the rest pending for the next sender (docs/events.md#guarantees).
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { closeSessions, completeSession, configureSessions, configureWebhook, pauseSession, startSession } from "sessiond";
import { type Config, newId } from "../../src/core/index.js";
import { SessionManager } from "../../src/engine/index.js";
import { type EventSinks, type WebhookDelivery, type WebhookRecord, startEventSinks } from "../../src/events/index.js";
import { type Store, openStore } from "../../src/store/index.js";
import { FAST_WEBHOOKS } from "../helpers/fast-webhooks.js";
import { type TestSchema, createTestSchema } from "../helpers/postgres.js";
import { serviceAvailable } from "../helpers/services.js";
import { tempHome } from "../helpers/temp-home.js";
import { expectNoLeakedHandles } from "./support/leaks.js";
import { type Received, type Receiver, startReceiver } from "./support/receiver.js";
import { waitFor } from "./support/wait.js";

const postgres = await serviceAvailable("postgres");

const FAST: Partial<Config> = { ...FAST_WEBHOOKS, webhookPollIntervalMs: 100 };

type Payload = { event: string; session: { id: string; task: string } };
const payload = (r: Received) => r.payload as Payload;
const eventOf = (r: Received) => payload(r).event;
const deliveryIdOf = (r: Received) => r.headers["x-sessiond-delivery"] as string;

describe.each(["sqlite", "postgres"] as const)("webhook delivery order and drain on %s", (kind) => {
  expectNoLeakedHandles();
  let home: ReturnType<typeof tempHome> | undefined;
  let schema: TestSchema | undefined;
  let running: { store: Store; manager: SessionManager; sinks: EventSinks } | undefined;
  const receivers: Receiver[] = [];

  beforeEach((context) => {
    if (kind === "postgres" && !postgres) context.skip();
  });
  afterEach(async () => {
    await shutdown();
    while (receivers.length) await receivers.pop()!.close();
    await schema?.drop();
    schema = undefined;
    home?.remove();
    home = undefined;
  });

  const receive = async (options: Parameters<typeof startReceiver>[0] = {}) => {
    const r = await startReceiver(options);
    receivers.push(r);
    return r;
  };
  /** The config of a data dir (and, on PostgreSQL, a schema of its own) that every boot of the test shares. */
  const configure = async (flags: Partial<Config> = {}): Promise<Config> => {
    home = tempHome({ ...FAST, ...flags });
    if (kind === "sqlite") return home.config;
    schema = await createTestSchema();
    return { ...home.config, store: "postgres", pgUrl: schema.url };
  };
  /** A process's part: a store, a manager and the sinks, as `sessiond serve` assembles them. */
  const boot = async (config: Config) => {
    const store = await openStore(config);
    const manager = new SessionManager({ store, config });
    const sinks = await startEventSinks({ config, manager, store });
    running = { store, manager, sinks };
    return running;
  };
  async function shutdown(): Promise<void> {
    if (!running) return;
    const { sinks, manager } = running;
    running = undefined;
    await sinks.close();
    await manager.close();
  }
  const register = async (manager: SessionManager, url: string, events: string[] = []): Promise<WebhookRecord> => {
    const webhook = { id: newId(), url, events, secret: "s3cret", created_at: new Date().toISOString() };
    await manager.putWebhook(webhook);
    return webhook;
  };
  const log = async (store: Store, webhookId: string): Promise<WebhookDelivery[]> =>
    (await store.listWebhookDeliveries(webhookId, { limit: 100 })).items.sort((a, b) => a.seq - b.seq);

  it("sends one session's events in seq order, each only after the one before it was accepted, under one delivery id per event, while another session's go ahead", async () => {
    let holding = true;
    // The held session's deliveries fail until the other session's are in.
    const r = await receive({ secret: "s3cret", answer: (p) => (holding && (p as Payload).session.task === "held" ? 500 : undefined) });
    const { manager, store } = await boot(await configure({ webhookMaxAttempts: 1000 }));
    const hook = await register(manager, r.url);

    const held = await manager.create({ task: "held" });
    await manager.pause(held.id, "lunch");
    await manager.resume(held.id);
    await manager.pause(held.id, "again");
    await manager.complete(held.id, { ok: true });
    const free = await manager.create({ task: "free" });
    await manager.complete(free.id);

    const of = (sessionId: string) => r.received.filter((x) => payload(x).session.id === sessionId);
    await waitFor("the free session's deliveries", () => of(free.id).filter((x) => x.reply === 200).length === 2);
    await waitFor("the held session's first event to be refused twice", () => of(held.id).length >= 2);
    // The held session's later events wait behind its first, which keeps failing.
    expect(new Set(of(held.id).map(eventOf))).toEqual(new Set(["start"]));
    expect(of(free.id).map(eventOf)).toEqual(["start", "complete"]);

    holding = false;
    await waitFor("the held session's deliveries", () => of(held.id).filter((x) => x.reply === 200).length === 5);
    await waitFor("the log to say delivered", async () => (await log(store, hook.id)).every((d) => d.status === "delivered"));

    const attempts = of(held.id);
    const accepted = attempts.filter((x) => x.reply === 200);
    expect(accepted.map(eventOf)).toEqual(["start", "pause", "resume", "pause", "complete"]);
    // Every attempt at an event came after the event before it was accepted, never alongside it.
    const delivered = await log(store, hook.id);
    const seqOf = new Map(delivered.map((d) => [d.id, d.seq]));
    attempts.forEach((x, i) => {
      const seq = seqOf.get(deliveryIdOf(x))!;
      const before = delivered.filter((d) => d.session_id === held.id && d.seq < seq).map((d) => d.id);
      const acceptedEarlier = new Set(attempts.slice(0, i).filter((y) => y.reply === 200).map(deliveryIdOf));
      expect(before.filter((id) => !acceptedEarlier.has(id)), `attempt ${i} (seq ${seq})`).toEqual([]);
    });
    // Each event went out under its one delivery id, the same body on every attempt.
    const start = attempts.filter((x) => eventOf(x) === "start");
    expect(start.length).toBeGreaterThanOrEqual(3);
    expect(new Set(start.map(deliveryIdOf))).toEqual(new Set([delivered.find((d) => d.session_id === held.id && d.seq === 1)!.id]));
    expect(new Set(start.map((x) => x.body)).size).toBe(1);
    expect(start.map((x) => x.headers["x-sessiond-attempt"])).toEqual(start.map((_, i) => String(i + 1)));
    expect(new Set(accepted.map(deliveryIdOf)).size).toBe(5);
    expect(attempts.every((x) => x.verified)).toBe(true);
  });

  it("delivers a review pause after the timeout before it, though the timeout's first attempt fails", async () => {
    const r = await receive({ answer: (p, earlier) => ((p as Payload).event === "timeout" && !earlier.length ? 503 : undefined) });
    const { manager } = await boot(await configure());
    await register(manager, r.url, ["timeout", "pause"]);
    const s = await manager.create({ max_iterations: 1 });
    await manager.incrementIteration(s.id);
    await manager.pause(s.id, "review");
    await waitFor("both deliveries", () => r.accepted().length === 2);
    expect(r.received.map((x) => [eventOf(x), x.reply])).toEqual([
      ["timeout", 503],
      ["timeout", 200],
      ["pause", 200],
    ]);
  });

  it("sends the due deliveries before close resolves, in order", async () => {
    const r = await receive();
    // Nothing is recorded before close: it records the events, then sends them.
    const { manager, store, sinks } = await boot(await configure({ webhookFlushIntervalMs: 60_000 }));
    const hook = await register(manager, r.url);
    const s = await manager.create({});
    await manager.pause(s.id);
    await manager.complete(s.id);
    expect(r.received).toEqual([]);
    await sinks.close();
    expect(r.accepted().map(eventOf)).toEqual(["start", "pause", "complete"]);
    expect((await log(store, hook.id)).map((d) => d.status)).toEqual(["delivered", "delivered", "delivered"]);
  });

  it("leaves a delivery backing off, and the session's later events, pending when it closes", async () => {
    const r = await receive({ script: [500] });
    // A failed attempt backs off a minute, past any drain: close must not wait for it.
    const { manager, store, sinks } = await boot(await configure({ webhookBackoffBaseMs: 60_000, webhookBackoffMaxMs: 60_000, webhookDrainTimeoutMs: 600_000 }));
    const hook = await register(manager, r.url);
    const s = await manager.create({});
    await waitFor("the first attempt to fail", async () => (await log(store, hook.id))[0]?.attempts === 1);
    await manager.complete(s.id);
    await sinks.close();
    const [start, complete] = await log(store, hook.id);
    expect(start).toMatchObject({ event: "start", status: "pending", attempts: 1, last_status_code: 500 });
    expect(Date.parse(start!.next_attempt_at!)).toBeGreaterThan(Date.now());
    expect(complete).toMatchObject({ event: "complete", status: "pending", attempts: 0 });
    expect(r.received.map(eventOf)).toEqual(["start"]);
  });

  it("hands back an attempt that outlasts the drain, and the next sender delivers it under the same id, then the session's next event", async () => {
    const hanging = await receive({ script: ["hang"] });
    const config = await configure({ webhookTimeoutMs: 60_000, webhookDrainTimeoutMs: 200 });
    const first = await boot(config);
    const hook = await register(first.manager, hanging.url);
    const s = await first.manager.create({});
    await first.manager.pause(s.id);
    await waitFor("the first attempt to hang", () => hanging.received.length === 1);
    await shutdown();
    await hanging.close();

    const [start, pause] = await readLog(config, hook.id);
    expect(start).toMatchObject({ event: "start", status: "pending", attempts: 0 });
    expect(Date.parse(start!.next_attempt_at!)).toBeLessThanOrEqual(Date.now());
    expect(pause).toMatchObject({ event: "pause", status: "pending", attempts: 0 });
    expect(hanging.received.map(eventOf)).toEqual(["start"]);

    const r = await receive({ port: hanging.port });
    const second = await boot(config);
    await waitFor("both delivered", async () => (await log(second.store, hook.id)).every((d) => d.status === "delivered"));
    expect(r.received.map(eventOf)).toEqual(["start", "pause"]);
    expect(r.received.map(deliveryIdOf)).toEqual([deliveryIdOf(hanging.received[0]!), pause!.id]);
    expect(r.received[0]!.body).toBe(hanging.received[0]!.body);
  });

  /** Reads a webhook's log while no process has the store open. */
  async function readLog(config: Config, webhookId: string): Promise<WebhookDelivery[]> {
    const store = await openStore(config);
    try {
      return await log(store, webhookId);
    } finally {
      await store.close();
    }
  }
});

describe("closeSessions in the embedded API", () => {
  expectNoLeakedHandles();
  let home: ReturnType<typeof tempHome> | undefined;
  let receiver: Receiver | undefined;
  afterEach(async () => {
    await closeSessions();
    await receiver?.close();
    home?.remove();
  });

  it("sends the session's due deliveries, in order, before it resolves", async () => {
    home = tempHome();
    receiver = await startReceiver();
    // Nothing is recorded before closeSessions: it records the events, then sends them.
    configureSessions({ home: home.home, config: { webhookAllowHosts: ["127.0.0.1"], webhookFlushIntervalMs: 60_000 } });
    configureWebhook(receiver.url);
    const session = await startSession("Implement feature X", "developer");
    await pauseSession(session.id, "lunch");
    await completeSession(session.id, "done");
    await closeSessions();
    expect(receiver.accepted().map(eventOf)).toEqual(["start", "pause", "complete"]);
  });
});
