import { mkdtempSync, rmSync } from "node:fs";
import { type Server, createServer, request as httpRequest } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { Session } from "../../src/core/index.js";
import { startEventSinks, webhookPayload } from "../../src/events/index.js";
import { createUnixSocketServer } from "../../src/server/unix-socket.js";
import { type TestServer, startServer } from "./harness.js";

vi.setConfig({ testTimeout: 60_000 });

/**
 * What no token but admin reads: a live session's saved environment (runtime_metadata.env), on
 * every route that answers a session; and webhook secrets, on every route.
 */

const AGENT = "secrets-agent-token-0123456789-abcdefghij";
const OTHER_AGENT = "secrets-other-agent-token-0123456789-abcdef";
const READER = "secrets-reader-token-0123456789-abcdefghij";
const tokens = [
  { token: AGENT, role: "agent", agent_id: "a1" },
  { token: OTHER_AGENT, role: "agent", agent_id: "a2" },
  { token: READER, role: "reader" },
];

/** A value that must never reach a non-admin token. */
const SAVED = "saved-env-value-5e1f";

let server: TestServer | undefined;
const closers: (() => Promise<unknown> | void)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
  await server?.close();
  server = undefined;
});

/** A session of agent a1 whose runtime_metadata holds a saved environment, as a live session's does. */
async function sessionWithSavedEnv(s: TestServer, name: string): Promise<Session> {
  return s.manager.create({
    name,
    kind: "agent",
    agent_id: "a1",
    runtime_metadata: { cwd: "/work", env: { NOTE: SAVED }, restarts: 0 },
  });
}

/** The session object in an answer (the answer itself, or its `session`). */
function sessionIn(body: any): any {
  return body && typeof body === "object" && "session" in body ? body.session : body;
}

