import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { dataPaths, resolveConfig } from "../../src/core/index.js";
import { SessionManager } from "../../src/engine/index.js";
import { REDACTED_PATHS, buildApp, ensureAdminToken } from "../../src/server/index.js";
import { openSqliteStore } from "../../src/store/index.js";
import { type TestServer, startServer } from "./harness.js";

const AGENT_TOKEN = "agent-a-token-0123456789-abcdefghij";
const OTHER_AGENT_TOKEN = "agent-b-token-0123456789-abcdefghij";
const USER_TOKEN = "user-u1-token-0123456789-abcdefghij";
const READER_TOKEN = "reader-token-0123456789-abcdefghij";
// A fresh copy per use: resolveConfig freezes what it is given.
const tokens = () => [
  { token: AGENT_TOKEN, role: "agent", agent_id: "agent-a", name: "agent-a" },
  { token: OTHER_AGENT_TOKEN, role: "agent", agent_id: "agent-b", name: "agent-b" },
  { token: USER_TOKEN, role: "agent", user_id: "u1", name: "user-u1" },
  { token: READER_TOKEN, role: "reader", name: "reader" },
];

let server: TestServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

describe("bearer tokens over TCP", () => {
  it("refuses a request without a token with 401 and WWW-Authenticate", async () => {
    server = await startServer();
    const res = await server.json({ method: "GET", url: "/sessions/", token: null });
    expect(res.status).toBe(401);
    expect(res.body.error.code).toBe("unauthorized");
    expect(res.headers["www-authenticate"]).toContain("Bearer");
  });

  it("refuses a wrong token and a malformed header, without echoing the token", async () => {
    server = await startServer();
    const wrong = await server.request({ method: "GET", url: "/sessions/", token: "not-the-token-at-all" });
    expect(wrong.statusCode).toBe(401);
    expect(wrong.body).not.toContain("not-the-token-at-all");
    const basic = await server.json({ method: "GET", url: "/sessions/", headers: { authorization: `Basic ${server.token}` } });
    expect(basic.status).toBe(401);
    expect(basic.body.error.message).toContain("Bearer");
  });

  it("writes the admin token once, mode 0600, and reuses it on the next start", async () => {
    server = await startServer();
    const path = dataPaths(server.config).token;
    expect(statSync(path).mode & 0o777).toBe(0o600);
    const again = ensureAdminToken(server.config);
    expect(again).toEqual({ token: server.token, created: false, tightened: false });
    expect(server.token.length).toBeGreaterThanOrEqual(40);
  });

  it("lets health checks, the OpenAPI document and the docs page through without a token", async () => {
    server = await startServer();
    for (const url of ["/healthz", "/readyz", "/openapi.json", "/docs", "/docs/static/swagger-ui.css"]) {
      expect((await server.request({ method: "GET", url, token: null })).statusCode, url).toBe(200);
    }
    expect((await server.request({ method: "GET", url: "/metrics", token: null })).statusCode).toBe(401);
  });
});

describe("a reader token", () => {
  it("may GET and nothing else", async () => {
    server = await startServer({ tokens: tokens() });
    const s = (await server.json({ method: "POST", url: "/sessions/", body: {} })).body;
    expect((await server.request({ method: "GET", url: `/sessions/${s.id}`, token: READER_TOKEN })).statusCode).toBe(200);
    expect((await server.request({ method: "GET", url: "/sessions/", token: READER_TOKEN })).statusCode).toBe(200);
    for (const [method, url] of [
      ["POST", "/sessions/"],
      ["PATCH", `/sessions/${s.id}`],
      ["DELETE", `/sessions/${s.id}`],
      ["POST", `/sessions/${s.id}/pause`],
      ["POST", `/sessions/${s.id}/events`],
      ["PUT", `/sessions/${s.id}/artifacts/files/x.txt`],
    ] as const) {
      const res = await server.json({ method, url, body: {}, token: READER_TOKEN });
      expect(res.status, `${method} ${url}`).toBe(403);
      expect(res.body.error.code).toBe("forbidden");
    }
    expect((await server.json({ method: "GET", url: `/sessions/${s.id}` })).body.status).toBe("active");
  });
});

