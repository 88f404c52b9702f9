import { Writable } from "node:stream";
import { Redis } from "ioredis";
import { pino } from "pino";
import { Registry } from "prom-client";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type Config, newId } from "../../src/core/index.js";
import { SessionManager } from "../../src/engine/index.js";
import { type EventSinks, type SinkLogger, startEventSinks } from "../../src/events/index.js";
import { type Store, openSqliteStore } from "../../src/store/index.js";
import { SERVICES, serviceAvailable } from "../helpers/services.js";
import { tempHome } from "../helpers/temp-home.js";
import { expectNoLeakedHandles } from "./support/leaks.js";
import { freePort } from "../helpers/ports.js";
import { startRedisServer } from "./support/redis-server.js";
import { waitFor } from "./support/wait.js";

type Message = { event_type: string; aggregate_type: string; aggregate_id: string; payload: Record<string, unknown> };

/** A real subscriber connection on `channel`, collecting parsed messages. */
async function subscribe(url: string, channel: string): Promise<{ messages: Message[]; close: () => Promise<void> }> {
  const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  await client.connect();
  const messages: Message[] = [];
  client.on("message", (ch: string, text: string) => {
    if (ch === channel) messages.push(JSON.parse(text) as Message);
  });
  await client.subscribe(channel);
  return {
    messages,
    close: async () => {
      await client.quit();
    },
  };
}

const redisUp = await serviceAvailable("redis");

describe("the Redis publisher, unconfigured", () => {
  expectNoLeakedHandles();

  it("is off unless a Redis URL is configured", async () => {
    const home = tempHome();
    const store = openSqliteStore(home.config);
    const manager = new SessionManager({ store, config: home.config });
    // The server passes its pino logger: it must fit SinkLogger.
    const logger: SinkLogger = pino({ level: "info" }, new Writable({ write: (_chunk, _encoding, done) => done() }));
    const sinks = await startEventSinks({ config: home.config, manager, store, logger });
    expect(sinks.redis).toBeUndefined();
    expect(sinks.stats().redis).toBeNull();
    await sinks.close();
    await manager.close();
    home.remove();
  });
});

