/**
 * Events out, end to end: a real `sessiond serve` process, driven through `sessiond/client`, with
 * webhooks registered over the API delivered to a local receiver that fails first, and the Redis
 * publisher watched by a real subscriber while its Redis goes away and comes back.
 */
import { Redis } from "ioredis";
import { afterEach, describe, expect, it } from "vitest";
import { type SessiondClient, createClient } from "sessiond/client";
import { serviceAvailable } from "../helpers/services.js";
import { type ServedServer, serve } from "../sdk/support/served.js";
import { freePort } from "../helpers/ports.js";
import { type Receiver, startReceiver } from "./support/receiver.js";
import { type RedisServerChild, startRedisServer } from "./support/redis-server.js";
import { waitFor } from "./support/wait.js";

/** Fast retries, so a test sees several attempts; the receivers listen on loopback, which webhooks may reach only when allowed. */
const FAST_RETRIES = {
  SESSIOND_WEBHOOK_BACKOFF_BASE_MS: "20",
  SESSIOND_WEBHOOK_BACKOFF_MAX_MS: "100",
  SESSIOND_WEBHOOK_POLL_INTERVAL_MS: "50",
  SESSIOND_WEBHOOK_ALLOW_HOSTS: "127.0.0.1",
};

describe("events out from a served sessiond", () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    while (cleanups.length) await cleanups.pop()!();
  });

  async function started(env: Record<string, string>, home?: string): Promise<{ server: ServedServer; client: SessiondClient }> {
    const server = await serve(env, home);
    const client = createClient({ baseUrl: server.baseUrl, token: server.token, home: server.home });
    cleanups.push(async () => {
      await client.close();
      await server.stop();
    });
    return { server, client };
  }

  it("delivers webhooks registered through the API, signed, through a receiver's failures, and logs every attempt", async () => {
    const secret = "whsec-e2e";
    const receiver: Receiver = await startReceiver({ script: [500, 503], secret });
    cleanups.push(() => receiver.close());
    const { server, client } = await started(FAST_RETRIES);
    cleanups.push(async () => (await server.remove()));

    const hook = await client.webhooks.create({ url: receiver.url, events: ["start", "complete"], secret });
    const sessions = client.seed004;
    const s = await sessions.startSession("Ship it", "developer", { userId: "u1" });
    await sessions.pauseSession(s.id, "not delivered: filtered out");
    await sessions.resumeSession(s.id);
    await sessions.completeSession(s.id, "shipped");

    await waitFor("both deliveries to succeed", () => receiver.accepted().length === 2);
    // Two refused attempts, then one success per delivery: four requests, every one signed right.
    expect(receiver.received).toHaveLength(4);
    expect(receiver.received.every((r) => r.verified === true)).toBe(true);
    expect(receiver.accepted().map((r) => (r.payload as { event: string }).event).sort()).toEqual(["complete", "start"]);
    const complete = receiver.accepted().find((r) => (r.payload as { event: string }).event === "complete")!;
    expect(complete.payload).toEqual({
      event: "complete",
      session: { id: s.id, mode: "developer", status: "completed", task: "Ship it", userId: "u1" },
      timestamp: expect.any(String),
      data: expect.objectContaining({ result: "shipped" }),
    });
    // A retried delivery keeps its id, so receivers can drop repeats.
    const ids = receiver.received.map((r) => r.headers["x-sessiond-delivery"]);
    expect(new Set(ids).size).toBe(2);

    const log = await waitFor("the log to show both delivered", async () => {
      const page = await client.webhooks.deliveries(hook.id);
      return page.items.every((d) => d.status === "delivered") && page.items.length === 2 ? page.items : undefined;
    });
    expect(log.map((d) => d.event).sort()).toEqual(["complete", "start"]);
    expect(log.reduce((n, d) => n + d.attempts, 0)).toBe(4);
    expect(log.every((d) => d.last_status_code === 200 && d.session_id === s.id)).toBe(true);
  });

  it("retries after a server restart the deliveries left pending while the receiver was down, delivering each once", async () => {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}/hooks/sessions`;
    const first = await started(FAST_RETRIES);
    const home = first.server.home;
    cleanups.push(async () => (await first.server.remove()));
    const hook = await first.client.webhooks.create({ url, events: ["complete"] });
    const s = await first.client.seed004.startSession("Survive a restart", "ops");
    await first.client.seed004.completeSession(s.id, "done");
    await waitFor("a failed attempt", async () => ((await first.client.webhooks.deliveries(hook.id)).items[0]?.attempts ?? 0) >= 1);
    await first.client.close();
    await first.server.stop();

    const receiver = await startReceiver({ port });
    cleanups.push(() => receiver.close());
    const second = await started(FAST_RETRIES, home);
    await waitFor("the delivery after the restart", () => receiver.accepted().length === 1);
    const [delivery] = (await second.client.webhooks.deliveries(hook.id)).items;
    expect(delivery).toMatchObject({ status: "delivered", event: "complete", session_id: s.id, last_status_code: 200 });
    expect(delivery!.attempts).toBeGreaterThanOrEqual(2);
    expect((receiver.accepted()[0]!.payload as { session: { id: string } }).session.id).toBe(s.id);
    expect(receiver.received.filter((r) => r.headers["x-sessiond-delivery"] === delivery!.id)).toHaveLength(1);
  });
});

const redisInstalled = await serviceAvailable("redis");

describe.skipIf(!redisInstalled)("the Redis publisher of a served sessiond", () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    while (cleanups.length) await cleanups.pop()!();
  });

  async function subscriber(url: string): Promise<{ messages: Record<string, unknown>[]; close(): Promise<void> }> {
    const sub = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
    await sub.connect();
    const messages: Record<string, unknown>[] = [];
    sub.on("message", (_channel: string, text: string) => messages.push(JSON.parse(text) as Record<string, unknown>));
    await sub.subscribe("events:session");
    return { messages, close: async () => void (await sub.quit()) };
  }

  it("publishes seed 003's messages, keeps writes working while Redis is gone, reconnects, and counts the drops in /metrics", async () => {
    const port = await freePort();
    let redis: RedisServerChild = await startRedisServer(port);
    cleanups.push(() => redis.kill());
    const server = await serve({ SESSIOND_REDIS_URL: redis.url, SESSIOND_REDIS_MAX_QUEUED_MESSAGES: "5" });
    cleanups.push(() => server.remove());
    const client = createClient({ baseUrl: server.baseUrl, token: server.token, home: server.home });
    cleanups.push(() => client.close());
    let sub = await subscriber(redis.url);
    cleanups.push(() => sub.close().catch(() => undefined));

    await waitFor("the publisher to connect", async () => /^sessiond_redis_connected 1$/m.test(await client.metricsText()));
    const s = await client.sessions.createSession({ agent_id: "agent-1", type: "development", runtime_backend: "local" });
    await client.sessions.updateSession(s.id, { status: "paused", checkpoint: { step: 3 } });
    await waitFor("the update message", () => sub.messages.some((m) => m.event_type === "session.updated"));
    expect(sub.messages.find((m) => m.event_type === "session.created")).toEqual({
      event_type: "session.created",
      aggregate_type: "session",
      aggregate_id: s.id,
      payload: { agent_id: "agent-1", session_type: "development", runtime_backend: "local" },
    });
    expect(sub.messages.find((m) => m.event_type === "session.updated")).toEqual({
      event_type: "session.updated",
      aggregate_type: "session",
      aggregate_id: s.id,
      payload: { agent_id: "agent-1", status: "paused", updates: ["checkpoint", "status"] },
    });

    await sub.close();
    await redis.kill();
    await waitFor("the publisher to notice", async () => /^sessiond_redis_connected 0$/m.test(await client.metricsText()));
    // Writes succeed while Redis is away; past 5 queued messages the oldest are dropped and counted.
    const during = [];
    for (let i = 0; i < 20; i++) during.push(await client.sessions.createSession({ agent_id: "agent-1", name: `offline-${i}` }));
    expect(during).toHaveLength(20);
    const dropped = Number(/^sessiond_redis_messages_dropped_total\{reason="overflow"\} (\d+)$/m.exec(await client.metricsText())?.[1]);
    expect(dropped).toBeGreaterThanOrEqual(20 - 5);

    redis = await startRedisServer(port);
    sub = await subscriber(redis.url);
    await waitFor("the publisher to reconnect", async () => /^sessiond_redis_connected 1$/m.test(await client.metricsText()), 15_000);
    const after = await client.sessions.createSession({ agent_id: "agent-1", name: "after-outage" });
    await waitFor("a message about the session created after the outage", () => sub.messages.some((m) => m.aggregate_id === after.id && m.event_type === "session.created"));
  });
});