describe("an agent token", () => {
  async function twoAgents() {
    server = await startServer({ tokens: tokens() });
    const mine = (await server.json({ method: "POST", url: "/sessions/", body: { name: "mine" }, token: AGENT_TOKEN })).body;
    const theirs = (await server.json({ method: "POST", url: "/sessions/", body: { name: "theirs" }, token: OTHER_AGENT_TOKEN })).body;
    const theirCheckpoint = (await server.json({ method: "POST", url: `/sessions/${theirs.id}/checkpoints`, body: { data: { x: 1 } }, token: OTHER_AGENT_TOKEN })).body;
    return { s: server, mine, theirs, theirCheckpoint };
  }

  it("creates sessions owned by its agent, and may not claim another agent", async () => {
    const { s, mine } = await twoAgents();
    expect(mine.agent_id).toBe("agent-a");
    const claim = await s.json({ method: "POST", url: "/sessions/", body: { agent_id: "agent-b" }, token: AGENT_TOKEN });
    expect(claim.status).toBe(403);
    expect(claim.body.error.field).toBe("agent_id");
    const handOver = await s.json({ method: "PATCH", url: `/sessions/${mine.id}`, body: { agent_id: "agent-b" }, token: AGENT_TOKEN });
    expect(handOver.status).toBe(403);
  });

  it("cannot read another agent's session: it answers 404, by id and by name", async () => {
    const { s, theirs } = await twoAgents();
    for (const ref of [theirs.id, theirs.name]) {
      const res = await s.json({ method: "GET", url: `/sessions/${ref}`, token: AGENT_TOKEN });
      expect(res.status).toBe(404);
      expect(res.body).toEqual({ error: { code: "not_found", message: `session ${ref} not found` } });
    }
    for (const url of [`/sessions/${theirs.id}/events`, `/sessions/${theirs.id}/metrics`, `/sessions/${theirs.id}/state`, `/sessions/${theirs.id}/artifacts`]) {
      expect((await s.request({ method: "GET", url, token: AGENT_TOKEN })).statusCode, url).toBe(404);
    }
  });

  it("lists only its own sessions, even when it asks for another agent's", async () => {
    const { s, mine } = await twoAgents();
    const list = await s.json({ method: "GET", url: "/sessions/", token: AGENT_TOKEN });
    expect(list.body.map((x: { id: string }) => x.id)).toEqual([mine.id]);
    const asked = await s.json({ method: "GET", url: "/sessions/?agent_id=agent-b", token: AGENT_TOKEN });
    expect(asked.status).toBe(200);
    expect(asked.body).toEqual([]);
    const stats = await s.json({ method: "GET", url: "/stats", token: AGENT_TOKEN });
    expect(stats.body.total).toBe(1);
    expect((await s.json({ method: "GET", url: "/stats?agent_id=agent-b", token: AGENT_TOKEN })).body.total).toBe(0);
  });

  it("cannot patch, delete, act on, append to, checkpoint, restore or fork another agent's session", async () => {
    const { s, theirs, theirCheckpoint } = await twoAgents();
    const before = (await s.json({ method: "GET", url: `/sessions/${theirs.id}` })).body;
    const attempts = [
      ["PATCH", `/sessions/${theirs.id}`, { status: "paused" }],
      ["DELETE", `/sessions/${theirs.id}`, undefined],
      ["POST", `/sessions/${theirs.id}/pause`, {}],
      ["POST", `/sessions/${theirs.id}/complete`, {}],
      ["POST", `/sessions/${theirs.id}/events`, { type: "note" }],
      ["POST", `/sessions/${theirs.id}/iterations`, {}],
      ["POST", `/sessions/${theirs.id}/checkpoints`, { data: {} }],
      ["GET", `/sessions/${theirs.id}/checkpoints`, undefined],
      ["GET", `/sessions/${theirs.id}/checkpoints/${theirCheckpoint.id}`, undefined],
      ["POST", `/sessions/${theirs.id}/checkpoints/${theirCheckpoint.id}/restore`, {}],
      ["POST", `/sessions/${theirs.id}/checkpoints/${theirCheckpoint.id}/fork`, {}],
      ["PUT", `/sessions/${theirs.id}/artifacts/files/x.txt`, "data"],
    ] as const;
    for (const [method, url, body] of attempts) {
      const res = await s.json({ method, url, token: AGENT_TOKEN, ...(body !== undefined ? { body } : {}) });
      expect(res.status, `${method} ${url}`).toBe(404);
    }
    const after = (await s.json({ method: "GET", url: `/sessions/${theirs.id}` })).body;
    expect(after).toEqual(before);
    expect((await s.json({ method: "GET", url: `/sessions/${theirs.id}/artifacts` })).body).toEqual([]);
    expect((await s.json({ method: "GET", url: "/sessions/", token: OTHER_AGENT_TOKEN })).body).toHaveLength(1);
  });

  it("works on its own sessions: patch, checkpoint, fork (the fork stays its own), delete", async () => {
    const { s, mine } = await twoAgents();
    expect((await s.json({ method: "PATCH", url: `/sessions/${mine.id}`, body: { context: { a: 1 } }, token: AGENT_TOKEN })).status).toBe(200);
    const cp = await s.json({ method: "POST", url: `/sessions/${mine.id}/checkpoints`, body: {}, token: AGENT_TOKEN });
    const fork = await s.json({ method: "POST", url: `/sessions/${mine.id}/checkpoints/${cp.body.id}/fork`, body: {}, token: AGENT_TOKEN });
    expect(fork.status).toBe(201);
    expect(fork.body.agent_id).toBe("agent-a");
    expect((await s.request({ method: "DELETE", url: `/sessions/${mine.id}`, token: AGENT_TOKEN })).statusCode).toBe(204);
  });

  it("may not read the server's metrics, which count every agent's sessions", async () => {
    server = await startServer({ tokens: tokens() });
    expect((await server.json({ method: "GET", url: "/metrics", token: AGENT_TOKEN })).status).toBe(403);
    expect((await server.request({ method: "GET", url: "/metrics", token: READER_TOKEN })).statusCode).toBe(200);
  });

  it("may not run bulk cleanup, and recovers only its own crashed sessions", async () => {
    const { s, mine, theirs } = await twoAgents();
    const cleanup = await s.json({ method: "POST", url: "/sessions/cleanup", body: { older_than_days: 0 }, token: AGENT_TOKEN });
    expect(cleanup.status).toBe(403);
    await s.json({ method: "POST", url: `/sessions/${mine.id}/crash` });
    await s.json({ method: "POST", url: `/sessions/${theirs.id}/crash` });
    const recovered = await s.json({ method: "POST", url: "/sessions/recover", body: {}, token: AGENT_TOKEN });
    expect(recovered.body.map((r: { session: { id: string } }) => r.session.id)).toEqual([mine.id]);
    expect((await s.json({ method: "GET", url: `/sessions/${theirs.id}` })).body.status).toBe("crashed");
  });

  it("can be bound to a user_id instead of an agent_id", async () => {
    server = await startServer({ tokens: tokens() });
    const own = await server.json({ method: "POST", url: "/sessions/", body: { agent_id: "any" }, token: USER_TOKEN });
    expect(own.body.user_id).toBe("u1");
    const other = (await server.json({ method: "POST", url: "/sessions/", body: { user_id: "u2" } })).body;
    expect((await server.request({ method: "GET", url: `/sessions/${other.id}`, token: USER_TOKEN })).statusCode).toBe(404);
    expect((await server.json({ method: "GET", url: "/sessions/", token: USER_TOKEN })).body.map((x: { id: string }) => x.id)).toEqual([own.body.id]);
  });
});