describe("a session's saved environment (runtime_metadata.env)", () => {
  it("is left out of every session an agent token gets — reads, lists, PATCH, lifecycle, recover, restore answers — while the rest of runtime_metadata stays", async () => {
    const s = (server = await startServer({ tokens }));
    const session = await sessionWithSavedEnv(s, "env-agent");
    const id = session.id;
    const checkpoint = await s.manager.createCheckpoint(id, { label: "cp" });
    const answers: [string, { status: number; body: any }][] = [];
    const call = async (method: "GET" | "POST" | "PATCH", url: string, body?: unknown, headers?: Record<string, string>) => {
      const res = await s.json({ method, url, token: AGENT, ...(body !== undefined ? { body } : {}), ...(headers ? { headers } : {}) });
      answers.push([`${method} ${url}`, res]);
      return res;
    };
    await call("GET", `/sessions/${id}`);
    await call("GET", "/sessions/");
    await call("GET", "/sessions/?agent_id=a1&limit=10");
    await call("PATCH", `/sessions/${id}`, { task: "renamed" });
    await call("PATCH", `/sessions/${id}`, JSON.stringify({ metadata: { note2: 1 } }), { "content-type": "application/merge-patch+json" });
    await call("POST", `/sessions/${id}/pause`, {});
    await call("POST", `/sessions/${id}/resume`, {});
    await call("POST", `/sessions/${id}/iterations`, {});
    await call("POST", `/sessions/${id}/checkpoints/${checkpoint.id}/restore`, {});
    await call("POST", `/sessions/${id}/crash`, { reason: "test" });
    await call("POST", `/sessions/${id}/recover`, {});
    await call("POST", `/sessions/${id}/crash`, { reason: "again" });
    await call("POST", "/sessions/recover", {});
    await call("POST", `/sessions/${id}/complete`, {});
    for (const [what, res] of answers) {
      expect(res.status, what).toBeLessThan(300);
      expect(JSON.stringify(res.body), what).not.toContain(SAVED);
      const shown = Array.isArray(res.body) ? res.body.map(sessionIn) : [sessionIn(res.body)];
      expect(shown.length, what).toBeGreaterThan(0);
      for (const one of shown) {
        expect(one.runtime_metadata.cwd, what).toBe("/work");
        expect(one.runtime_metadata, what).not.toHaveProperty("env");
      }
    }
    // Nothing was lost: the server still holds the environment, and admin reads it.
    expect((await s.manager.get(id)).runtime_metadata.env).toEqual({ NOTE: SAVED });
    expect((await s.json({ method: "GET", url: `/sessions/${id}` })).body.runtime_metadata.env).toEqual({ NOTE: SAVED });
  });

  it("is left out for reader tokens too, and shown to the admin token and on the Unix socket", async () => {
    const s = (server = await startServer({ tokens }));
    const { id } = await sessionWithSavedEnv(s, "env-reader");
    for (const url of [`/sessions/${id}`, "/sessions/", `/sessions/?kind=agent`]) {
      const read = await s.json({ method: "GET", url, token: READER });
      expect(read.status, url).toBe(200);
      expect(JSON.stringify(read.body), url).not.toContain(SAVED);
    }
    expect((await s.json({ method: "GET", url: "/sessions/" })).body[0].runtime_metadata.env).toEqual({ NOTE: SAVED });

    const dir = mkdtempSync(join(tmpdir(), "sessiond-sock-"));
    const path = join(dir, "s.sock");
    const unix: Server = createUnixSocketServer(s.app);
    await new Promise<void>((resolve) => unix.listen(path, resolve));
    closers.push(() => rmSync(dir, { recursive: true, force: true }), () => new Promise((resolve) => unix.close(resolve)));
    const text = await new Promise<string>((resolve, reject) => {
      const req = httpRequest({ socketPath: path, path: `/sessions/${id}`, method: "GET" }, (res) => {
        let body = "";
        res.on("data", (c) => (body += c));
        res.on("end", () => resolve(body));
      });
      req.on("error", reject);
      req.end();
    });
    expect(JSON.parse(text).runtime_metadata.env).toEqual({ NOTE: SAVED });
  });

  it("gives an admin and an agent reading the same page at the same moment each their own view", async () => {
    const s = (server = await startServer({ tokens }));
    await sessionWithSavedEnv(s, "env-together");
    const url = "/sessions/?agent_id=a1";
    const [admin, agent, again] = await Promise.all([s.json({ method: "GET", url }), s.json({ method: "GET", url, token: AGENT }), s.json({ method: "GET", url })]);
    expect(admin.body[0].runtime_metadata.env).toEqual({ NOTE: SAVED });
    expect(again.body[0].runtime_metadata.env).toEqual({ NOTE: SAVED });
    expect(agent.body[0].runtime_metadata).not.toHaveProperty("env");
  });

  it("is not in a webhook payload, which carries no runtime_metadata", async () => {
    const s = (server = await startServer({ tokens }));
    const session = await sessionWithSavedEnv(s, "env-webhook");
    const [start] = await s.manager.listEvents(session.id, { limit: 1 });
    const payload = webhookPayload(session, { ...start!, type: "start" });
    expect(JSON.stringify(payload)).not.toContain(SAVED);
  });
});

