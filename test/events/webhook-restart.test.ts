import { afterEach, describe, expect, it } from "vitest";
import { type Config, newId } from "../../src/core/index.js";
import { SessionManager } from "../../src/engine/index.js";
import { type EventSinks, startEventSinks } from "../../src/events/index.js";
import { type Store, openSqliteStore } from "../../src/store/index.js";
import { tempHome } from "../helpers/temp-home.js";
import { expectNoLeakedHandles } from "./support/leaks.js";
import { freePort } from "../helpers/ports.js";
import { type Receiver, startReceiver } from "./support/receiver.js";
import { waitFor } from "./support/wait.js";

describe("webhook deliveries across a restart", () => {
  expectNoLeakedHandles();
  let home: ReturnType<typeof tempHome>;
  let running: { store: Store; manager: SessionManager; sinks: EventSinks } | undefined;
  const receivers: Receiver[] = [];
  const receive = async (options: Parameters<typeof startReceiver>[0]) => {
    const r = await startReceiver(options);
    receivers.push(r);
    return r;
  };

  /** The server's part: a store, a manager and the sinks on the data dir. */
  const boot = async (config: Config) => {
    const store = openSqliteStore(config);
    const manager = new SessionManager({ store, config });
    const sinks = await startEventSinks({ config, manager, store });
    running = { store, manager, sinks };
    return running;
  };
  const shutdown = async () => {
    if (!running) return;
    await running.sinks.close();
    await running.manager.close();
    running = undefined;
  };

  afterEach(async () => {
    await shutdown();
    while (receivers.length) await receivers.pop()!.close();
    home?.remove();
  });

  it("retries after a restart the deliveries left pending while the receiver was down, delivering each once", async () => {
    const port = await freePort();
    home = tempHome({
      webhookAllowHosts: ["127.0.0.1"],
      webhookBackoffBaseMs: 20,
      webhookBackoffMaxMs: 100,
      webhookTimeoutMs: 500,
      webhookFlushIntervalMs: 0,
      webhookPollIntervalMs: 100,
    });
    const first = await boot(home.config);
    const hook = { id: newId(), url: `http://127.0.0.1:${port}/hooks`, events: [], secret: "s3cret", created_at: new Date().toISOString() };
    await first.manager.putWebhook(hook);
    const s = await first.manager.create({ mode: "developer", task: "survive a restart" });
    await first.manager.complete(s.id, { ok: true });
    const log = async (store: Store) => (await store.listWebhookDeliveries(hook.id, { limit: 10 })).items;
    // Nothing listens on the port: attempts fail with a refused connection and stay pending, the
    // session's complete queued behind its start.
    await waitFor("two failed attempts at the start", async () => {
      const ds = await log(first.store);
      return ds.length === 2 && ds.every((d) => d.status === "pending") && ds[1]!.attempts >= 2;
    });
    const [complete, started] = await log(first.store);
    expect(started!.last_error).toMatch(/ECONNREFUSED/);
    expect(complete).toMatchObject({ event: "complete", attempts: 0 });
    await shutdown();

    const receiver = await receive({ port, secret: "s3cret" });
    const second = await boot(home.config);
    await waitFor("both delivered", async () => (await log(second.store)).every((d) => d.status === "delivered"));

    const delivered = await log(second.store);
    expect(delivered.map((d) => d.event)).toEqual(["complete", "start"]);
    expect(delivered.map((d) => d.attempts)).toEqual([1, expect.any(Number)]);
    expect(delivered[1]!.attempts).toBeGreaterThanOrEqual(3);
    for (const d of delivered) {
      expect(d).toMatchObject({ session_id: s.id, last_status_code: 200, last_error: null, next_attempt_at: null });
    }
    expect(receiver.received).toHaveLength(2);
    expect(receiver.received.map((r) => r.headers["x-sessiond-delivery"])).toEqual(delivered.map((d) => d.id).reverse());
    expect(receiver.received.every((r) => r.verified)).toBe(true);
    expect(receiver.received.map((r) => (r.payload as { event: string }).event)).toEqual(["start", "complete"]);
  });

  it("hands back an attempt interrupted by shutdown as due, so the next run sends it", async () => {
    // A drain of 0: shutdown interrupts the hanging attempt at once.
    home = tempHome({ webhookAllowHosts: ["127.0.0.1"], webhookTimeoutMs: 30_000, webhookFlushIntervalMs: 0, webhookPollIntervalMs: 100, webhookDrainTimeoutMs: 0 });
    const hanging = await receive({ script: ["hang"] });
    const first = await boot(home.config);
    const hook = { id: newId(), url: hanging.url, events: ["start"], secret: null, created_at: new Date().toISOString() };
    await first.manager.putWebhook(hook);
    await first.manager.create({});
    await waitFor("the attempt to hang", () => hanging.received.length === 1);
    await shutdown();
    await hanging.close();
    const [interrupted] = (await openAndList(home.config, hook.id)).items;
    expect(interrupted).toMatchObject({ status: "pending", attempts: 0 });
    expect(Date.parse(interrupted!.next_attempt_at!)).toBeLessThanOrEqual(Date.now());

    const receiver = await receive({ port: hanging.port });
    const second = await boot(home.config);
    await waitFor("the delivery", async () => (await second.store.getWebhookDelivery(interrupted!.id))?.status === "delivered");
    expect(receiver.received).toHaveLength(1);
  });
});

/** Reads a webhook's log from the data dir while no server runs. */
async function openAndList(config: Config, webhookId: string) {
  const store = openSqliteStore(config);
  try {
    return await store.listWebhookDeliveries(webhookId, { limit: 10 });
  } finally {
    await store.close();
  }
}
