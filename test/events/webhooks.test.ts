import { Registry } from "prom-client";
import { afterEach, describe, expect, it } from "vitest";
import { type Config, newId } from "../../src/core/index.js";
import { SessionManager } from "../../src/engine/index.js";
import { type EventSinks, type WebhookRecord, configRegistrations, startEventSinks } from "../../src/events/index.js";
import { type Store, openSqliteStore } from "../../src/store/index.js";
import { tempHome } from "../helpers/temp-home.js";
import { expectNoLeakedHandles } from "./support/leaks.js";
import { type Receiver, startReceiver } from "./support/receiver.js";
import { waitFor } from "./support/wait.js";

/** Short delays, so retries happen within a test; the receivers listen on loopback, which webhooks may reach only when allowed. */
const FAST: Partial<Config> = {
  webhookAllowHosts: ["127.0.0.1"],
  webhookBackoffBaseMs: 10,
  webhookBackoffMaxMs: 40,
  webhookTimeoutMs: 400,
  webhookFlushIntervalMs: 0,
  webhookPollIntervalMs: 100,
};

describe("webhooks", () => {
  expectNoLeakedHandles();
  let home: ReturnType<typeof tempHome>;
  let store: Store;
  let manager: SessionManager;
  let sinks: EventSinks;
  let registry: Registry;
  const receivers: Receiver[] = [];

  /** What the sinks logged, as [level, fields] pairs. */
  let logged: Array<[string, Record<string, unknown>]>;
  const recordingLogger = () => {
    const at = (level: string) => (fields: object) => void logged.push([level, fields as Record<string, unknown>]);
    return { debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error") };
  };

  const start = async (flags: Partial<Config> = {}) => {
    home = tempHome({ ...FAST, ...flags });
    store = openSqliteStore(home.config);
    manager = new SessionManager({ store, config: home.config });
    registry = new Registry();
    logged = [];
    sinks = await startEventSinks({ config: home.config, manager, store, registry, logger: recordingLogger() });
  };
  const receiver = async (options: Parameters<typeof startReceiver>[0] = {}) => {
    const r = await startReceiver(options);
    receivers.push(r);
    return r;
  };
  const register = async (url: string, fields: Partial<WebhookRecord> = {}): Promise<WebhookRecord> => {
    const webhook = { id: newId(), url, events: [], secret: "s3cret", created_at: new Date().toISOString(), ...fields };
    await manager.putWebhook(webhook);
    return webhook;
  };
  const deliveries = async (webhookId: string) => (await store.listWebhookDeliveries(webhookId, { limit: 100 })).items;

  afterEach(async () => {
    await sinks?.close();
    await manager?.close();
    while (receivers.length) await receivers.pop()!.close();
    home?.remove();
  });

  it("delivers a session's lifecycle events in seed 004's payload format, signed", async () => {
    await start();
    const r = await receiver({ secret: "s3cret" });
    const hook = await register(r.url);
    const s = await manager.create({ mode: "developer", task: "Implement X", user_id: "user123", channel_id: "chan1" });
    await manager.incrementIteration(s.id, { phase: "init" });
    await manager.recordToolCall(s.id, "grep", { q: "x" });
    await manager.pause(s.id, "lunch");
    await manager.resume(s.id);
    await manager.complete(s.id, { ok: true });
    await waitFor("four deliveries", () => r.accepted().length === 4);

    // One session's events arrive in seq order (docs/events.md#retries).
    expect(r.received.map((x) => (x.payload as { event: string }).event)).toEqual(["start", "pause", "resume", "complete"]);
    expect(r.received.every((x) => x.verified === true)).toBe(true);
    const pause = r.received.find((x) => (x.payload as { event: string }).event === "pause")!;
    expect(pause.payload).toEqual({
      event: "pause",
      session: { id: s.id, mode: "developer", status: "paused", task: "Implement X", userId: "user123", channelId: "chan1" },
      timestamp: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
      data: { reason: "lunch", from: "active", to: "paused" },
    });
    expect(pause.headers).toMatchObject({
      "content-type": "application/json",
      "x-sessiond-event": "pause",
      "x-sessiond-attempt": "1",
      "x-sessiond-signature": expect.stringMatching(/^sha256=[0-9a-f]{64}$/),
      "x-sessiond-timestamp": expect.stringMatching(/^\d+$/),
    });
    await waitFor("the log to say delivered", async () => (await deliveries(hook.id)).every((d) => d.status === "delivered"));
    const log = await deliveries(hook.id);
    expect(log.map((d) => d.event)).toEqual(["complete", "resume", "pause", "start"]);
    expect(log[0]).toMatchObject({ webhook_id: hook.id, session_id: s.id, seq: 6, attempts: 1, last_status_code: 200, last_error: null, next_attempt_at: null });
    expect(pause.headers["x-sessiond-delivery"]).toBe(log[2]!.id);
  });

  it("retries through 500s and a hang past the timeout, then delivers once, logging every attempt", async () => {
    await start();
    const r = await receiver({ secret: "s3cret", script: [500, "hang", 503] });
    const hook = await register(r.url);
    const s = await manager.create({ mode: "m", task: "t" });
    await waitFor("the delivery to succeed", async () => (await deliveries(hook.id))[0]?.status === "delivered");

    const [d] = await deliveries(hook.id);
    expect(d).toMatchObject({ event: "start", session_id: s.id, seq: 1, attempts: 4, last_status_code: 200, last_error: null, next_attempt_at: null });
    expect(d!.delivered_at).not.toBeNull();
    expect(r.received.map((x) => x.reply)).toEqual([500, "hang", 503, 200]);
    expect(r.received.map((x) => x.headers["x-sessiond-attempt"])).toEqual(["1", "2", "3", "4"]);
    expect(new Set(r.received.map((x) => x.headers["x-sessiond-delivery"]))).toEqual(new Set([d!.id]));
    expect(new Set(r.received.map((x) => x.body)).size).toBe(1);
    expect(r.received.every((x) => x.verified)).toBe(true);
    const metrics = await registry.metrics();
    expect(metrics).toMatch(/^sessiond_webhook_attempts_total\{outcome="failed"\} 3$/m);
    expect(metrics).toMatch(/^sessiond_webhook_deliveries_total\{status="delivered"\} 1$/m);
  });

  it("records why each failed attempt failed, and gives up after the last attempt", async () => {
    await start({ webhookMaxAttempts: 3, webhookTimeoutMs: 200 });
    const r = await receiver({ script: [500, "hang", 502, 200] });
    const hook = await register(r.url);
    await manager.create({});
    await waitFor("the delivery to fail", async () => (await deliveries(hook.id))[0]?.status === "failed");
    const [d] = await deliveries(hook.id);
    expect(d).toMatchObject({ status: "failed", attempts: 3, last_status_code: 502, last_error: "the receiver answered HTTP 502", next_attempt_at: null, delivered_at: null });
    // The store keeps the last error only; each earlier one is in the log.
    const errors = logged.filter(([, f]) => f["delivery"] === d!.id).map(([level, f]) => [level, f["error"]]);
    expect(errors).toEqual([
      ["debug", "the receiver answered HTTP 500"],
      ["debug", "no response within 200 ms"],
      ["warn", "the receiver answered HTTP 502"],
    ]);
    expect(r.received).toHaveLength(3);
  });

  it("delivers to each registration only the events its filter names, from the store and from config", async () => {
    const r = await receiver();
    const fromConfig = [{ url: `${r.url}?from=config`, events: ["start" as const] }];
    await start({ webhooks: fromConfig });
    const all = await register(`${r.url}?from=all`);
    const completes = await register(`${r.url}?from=completes`, { events: ["complete"] });
    const s = await manager.create({});
    await manager.complete(s.id);
    await waitFor("four deliveries", () => r.accepted().length === 4);
    await sinks.webhooks.flush();

    const [configId] = configRegistrations(fromConfig).map((c) => c.id);
    expect((await deliveries(all.id)).map((d) => d.event).sort()).toEqual(["complete", "start"]);
    expect((await deliveries(completes.id)).map((d) => d.event)).toEqual(["complete"]);
    expect((await deliveries(configId!)).map((d) => d.event)).toEqual(["start"]);
    expect((await sinks.webhooks.registrations()).map((w) => w.source).sort()).toEqual(["config", "store", "store"]);
  });

  it("sends no signature to a registration without a secret", async () => {
    await start();
    const r = await receiver();
    await register(r.url, { secret: null });
    await manager.create({});
    await waitFor("a delivery", () => r.accepted().length === 1);
    expect(r.received[0]!.headers["x-sessiond-signature"]).toBeUndefined();
    expect(r.received[0]!.headers["x-sessiond-timestamp"]).toMatch(/^\d+$/);
  });

  it("starts delivering to a webhook registered after the sinks started, from its next event", async () => {
    await start();
    const r = await receiver();
    const early = await manager.create({});
    await sinks.webhooks.flush();
    await register(r.url);
    const late = await manager.create({});
    await waitFor("a delivery", () => r.accepted().length === 1);
    await sinks.webhooks.flush();
    expect((r.received[0]!.payload as { session: { id: string } }).session.id).toBe(late.id);
    expect(r.received.some((x) => (x.payload as { session: { id: string } }).session.id === early.id)).toBe(false);
  });

  it("never makes a writer wait: writes resolve while every attempt hangs", async () => {
    // Closing hands the hanging attempts back at once rather than waiting on them.
    await start({ webhookTimeoutMs: 30_000, webhookMaxConcurrency: 2, webhookDrainTimeoutMs: 0 });
    const r = await receiver({ script: Array(100).fill("hang") });
    await register(r.url);
    // One attempt in flight per session (its events go out in order), so two sessions fill both slots.
    const s = await manager.create({});
    const t = await manager.create({});
    await waitFor("both sessions' attempts to hang", () => r.received.length >= 2);
    for (let i = 0; i < 20; i++) {
      await manager.pause(s.id);
      await manager.resume(s.id);
    }
    await manager.complete(s.id);
    await manager.complete(t.id);
    await sinks.webhooks.flush();
    expect(sinks.stats().webhooks).toMatchObject({ inFlight: 2, recorded: 44, dropped: 0 });
  });

  it("fails the pending deliveries of a webhook that was deleted", async () => {
    await start({ webhookBackoffBaseMs: 200, webhookBackoffMaxMs: 200 });
    const r = await receiver({ script: [500] });
    const hook = await register(r.url);
    await manager.create({});
    await waitFor("the first attempt to fail", async () => (await deliveries(hook.id))[0]?.attempts === 1);
    await store.deleteWebhook(hook.id);
    await waitFor("the delivery to fail", async () => (await deliveries(hook.id))[0]?.status === "failed");
    expect((await deliveries(hook.id))[0]).toMatchObject({ attempts: 1, last_error: `webhook ${hook.id} is no longer registered` });
    expect(r.received).toHaveLength(1);
  });

  it("records buffered events when it closes, and drops (counting) what overflows the buffer", async () => {
    // A drain of 0 leaves what close records pending, for the next sender.
    await start({ webhookFlushIntervalMs: 60_000, webhookMaxBufferedEvents: 2, webhookDrainTimeoutMs: 0 });
    const r = await receiver();
    const hook = await register(r.url);
    for (let i = 0; i < 3; i++) await manager.create({});
    expect(sinks.stats().webhooks).toMatchObject({ buffered: 2, dropped: 1, recorded: 0 });
    expect(await deliveries(hook.id)).toEqual([]);
    await sinks.close();
    const log = await deliveries(hook.id);
    expect(log).toHaveLength(2);
    expect(log.every((d) => d.status === "pending" && d.attempts === 0)).toBe(true);
    expect(await registry.metrics()).toMatch(/^sessiond_webhook_events_dropped_total 1$/m);
  });
});