describe.skipIf(!redisUp)("the Redis publisher", () => {
  expectNoLeakedHandles();
  let home: ReturnType<typeof tempHome>;
  let store: Store;
  let manager: SessionManager;
  let sinks: EventSinks | undefined;
  const closers: (() => Promise<void>)[] = [];

  const start = async (flags: Partial<Config>) => {
    home = tempHome(flags);
    store = openSqliteStore(home.config);
    manager = new SessionManager({ store, config: home.config });
    sinks = await startEventSinks({ config: home.config, manager, store, registry: new Registry() });
    return sinks;
  };

  /** Sinks publishing to a channel of this test's own, once connected, and a subscriber of it. */
  const publishingToFreshChannel = async () => {
    const channel = `test:events:${newId()}`;
    const subscriber = await subscribe(SERVICES.redis.url, channel);
    closers.push(subscriber.close);
    const started = await start({ redisUrl: SERVICES.redis.url, redisChannel: channel });
    await waitFor("the publisher to connect", () => started.redis!.stats().connected);
    return { subscriber, sinks: started };
  };

  beforeEach(() => {
    sinks = undefined;
  });
  afterEach(async () => {
    await sinks?.close();
    await manager?.close();
    while (closers.length) await closers.pop()!();
    home?.remove();
  });

  it("publishes creates and updates on events:session in exactly seed 003's shape", async () => {
    const subscriber = await subscribe(SERVICES.redis.url, "events:session");
    closers.push(subscriber.close);
    const sinks = await start({ redisUrl: SERVICES.redis.url });
    await waitFor("the publisher to connect", () => sinks.redis!.stats().connected);

    const agent = newId();
    const s = await manager.create({ agent_id: agent, type: "development", runtime_backend: "local", context: { task_id: "implement-modal" } });
    await manager.update(s.id, { status: "paused", checkpoint: { completed_step: 3 } });
    // Other test files may publish on the shared channel: look at this session's messages only.
    const ours = () => subscriber.messages.filter((m) => m.aggregate_id === s.id);
    await waitFor("the update message", () => ours().some((m) => m.event_type === "session.updated"));

    const created = ours().find((m) => m.event_type === "session.created");
    expect(created).toEqual({
      event_type: "session.created",
      aggregate_type: "session",
      aggregate_id: s.id,
      payload: { agent_id: agent, session_type: "development", runtime_backend: "local" },
    });
    expect(Object.keys(created!)).toEqual(["event_type", "aggregate_type", "aggregate_id", "payload"]);
    expect(ours().find((m) => m.event_type === "session.updated")).toEqual({
      event_type: "session.updated",
      aggregate_type: "session",
      aggregate_id: s.id,
      payload: { agent_id: agent, status: "paused", updates: ["checkpoint", "status"] },
    });
  });

  it("publishes values with newlines, quotes and any Unicode intact, one message per change", async () => {
    const { subscriber } = await publishingToFreshChannel();
    const odd = 'line\nbreak "quoted" \\ tab\t ü ✓ 🚀 \u2028 end';
    const s = await manager.create({ agent_id: odd, type: odd });
    await manager.appendEvent(s.id, "note", { text: odd });
    // The create (with its start event), then the note.
    await waitFor("three messages", () => subscriber.messages.length >= 3);
    expect(subscriber.messages).toHaveLength(3);
    expect(subscriber.messages[0]).toMatchObject({ event_type: "session.created", payload: { agent_id: odd, session_type: odd } });
    expect(subscriber.messages[1]).toMatchObject({ event_type: "session.event_appended", payload: { agent_id: odd, seq: 1, type: "start" } });
    expect(subscriber.messages[2]).toMatchObject({ event_type: "session.event_appended", payload: { agent_id: odd, seq: 2, type: "note" } });
  });

  it("publishes every change in commit order: create, events, checkpoint, update, delete", async () => {
    const { subscriber, sinks } = await publishingToFreshChannel();

    const s = await manager.create({ agent_id: "a1", type: "task" });
    await manager.appendEvent(s.id, "tool_call", { tool: "grep" });
    await manager.update(s.id, { checkpoint: { step: 1 } });
    await manager.complete(s.id, { ok: true });
    await manager.delete(s.id);
    await waitFor("the delete message", () => subscriber.messages.some((m) => m.event_type === "session.deleted"));

    expect(subscriber.messages.map((m) => `${m.event_type}${m.payload.type ? `:${String(m.payload.type)}` : ""}`)).toEqual([
      "session.created",
      "session.event_appended:start",
      "session.event_appended:tool_call",
      "session.updated",
      "session.event_appended:checkpoint",
      "session.checkpoint_created",
      "session.updated",
      "session.event_appended:complete",
      "session.deleted",
    ]);
    expect(subscriber.messages.at(-1)).toEqual({
      event_type: "session.deleted",
      aggregate_type: "session",
      aggregate_id: s.id,
      payload: { agent_id: "a1", status: "completed" },
    });
    expect(sinks.stats().redis).toMatchObject({ published: 9, dropped: 0, queued: 0, connected: true });
  });

  it("keeps up with writers that hold the event loop: every message arrives, in order, none dropped", async () => {
    const { subscriber, sinks } = await publishingToFreshChannel();
    const s = await manager.create({});
    // 20 rounds of 1000 concurrent appends: each round holds the loop far longer than a batch takes,
    // and together they are twice what the queue holds.
    for (let round = 0; round < 20; round++) {
      await Promise.all(Array.from({ length: 1000 }, (_, i) => manager.appendEvent(s.id, "note", { round, i })));
    }
    await waitFor("every message", () => subscriber.messages.length === 2 + 20_000, 20_000);
    const seqs = subscriber.messages.filter((m) => m.event_type === "session.event_appended").map((m) => m.payload.seq as number);
    expect(seqs).toEqual(Array.from({ length: 20_001 }, (_, i) => i + 1));
    // Subscribers can see a batch before Redis's reply to the publisher arrives and is counted.
    await waitFor("the publisher to count every message", () => sinks.redis!.stats().published === 20_002);
    expect(sinks.redis!.stats()).toMatchObject({ published: 20_002, dropped: 0 });
  });

  it("counts published messages on the registry it is given", async () => {
    const channel = `test:events:${newId()}`;
    home = tempHome({ redisUrl: SERVICES.redis.url, redisChannel: channel });
    store = openSqliteStore(home.config);
    manager = new SessionManager({ store, config: home.config });
    const registry = new Registry();
    sinks = await startEventSinks({ config: home.config, manager, store, registry });
    await waitFor("the publisher to connect", () => sinks!.redis!.stats().connected);
    await manager.create({});
    await waitFor("two publishes", () => sinks!.redis!.stats().published === 2);
    const text = await registry.metrics();
    expect(text).toMatch(/^sessiond_redis_messages_published_total 2$/m);
    expect(text).toMatch(/^sessiond_redis_connected 1$/m);
    expect(text).toMatch(/^sessiond_redis_queued_messages 0$/m);
  });

  it("lets writes succeed when Redis is unreachable, holding a bounded queue and counting drops", async () => {
    const nobody = await freePort();
    const sinks = await start({ redisUrl: `redis://127.0.0.1:${nobody}`, redisMaxQueuedMessages: 4 });
    for (let i = 0; i < 5; i++) await manager.create({ task: `t${i}` });
    // 5 creates = 10 messages (session.created + the start event's append); 4 are held.
    expect(sinks.redis!.stats()).toMatchObject({ connected: false, queued: 4, dropped: 6, droppedBy: { overflow: 6 } });
  });

  it("reconnects after Redis goes away and comes back, delivering new messages and counting what it dropped", async () => {
    const port = await freePort();
    let server = await startRedisServer(port);
    closers.push(() => server.kill());
    const channel = "events:session";
    const sinks = await start({ redisUrl: server.url, redisMaxQueuedMessages: 3 });
    await waitFor("the publisher to connect", () => sinks.redis!.stats().connected);
    const before = await subscribe(server.url, channel);
    await manager.create({ task: "before the outage" });
    await waitFor("the first messages", () => before.messages.length === 2);
    await before.close();

    await server.kill();
    await waitFor("the publisher to notice", () => !sinks.redis!.stats().connected);
    // Writes go on while Redis is gone: each resolves, durable, whatever Redis does.
    const during = [];
    for (let i = 0; i < 4; i++) during.push(await manager.create({ task: `during ${i}` }));
    expect(await manager.list({}, { limit: 10 }).then((p) => p.items.length)).toBe(5);
    expect(sinks.redis!.stats()).toMatchObject({ queued: 3, connected: false });
    expect(sinks.redis!.stats().dropped).toBeGreaterThanOrEqual(5);

    server = await startRedisServer(port);
    const after = await subscribe(server.url, channel);
    closers.push(after.close);
    await waitFor("the publisher to reconnect", () => sinks.redis!.stats().connected, 15_000);
    const s = await manager.create({ agent_id: "after", type: "task" });
    await waitFor("a message after the outage", () => after.messages.some((m) => m.aggregate_id === s.id));
    expect(after.messages.find((m) => m.aggregate_id === s.id && m.event_type === "session.created")?.payload).toEqual({
      agent_id: "after",
      session_type: "task",
      runtime_backend: "unknown",
    });
    // 2 before, 8 during (the newest 3 held, 5 dropped), 2 after.
    await waitFor("every held message to be published", () => sinks.redis!.stats().published === 2 + 3 + 2);
    expect(sinks.redis!.stats()).toMatchObject({ dropped: 5, droppedBy: { overflow: 5, error: 0 }, queued: 0 });
  });
});
