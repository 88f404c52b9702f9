import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { newId } from "../../src/core/index.js";
import { startEventSinks } from "../../src/events/index.js";
import { PUBLIC_WEBHOOK_URLS, REFUSED_WEBHOOK_URLS } from "../events/support/refused-targets.js";
import { type TestServer, startServer } from "./harness.js";

const AGENT = "agent-token-0123456789-abcdefghij";
const READER = "reader-token-0123456789-abcdefghij";
const tokens = [
  { token: AGENT, role: "agent", agent_id: "a1" },
  { token: READER, role: "reader" },
];

let server: TestServer;
afterEach(async () => server?.close());

describe("/webhooks", () => {
  it("registers a webhook and answers with the record, the secret replaced by has_secret", async () => {
    server = await startServer();
    const created = await server.json({ method: "POST", url: "/webhooks", body: { url: "https://example.test/hook", events: ["complete", "error"], secret: "s3cret" } });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ url: "https://example.test/hook", events: ["complete", "error"], has_secret: true });
    expect(created.body.secret).toBeUndefined();
    expect(created.headers.location).toBe(`/webhooks/${created.body.id}`);

    const plain = await server.json({ method: "POST", url: "/webhooks", body: { url: "http://example.test:9/x" } });
    expect(plain.body).toMatchObject({ events: [], has_secret: false });

    const list = await server.json({ method: "GET", url: "/webhooks" });
    expect(list.status).toBe(200);
    expect(list.body.map((w: { id: string }) => w.id).sort()).toEqual([created.body.id, plain.body.id].sort());
    expect(JSON.stringify(list.body)).not.toContain("s3cret");

    const one = await server.json({ method: "GET", url: `/webhooks/${created.body.id}` });
    expect(one.body).toEqual(created.body);
    expect((await server.store.listWebhooks()).find((w) => w.id === created.body.id)?.secret).toBe("s3cret");
  });

  it("deletes a webhook, and answers 404 for an unknown one", async () => {
    server = await startServer();
    const { body } = await server.json({ method: "POST", url: "/webhooks", body: { url: "https://example.test/hook" } });
    expect((await server.request({ method: "DELETE", url: `/webhooks/${body.id}` })).statusCode).toBe(204);
    expect((await server.json({ method: "GET", url: "/webhooks" })).body).toEqual([]);
    const again = await server.json({ method: "DELETE", url: `/webhooks/${body.id}` });
    expect(again.status).toBe(404);
    expect(again.body.error.code).toBe("not_found");
    expect((await server.json({ method: "GET", url: "/webhooks/nope" })).status).toBe(404);
    expect((await server.json({ method: "GET", url: "/webhooks/nope/deliveries" })).status).toBe(404);
  });

  it("refuses a URL that is not http(s) and an unknown event, naming the field", async () => {
    server = await startServer();
    for (const url of ["ftp://example.test/x", "not a url", "file:///etc/passwd"]) {
      const res = await server.json({ method: "POST", url: "/webhooks", body: { url } });
      expect(res.status).toBe(400);
      expect(res.body.error).toMatchObject({ code: "validation", field: "url" });
    }
    const badEvent = await server.json({ method: "POST", url: "/webhooks", body: { url: "https://example.test/", events: ["start", "explode"] } });
    expect(badEvent.status).toBe(400);
    expect(badEvent.body.error.code).toBe("validation");
    expect(badEvent.body.error.field).toBe("events.1");
    expect((await server.json({ method: "POST", url: "/webhooks", body: { url: "https://example.test/", extra: 1 } })).status).toBe(400);
  });

  it("refuses private, loopback, link-local, metadata and unspecified targets and credentials in the URL with 400 naming url", async () => {
    server = await startServer();
    for (const url of REFUSED_WEBHOOK_URLS) {
      const res = await server.json({ method: "POST", url: "/webhooks", body: { url } });
      expect(res.status, url).toBe(400);
      expect(res.body.error, url).toMatchObject({ code: "validation", field: "url" });
      expect(res.body.error.message, url).toMatch(/webhookAllowHosts|credentials/);
    }
    expect(await server.store.listWebhooks()).toEqual([]);
    for (const url of PUBLIC_WEBHOOK_URLS) expect((await server.json({ method: "POST", url: "/webhooks", body: { url } })).status, url).toBe(201);
  });

  it("registers a private or local target that webhookAllowHosts lists by name, address or range, and nothing besides", async () => {
    server = await startServer({ webhookAllowHosts: ["127.0.0.1", "localhost", "10.0.0.0/8", "::1"] });
    for (const url of ["http://127.0.0.1:8080/hook", "http://[::ffff:127.0.0.1]/hook", "http://localhost:3001/hook", "http://10.200.0.1/hook", "http://[::1]:3001/hook"]) {
      expect((await server.json({ method: "POST", url: "/webhooks", body: { url } })).status, url).toBe(201);
    }
    for (const url of ["http://127.0.0.2/hook", "http://192.168.1.10/hook", "http://169.254.169.254/", "http://user:pw@127.0.0.1/hook"]) {
      expect((await server.json({ method: "POST", url: "/webhooks", body: { url } })).status, url).toBe(400);
    }
  });

  it("refuses to start with a webhookAllowHosts entry that is no host, address or range", async () => {
    await expect(startServer({ webhookAllowHosts: ["10.0.0.0/40"] })).rejects.toThrow(/webhookAllowHosts\[0\]/);
  });

  it("pages through a webhook's deliveries, newest first", async () => {
    server = await startServer();
    const { body: hook } = await server.json({ method: "POST", url: "/webhooks", body: { url: "https://example.test/hook" } });
    const ids: string[] = [];
    for (let seq = 1; seq <= 3; seq++) {
      const id = newId();
      ids.push(id);
      await server.store.putWebhookDeliveries([
        {
          id,
          webhook_id: hook.id,
          event: "start",
          session_id: "s1",
          seq,
          status: "pending",
          attempts: 0,
          last_status_code: null,
          last_error: null,
          next_attempt_at: new Date(Date.now() + 3_600_000).toISOString(),
          created_at: new Date().toISOString(),
          delivered_at: null,
          body: "{}",
        },
      ]);
    }
    const first = await server.json({ method: "GET", url: `/webhooks/${hook.id}/deliveries?limit=2` });
    expect(first.status).toBe(200);
    expect(first.body).toHaveLength(2);
    expect(first.body[0]).toMatchObject({ webhook_id: hook.id, status: "pending", session_id: "s1" });
    const cursor = first.headers["x-next-cursor"] as string;
    expect(cursor).toBeTruthy();
    const second = await server.json({ method: "GET", url: `/webhooks/${hook.id}/deliveries?limit=2&cursor=${encodeURIComponent(cursor)}` });
    expect(second.body).toHaveLength(1);
    expect([...first.body, ...second.body].map((d: { id: string }) => d.id).sort()).toEqual(ids.sort());
    expect((await server.json({ method: "GET", url: `/webhooks/${hook.id}/deliveries` })).body).toHaveLength(3);
  });

  it("is for admin tokens only: agent and reader tokens get 403", async () => {
    server = await startServer({ tokens });
    const { body: hook } = await server.json({ method: "POST", url: "/webhooks", body: { url: "https://example.test/hook" } });
    for (const token of [AGENT, READER]) {
      for (const [method, url] of [
        ["POST", "/webhooks"],
        ["GET", "/webhooks"],
        ["GET", `/webhooks/${hook.id}`],
        ["DELETE", `/webhooks/${hook.id}`],
        ["GET", `/webhooks/${hook.id}/deliveries`],
      ] as const) {
        const res = await server.json({ method, url, token, ...(method === "POST" ? { body: { url: "https://example.test/x" } } : {}) });
        expect(res.status, `${method} ${url}`).toBe(403);
        expect(res.body.error.code).toBe("forbidden");
      }
    }
    expect((await server.json({ method: "GET", url: "/webhooks" })).body).toHaveLength(1);
  });
});

