/**
 * The routes the SDK grew with the server: webhooks, artifacts, seed 000's live routes, readiness
 * and metrics — each against a real server over a loopback port.
 */
import { afterEach, describe, expect, it } from "vitest";
import { type SessiondClient, SessiondError } from "sessiond/client";
import { startEventSinks } from "../../src/events/index.js";
import { type TestServer, startServer } from "../server/harness.js";
import { connectClient } from "./support/connect.js";
import { startReceiver } from "../events/support/receiver.js";
import { waitFor } from "../events/support/wait.js";

describe("sessiond/client, the rest of the API", () => {
  let server: TestServer | undefined;
  let client: SessiondClient | undefined;

  afterEach(async () => {
    await client?.close();
    await server?.close();
    client = undefined;
    server = undefined;
  });

  async function connect(flags: Record<string, unknown> = {}): Promise<SessiondClient> {
    // The webhook tests register loopback targets, which only webhookAllowHosts lets through.
    server = await startServer({ webhookAllowHosts: ["127.0.0.1"], ...flags });
    client = await connectClient(server);
    return client;
  }

  it("registers, lists, reads and deletes webhooks, and pages an empty delivery log", async () => {
    const c = await connect();
    const hook = await c.webhooks.create({ url: "http://127.0.0.1:9/hooks", events: ["start", "complete"], secret: "s3cret" });
    expect(hook).toMatchObject({ url: "http://127.0.0.1:9/hooks", events: ["start", "complete"], has_secret: true });
    expect(hook).not.toHaveProperty("secret");
    const open = await c.webhooks.create({ url: "https://example.com/all" });
    expect(open).toMatchObject({ events: [], has_secret: false });

    expect((await c.webhooks.list()).map((w) => w.id).sort()).toEqual([hook.id, open.id].sort());
    expect(await c.webhooks.get(hook.id)).toEqual(hook);
    expect(await c.webhooks.deliveries(hook.id)).toEqual({ items: [], next_cursor: null });

    await c.webhooks.delete(hook.id);
    await expect(c.webhooks.get(hook.id)).rejects.toMatchObject({ code: "not_found", status: 404 });
    await expect(c.webhooks.delete(hook.id)).rejects.toMatchObject({ code: "not_found" });
    await expect(c.webhooks.deliveries("no-such-hook")).rejects.toMatchObject({ code: "not_found" });
  });

  it("pages a webhook's delivery log with cursors, newest first, and iterates all of it", async () => {
    const c = await connect();
    const sinks = await startEventSinks({ config: server!.config, manager: server!.manager, store: server!.store });
    const receiver = await startReceiver();
    try {
      const hook = await c.webhooks.create({ url: receiver.url, events: ["start"] });
      const created = [];
      for (let i = 0; i < 5; i++) created.push((await c.sessions.createSession({ name: `hooked-${i}` })).id);
      await waitFor("five deliveries", () => receiver.accepted().length === 5);
      const first = await c.webhooks.deliveries(hook.id, { limit: 2 });
      expect(first.items).toHaveLength(2);
      expect(first.next_cursor).toEqual(expect.any(String));
      const second = await c.webhooks.deliveries(hook.id, { limit: 2, cursor: first.next_cursor! });
      expect(second.items.map((d) => d.id)).not.toContain(first.items[0]!.id);
      const all = [];
      for await (const d of c.webhooks.iterateDeliveries(hook.id, 2)) all.push(d);
      expect(all.map((d) => d.session_id)).toEqual([...created].reverse());
      expect(all.every((d) => d.status === "delivered" && d.event === "start" && JSON.parse(d.body).event === "start")).toBe(true);
    } finally {
      await sinks.close();
      await receiver.close();
    }
  });

  it("refuses a webhook with a bad URL or an unknown event, naming the field", async () => {
    const c = await connect();
    const bad = await c.webhooks.create({ url: "ftp://example.com/x" }).catch((err: unknown) => err);
    expect(bad).toBeInstanceOf(SessiondError);
    expect(bad).toMatchObject({ code: "validation", status: 400, field: "url" });
    await expect(c.webhooks.create({ url: "http://127.0.0.1/x", events: ["explode" as never] })).rejects.toMatchObject({ code: "validation", status: 400 });
    expect(await c.webhooks.list()).toEqual([]);
  });

  it("uploads, lists, downloads (byte for byte) and deletes a session's artifacts", async () => {
    const c = await connect();
    const s = await c.sessions.createSession({ name: "artifact-owner" });
    const text = await c.artifacts.upload(s.id, "logs", "build/out put.txt", "line 1\nline 2\n", "text/plain");
    expect(text).toMatchObject({ category: "logs", path: "build/out put.txt", type: "file", size: 14, created: true });
    const replaced = await c.artifacts.upload("artifact-owner", "logs", "build/out put.txt", "v2\n", "text/plain");
    expect(replaced).toMatchObject({ size: 3, created: false });

    const binary = Buffer.from([0, 255, 1, 254, 0x80, 0x0a]);
    await c.artifacts.upload(s.id, "screenshots", "shot.png", binary, "image/png");

    const all = await c.artifacts.list(s.id);
    expect(all.truncated).toBe(false);
    expect(all.entries.filter((e) => e.type === "file").map((e) => `${e.category}/${e.path}`).sort()).toEqual(["logs/build/out put.txt", "screenshots/shot.png"]);
    expect((await c.artifacts.list(s.id, "screenshots")).entries.map((e) => e.path)).toEqual(["shot.png"]);

    const down = await c.artifacts.download(s.id, "screenshots", "shot.png");
    expect(down.bytes.equals(binary)).toBe(true);
    expect(down.content_type).toBe("image/png");
    expect((await c.artifacts.download(s.id, "logs", "build/out put.txt")).bytes.toString()).toBe("v2\n");

    await c.artifacts.delete(s.id, "logs", "build");
    await expect(c.artifacts.download(s.id, "logs", "build/out put.txt")).rejects.toMatchObject({ code: "not_found" });
  });

  it("drives a live shell through seed 000's /session routes: start, list, exec, logs, stop", async () => {
    const c = await connect({ enableSessions: true });
    const started = await c.live.start("shell", { name: "seed000-shell" });
    expect(started).toEqual({ id: expect.any(String), startedAt: expect.any(String) });
    try {
      expect((await c.live.list()).map((info) => info.session_id)).toContain(started.id);
      const result = await c.live.exec(started.id, "echo seed-$((6 * 7))");
      expect(result).toMatchObject({ stdout: "seed-42\n", exit_code: 0, status: "ok" });
      const failed = await c.live.exec(started.id, "false");
      expect(failed).toMatchObject({ exit_code: 1, status: "error" });
      expect((await c.live.logs(started.id)).map((r) => r.input)).toEqual(["echo seed-$((6 * 7))", "false"]);
      expect((await c.live.logs(started.id, { since: result.seq })).map((r) => r.input)).toEqual(["false"]);
    } finally {
      const stopped = await c.live.stop(started.id);
      expect(stopped.status).toBe("completed");
    }
    await expect(c.live.start("cobol")).rejects.toMatchObject({ code: "validation", field: "mode" });
  });

  it("reports readiness and serves the Prometheus metrics text", async () => {
    const c = await connect();
    await expect(c.ready()).resolves.toBeUndefined();
    await c.sessions.createSession({});
    const text = await c.metricsText();
    expect(text).toMatch(/^# HELP /m);
    expect(text).toMatch(/^sessiond_\w+/m);
  });
});