describe("configuration of auth", () => {
  it("refuses an agent token bound to nothing", async () => {
    await expect(startServer({ tokens: [{ token: "x".repeat(20), role: "agent" }] })).rejects.toThrow(/agent_id or a user_id/);
  });

  it("refuses to turn auth off on a non-loopback address", async () => {
    await expect(startServer({ auth: false, host: "0.0.0.0" })).rejects.toThrow(/not a loopback address/);
  });

  it("refuses to turn auth off while sandboxed live sessions share the host's network, which would let their code in as admin", async () => {
    await expect(startServer({ auth: false, host: "127.0.0.1", enableSessions: true, sandbox: "bwrap", sandboxNetwork: true })).rejects.toThrow(/live sessions share this host's network/);
    // A session network of its own keeps them out: allowed.
    server = await startServer({ auth: false, host: "127.0.0.1", enableSessions: true, sandbox: "bwrap", sandboxNetwork: false });
    expect((await server.request({ method: "GET", url: "/sessions/", token: null })).statusCode).toBe(200);
  });

  it("serves without tokens when auth is off on loopback", async () => {
    server = await startServer({ auth: false, host: "127.0.0.1" });
    expect((await server.request({ method: "GET", url: "/sessions/", token: null })).statusCode).toBe(200);
  });
});

describe("logging", () => {
  it("never writes a token to the log, even at trace level and on failures", async () => {
    const home = mkdtempSync(join(tmpdir(), "sessiond-log-"));
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk, _encoding, done) {
        lines.push(String(chunk));
        done();
      },
    });
    const config = resolveConfig({ env: { HOME: home }, flags: { home, logLevel: "trace", tokens: tokens() } });
    const logger = pino({ level: "trace", redact: { paths: REDACTED_PATHS, censor: "[redacted]" } }, sink);
    const manager = new SessionManager({ store: openSqliteStore(config), config });
    const app = await buildApp({ config, manager, logger });
    const admin = readFileSync(dataPaths(config).token, "utf8").trim();
    try {
      for (const token of [admin, AGENT_TOKEN, READER_TOKEN, "wrong-token-abcdefghij"]) {
        await app.inject({ method: "GET", url: "/sessions/", headers: { authorization: `Bearer ${token}` } });
        await app.inject({ method: "POST", url: "/sessions/", headers: { authorization: `Bearer ${token}` }, payload: { bogus: 1 } });
      }
      app.log.info({ req: { headers: { authorization: `Bearer ${admin}` } }, token: admin }, "a careless log line");
      const text = lines.join("");
      expect(lines.length).toBeGreaterThan(4);
      for (const secret of [admin, AGENT_TOKEN, READER_TOKEN]) expect(text).not.toContain(secret);
    } finally {
      await app.close();
      await manager.close();
      rmSync(home, { recursive: true, force: true });
    }
  });
});