describe("a live shell's environment", () => {
  it("keeps no secret-looking variable for recovery, shows agents none of it, and a recovered shell lacks exactly those", async () => {
    const s = (server = await startServer({ tokens, enableSessions: true, execRoles: ["admin", "agent"] }));
    closers.push(async () => {
      for (const info of s.app.sessiond.live.list()) await s.app.sessiond.live.stop(info.session_id).catch(() => {});
    });
    const started = await s.json({ method: "POST", url: "/sessions/", token: AGENT, body: { kind: "shell", env: { API_TOKEN: "tok-9c1", PLAIN_NOTE: "plain-4d2" } } });
    expect(started.status).toBe(201);
    const id = started.body.id as string;
    const exported = await s.json({
      method: "POST",
      url: `/sessions/${id}/exec`,
      token: AGENT,
      body: { input: "export DB_PASSWORD=pw-55e DATABASE_URL=postgres://app:url-pw-66@db/app KEEP_ME=kept-77" },
    });
    expect(exported.body.status).toBe("ok");
    // The export is saved by the session's state sync, right after an exec that may change it.
    let saved: Record<string, unknown> = {};
    for (let i = 0; i < 200 && saved.KEEP_ME === undefined; i++) {
      saved = ((await s.manager.get(id)).runtime_metadata.env ?? {}) as Record<string, unknown>;
      if (saved.KEEP_ME === undefined) await new Promise((r) => setTimeout(r, 25));
    }
    expect(saved).toMatchObject({ PLAIN_NOTE: "plain-4d2", KEEP_ME: "kept-77" });
    for (const secret of ["API_TOKEN", "DB_PASSWORD", "DATABASE_URL"]) expect(saved, secret).not.toHaveProperty(secret);

    const mine = await s.json({ method: "GET", url: `/sessions/${id}`, token: AGENT });
    expect(mine.body.runtime_metadata.cwd).toBeTypeOf("string");
    expect(mine.body.runtime_metadata).not.toHaveProperty("env");
    const list = await s.json({ method: "GET", url: "/session/list", token: AGENT });
    expect(list.body.map((i: { session_id: string }) => i.session_id)).toEqual([id]);
    expect(JSON.stringify(list.body)).not.toContain("kept-77");

    // Crash and recover: the new shell has the saved variables, not the secret ones.
    await s.json({ method: "POST", url: `/sessions/${id}/crash`, token: AGENT, body: { reason: "test" } });
    const recovered = await s.json({ method: "POST", url: `/sessions/${id}/recover`, token: AGENT, body: {} });
    expect(recovered.status).toBe(200);
    expect(recovered.body.session.runtime_metadata).not.toHaveProperty("env");
    let echo: any;
    for (let i = 0; i < 200; i++) {
      echo = await s.json({ method: "POST", url: `/sessions/${id}/exec`, token: AGENT, body: { input: 'echo "${KEEP_ME-unset} ${PLAIN_NOTE-unset} ${API_TOKEN-unset} ${DB_PASSWORD-unset} ${DATABASE_URL-unset}"' } });
      if (echo.status === 200) break;
      await new Promise((r) => setTimeout(r, 25));
    }
    expect(echo.body.stdout).toBe("kept-77 plain-4d2 unset unset unset\n");

    const stopped = await s.json({ method: "POST", url: `/sessions/${id}/stop`, token: AGENT });
    expect(stopped.status).toBe(200);
    expect(stopped.body.runtime_metadata).not.toHaveProperty("env");
    expect((await s.json({ method: "GET", url: `/sessions/${id}` })).body.runtime_metadata.env).toMatchObject({ KEEP_ME: "kept-77" });
  });
});

describe("webhook secrets", () => {
  it("are never returned: not when created, listed, read, nor in the delivery log — the receiver gets only the signature", async () => {
    const SECRET = "webhook-signing-secret-3b7d";
    const received: { headers: Record<string, unknown>; body: string }[] = [];
    const receiver = createServer((req, res) => {
      let body = "";
      req.on("data", (c) => (body += c));
      req.on("end", () => {
        received.push({ headers: req.headers, body });
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, "127.0.0.1", resolve));
    closers.push(() => new Promise((resolve) => receiver.close(resolve)));
    const { port } = receiver.address() as AddressInfo;
    const s = (server = await startServer({ webhookFlushIntervalMs: 0, webhookPollIntervalMs: 50, webhookAllowHosts: ["127.0.0.1"] }));
    const sinks = await startEventSinks({ config: s.config, manager: s.manager, store: s.store });
    closers.push(() => sinks.close());

    const created = await s.json({ method: "POST", url: "/webhooks", body: { url: `http://127.0.0.1:${port}/hook`, events: ["start"], secret: SECRET } });
    expect(created.status).toBe(201);
    expect(created.body.has_secret).toBe(true);
    await s.json({ method: "POST", url: "/sessions/", body: { kind: "agent" } });
    for (let i = 0; i < 400 && received.length === 0; i++) await new Promise((r) => setTimeout(r, 25));
    expect(received).toHaveLength(1);
    expect(JSON.stringify(received[0])).not.toContain(SECRET);

    const reads = [
      created.body,
      (await s.json({ method: "GET", url: "/webhooks" })).body,
      (await s.json({ method: "GET", url: `/webhooks/${created.body.id}` })).body,
      (await s.json({ method: "GET", url: `/webhooks/${created.body.id}/deliveries` })).body,
    ];
    for (const body of reads) expect(JSON.stringify(body)).not.toContain(SECRET);
    expect(reads[3]).toHaveLength(1);
  });
});
