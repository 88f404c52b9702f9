/**
 * Where webhooks may be sent: the target policy at delivery time, after DNS resolution (a name
 * that resolves to a loopback address, DNS rebinding), for config-file webhooks at startup, and
 * for redirects — against real receivers on loopback.
 */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { Registry } from "prom-client";
import { afterEach, describe, expect, it } from "vitest";
import { type Config, newId, resolveConfig } from "../../src/core/index.js";
import { SessionManager } from "../../src/engine/index.js";
import { type Resolver, type WebhookRecord, type WebhookSink, WebhookTargetPolicy, startWebhooks } from "../../src/events/index.js";
import { type Store, openSqliteStore } from "../../src/store/index.js";
import { tempHome } from "../helpers/temp-home.js";
import { expectNoLeakedHandles } from "./support/leaks.js";
import { type Receiver, startReceiver } from "./support/receiver.js";
import { waitFor } from "./support/wait.js";

const FAST: Partial<Config> = { webhookBackoffBaseMs: 10, webhookBackoffMaxMs: 40, webhookTimeoutMs: 2000, webhookFlushIntervalMs: 0, webhookPollIntervalMs: 100 };

describe("webhook targets at delivery", () => {
  expectNoLeakedHandles();
  let home: ReturnType<typeof tempHome> | undefined;
  let store: Store;
  let manager: SessionManager | undefined;
  let sink: WebhookSink | undefined;
  let registry: Registry;
  const cleanups: (() => Promise<void>)[] = [];

  const start = (flags: Partial<Config>, resolve?: Resolver) => {
    home = tempHome({ ...FAST, ...flags });
    store = openSqliteStore(home.config);
    manager = new SessionManager({ store, config: home.config });
    registry = new Registry();
    sink = startWebhooks({ config: home.config, bus: manager.bus, store, registry, ...(resolve ? { resolve } : {}) });
  };
  const receiver = async (): Promise<Receiver> => {
    const r = await startReceiver();
    cleanups.push(() => r.close());
    return r;
  };
  /** Stored as the API stored it earlier, or as another process did: the attempt is what checks it now. */
  const register = async (url: string): Promise<WebhookRecord> => {
    const webhook = { id: newId(), url, events: [], secret: null, created_at: new Date().toISOString() };
    await manager!.putWebhook(webhook);
    return webhook;
  };
  const finished = async (hook: WebhookRecord) => {
    const found = await waitFor("the delivery to finish", async () => {
      const [d] = (await store.listWebhookDeliveries(hook.id, { limit: 10 })).items;
      return d && d.status !== "pending" ? d : undefined;
    });
    return found;
  };

  afterEach(async () => {
    await sink?.close();
    await manager?.close();
    while (cleanups.length) await cleanups.pop()!();
    home?.remove();
    sink = undefined;
    manager = undefined;
    home = undefined;
  });

  it("refuses localhost at the attempt, failing the delivery at once without a request", async () => {
    start({ webhookAllowHosts: [] });
    const r = await receiver();
    const hook = await register(`http://localhost:${r.port}/hooks`);
    await manager!.create({});
    const d = await finished(hook);
    expect(d).toMatchObject({ status: "failed", attempts: 1, last_status_code: null });
    expect(d.last_error).toMatch(/localhost is a loopback name; list it in webhookAllowHosts/);
    expect(r.received).toEqual([]);
    expect(await registry.metrics()).toMatch(/^sessiond_webhook_attempts_total\{outcome="refused"\} 1$/m);
  });

  it("delivers to localhost when webhookAllowHosts lists it", async () => {
    start({ webhookAllowHosts: ["localhost"] });
    const r = await receiver();
    const hook = await register(`http://localhost:${r.port}/hooks`);
    await manager!.create({});
    expect(await finished(hook)).toMatchObject({ status: "delivered", attempts: 1 });
    expect(r.accepted()).toHaveLength(1);
  });

  it("refuses a public-looking name whose DNS answer turns to a loopback address (DNS rebinding), unless its address is allowed", async () => {
    const name = "hooks.example.test";
    expect(new WebhookTargetPolicy([]).check(`http://${name}/hooks`)).toBeUndefined();
    // The answer given at the attempt: a public address beside a loopback one is refused too,
    // as the connection could take either.
    const rebinding: Resolver = async (host) => (host === name ? [{ address: "203.0.113.9", family: 4 }, { address: "127.0.0.1", family: 4 }] : []);
    start({ webhookAllowHosts: [] }, rebinding);
    const r = await receiver();
    const hook = await register(`http://${name}:${r.port}/hooks`);
    await manager!.create({});
    const d = await finished(hook);
    expect(d).toMatchObject({ status: "failed", attempts: 1 });
    expect(d.last_error).toContain(`${name} resolves to 127.0.0.1, a loopback address`);
    expect(r.received).toEqual([]);
  });

  it("delivers to a name resolving to an address that webhookAllowHosts allows", async () => {
    const name = "hooks.example.test";
    start({ webhookAllowHosts: ["127.0.0.0/8"] }, async (host) => (host === name ? [{ address: "127.0.0.1", family: 4 }] : []));
    const r = await receiver();
    const hook = await register(`http://${name}:${r.port}/hooks`);
    await manager!.create({});
    expect(await finished(hook)).toMatchObject({ status: "delivered", attempts: 1 });
    expect(r.accepted()).toHaveLength(1);
  });

  it("refuses a literal private address stored before it was refused, without connecting", async () => {
    start({ webhookAllowHosts: [] });
    const r = await receiver();
    const hook = await register(`http://127.0.0.1:${r.port}/hooks`);
    await manager!.create({});
    const d = await finished(hook);
    expect(d).toMatchObject({ status: "failed", attempts: 1, last_error: "target refused: 127.0.0.1 is a loopback address; list it in webhookAllowHosts to allow it" });
    expect(r.received).toEqual([]);
  });

  it("does not follow a redirect: the 3xx fails the attempt and the address it points to gets nothing", async () => {
    start({ webhookAllowHosts: ["127.0.0.1"], webhookMaxAttempts: 1 });
    const r = await receiver();
    const redirector = createServer((req, res) => {
      req.resume();
      res.writeHead(307, { location: r.url }).end();
    });
    await new Promise<void>((resolve) => redirector.listen(0, "127.0.0.1", resolve));
    cleanups.push(
      () =>
        new Promise<void>((resolve) => {
          redirector.closeAllConnections();
          redirector.close(() => resolve());
        }),
    );
    const hook = await register(`http://127.0.0.1:${(redirector.address() as AddressInfo).port}/moved`);
    await manager!.create({});
    expect(await finished(hook)).toMatchObject({ status: "failed", attempts: 1, last_status_code: 307, last_error: "the receiver answered HTTP 307" });
    expect(r.received).toEqual([]);
  });
});

describe("config-file webhooks", () => {
  it("refuse to start on a target the policy refuses, naming the entry, and start when webhookAllowHosts lists it", async () => {
    const home = tempHome({ webhooks: [{ url: "https://hooks.example.test/x" }, { url: "http://169.254.169.254/latest/meta-data/" }] });
    const store = openSqliteStore(home.config);
    const manager = new SessionManager({ store, config: home.config });
    try {
      expect(() => startWebhooks({ config: home.config, bus: manager.bus, store })).toThrow(
        expect.objectContaining({ code: "validation", field: "config.webhooks.1.url", message: expect.stringContaining("169.254.169.254 is a cloud metadata address") }),
      );
      const allowed = resolveConfig({ env: { HOME: home.home }, flags: { ...home.config, webhookAllowHosts: ["169.254.169.254"] } });
      const sink = startWebhooks({ config: allowed, bus: manager.bus, store });
      expect((await sink.registrations()).map((w) => w.url).sort()).toEqual(["http://169.254.169.254/latest/meta-data/", "https://hooks.example.test/x"]);
      await sink.close();
    } finally {
      await manager.close();
      home.remove();
    }
  });
});