describe("a webhook registered over HTTP", () => {
  it("receives the session's events, and its delivery log shows them delivered", async () => {
    const received: { event: string; body: string }[] = [];
    const receiver = createServer((req, res) => {
      let body = "";
      req.on("data", (c) => (body += c));
      req.on("end", () => {
        received.push({ event: String(JSON.parse(body).event ?? ""), body });
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, "127.0.0.1", resolve));
    const { port } = receiver.address() as AddressInfo;
    server = await startServer({ webhookFlushIntervalMs: 0, webhookPollIntervalMs: 50, webhookAllowHosts: ["127.0.0.1"] });
    const sinks = await startEventSinks({ config: server.config, manager: server.manager, store: server.store });
    try {
      const { body: hook } = await server.json({ method: "POST", url: "/webhooks", body: { url: `http://127.0.0.1:${port}/hook`, events: ["start", "complete"], secret: "k" } });
      const { body: session } = await server.json({ method: "POST", url: "/sessions/", body: { kind: "agent" } });
      await server.json({ method: "POST", url: `/sessions/${session.id}/complete` });
      const deadline = Date.now() + 10_000;
      const delivered = async () => (await server!.json({ method: "GET", url: `/webhooks/${hook.id}/deliveries` })).body as { status: string; event: string }[];
      while ((await delivered()).filter((d) => d.status === "delivered").length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      expect((await delivered()).map((d) => [d.event, d.status]).sort()).toEqual([
        ["complete", "delivered"],
        ["start", "delivered"],
      ]);
      expect(received.map((r) => r.event).sort()).toEqual(["complete", "start"]);
    } finally {
      await sinks.close();
      await new Promise((resolve) => receiver.close(resolve));
    }
  });
});
