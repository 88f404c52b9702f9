import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { type IncomingMessage, request as httpRequest } from "node:http";
import { type Server as NetServer, type Socket, connect, createServer as createNetServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import type { FastifyInstance } from "fastify";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { dataPaths, newId, resolveConfig } from "../../src/core/index.js";
import { type OwnerNode, type Placement, SessionManager, type SessionPlacement } from "../../src/engine/index.js";
import { buildApp, createUnixSocketServer, listenOnSocket } from "../../src/server/index.js";
import { openSqliteStore } from "../../src/store/index.js";
import { freePort } from "../helpers/ports.js";
import { startServer } from "./harness.js";

/**
 * Forwarding between two real nodes on loopback ports (src/server/cluster): node A is told by a
 * test placement which sessions node B owns, and must relay those requests to B — REST with
 * bodies, SSE, WebSocket upgrades — and answer them itself when the owner cannot be reached and
 * the placement says so. Each node has its own SQLite store; a session "owned by B" exists in
 * both under one id with different names, so an answer shows which node's copy it came from.
 */

/** Says which sessions other nodes own, and records what forwarding asks it. */
class TestPlacement implements SessionPlacement {
  readonly owners = new Map<string, OwnerNode>();
  /** What placeAfterFailure answers per session (default: here). */
  readonly afterFailure = new Map<string, Placement>();
  readonly placed: string[] = [];
  readonly failures: Array<{ sessionId: string; owner: string }> = [];

  constructor(readonly nodeName: string) {}

  async place(sessionId: string): Promise<Placement> {
    this.placed.push(sessionId);
    const owner = this.owners.get(sessionId);
    return owner ? { here: false, owner } : { here: true };
  }

  /** What placeKnown answers per session (default: memory knows nothing). */
  readonly known = new Map<string, Placement>();

  placeKnown(sessionId: string): Placement | undefined {
    return this.known.get(sessionId);
  }

  /** What peers answers (default: none). */
  readonly peerNodes: OwnerNode[] = [];

  async peers(): Promise<Array<OwnerNode & { url: string }>> {
    return this.peerNodes.flatMap((node) => (node.url === null ? [] : [{ ...node, url: node.url }]));
  }

  async placeAfterFailure(sessionId: string, owner: OwnerNode): Promise<Placement> {
    this.failures.push({ sessionId, owner: owner.name });
    return this.afterFailure.get(sessionId) ?? { here: true };
  }
}

interface TestNode {
  readonly name: string;
  readonly app: FastifyInstance;
  readonly placement: TestPlacement;
  /** http://127.0.0.1:<port> */
  readonly url: string;
  readonly home: string;
  /** This node as another node knows it. */
  readonly asOwner: OwnerNode;
  close(): Promise<void>;
}

/** The admin token every node shares, as a cluster's nodes must. */
const TOKEN = randomBytes(32).toString("base64url");
const AUTH = { authorization: `Bearer ${TOKEN}` };

async function startNode(name: string, flags: Record<string, unknown> = {}): Promise<TestNode> {
  const home = mkdtempSync(join(tmpdir(), "sessiond-forwarding-"));
  const config = resolveConfig({ env: { HOME: home }, flags: { home, logLevel: "silent", sqliteSynchronous: "normal", port: 0, ...flags } });
  const tokenFile = dataPaths(config).token;
  mkdirSync(dirname(tokenFile), { recursive: true, mode: 0o700 });
  writeFileSync(tokenFile, `${TOKEN}\n`, { mode: 0o600 });
  const store = openSqliteStore(config);
  const manager = new SessionManager({ store, config });
  const placement = new TestPlacement(name);
  const app = await buildApp({ config, manager, store, cluster: placement });
  await app.listen({ host: "127.0.0.1", port: 0 });
  const { port } = app.server.address() as { port: number };
  const url = `http://127.0.0.1:${port}`;
  let closed = false;
  return {
    name,
    app,
    placement,
    url,
    home,
    asOwner: { id: `id-${name}`, name, url },
    async close() {
      if (closed) return;
      closed = true;
      await app.close();
      await manager.close();
      rmSync(home, { recursive: true, force: true });
    },
  };
}

let a: TestNode;
let b: TestNode;
const cleanups: Array<() => Promise<void> | void> = [];

beforeEach(async () => {
  b = await startNode("node-b");
  a = await startNode("node-a");
});

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  // The forwarding node first: it holds connections to the owner.
  await a.close();
  await b.close();
});

/** A plain HTTP request; the body read whole. */
function send(
  url: string,
  options: { method?: string; path: string; headers?: Record<string, string>; body?: string | string[]; socketPath?: string; token?: false },
): Promise<{ status: number; headers: IncomingMessage["headers"]; text: string; json: any }> {
  return new Promise((resolve, reject) => {
    const target = new URL(options.path, url);
    const req = httpRequest(
      {
        ...(options.socketPath ? { socketPath: options.socketPath } : { hostname: target.hostname, port: target.port }),
        path: target.pathname + target.search,
        method: options.method ?? "GET",
        headers: { ...(options.token === false ? {} : AUTH), ...(options.headers ?? {}) },
        agent: false,
      },
      (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => (text += chunk));
        res.on("end", () => resolve({ status: res.statusCode!, headers: res.headers, text, json: text && res.headers["content-type"]?.includes("json") ? JSON.parse(text) : undefined }));
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    // Several parts go out as several chunks (no Content-Length: chunked).
    for (const part of [options.body ?? []].flat()) req.write(part);
    req.end();
  });
}

/** Creates the same session (one id) on each node, its task (and name) naming the node, and returns its id. */
async function sessionOnBoth(...nodes: TestNode[]): Promise<string> {
  const id = newId();
  for (const node of nodes) {
    const res = await send(node.url, { method: "POST", path: "/sessions", headers: { "content-type": "application/json" }, body: JSON.stringify({ id, name: `${node.name}-${id.slice(-8)}`, task: `task-on-${node.name}` }) });
    expect(res.status).toBe(201);
  }
  return id;
}

/** A node that takes connections and drops them once it has read a few bytes: the owner died with the request in hand. */
async function droppingNode(): Promise<OwnerNode> {
  const server: NetServer = createNetServer((socket) => socket.once("data", () => socket.destroy()));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const { port } = server.address() as { port: number };
  return { id: "id-dropping", name: "node-dropping", url: `http://127.0.0.1:${port}` };
}

/** A node nothing listens for. */
async function deadNode(): Promise<OwnerNode> {
  return { id: "id-dead", name: "node-dead", url: `http://127.0.0.1:${await freePort()}` };
}

/** Collects an SSE response's text; `until` waits for what it has so far to satisfy `check`. */
function sseReader(res: IncomingMessage): { until(check: (text: string) => boolean): Promise<string> } {
  let text = "";
  let waiter: (() => void) | undefined;
  res.setEncoding("utf8");
  res.on("data", (chunk: string) => {
    text += chunk;
    waiter?.();
  });
  return {
    until: (check) =>
      new Promise((resolve, reject) => {
        const onEnd = () => reject(new Error(`the stream ended: ${text}`));
        waiter = () => {
          if (!check(text)) return;
          waiter = undefined;
          res.off("end", onEnd);
          resolve(text);
        };
        res.once("end", onEnd);
        waiter();
      }),
  };
}

function openSse(url: string, path: string): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const target = new URL(path, url);
    const req = httpRequest({ hostname: target.hostname, port: target.port, path: target.pathname + target.search, headers: { ...AUTH, accept: "text/event-stream" }, agent: false }, resolve);
    req.once("error", reject);
    req.end();
    cleanups.push(() => void req.destroy());
  });
}

/** A WebSocket client on `path`, with the upgrade's answer (101 or a refusal). */
function openWs(url: string, path: string): Promise<{ ws: WebSocket; res: IncomingMessage; messages: string[] }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${url.replace(/^http/, "ws")}${path}`, { headers: AUTH });
    const messages: string[] = [];
    ws.on("message", (data) => messages.push(String(data)));
    ws.once("upgrade", (res) => ws.once("open", () => resolve({ ws, res, messages })));
    ws.once("unexpected-response", (_req, res) => {
      ws.on("error", () => undefined);
      resolve({ ws, res, messages });
    });
    ws.once("error", reject);
    cleanups.push(() => ws.terminate());
  });
}

/** Calls `attempt` until `ok` says its result will do (bounded); the result. */
async function eventually<T>(attempt: () => Promise<T>, ok: (value: T) => boolean, what: string): Promise<T> {
  let value = await attempt();
  for (let i = 0; i < 100 && !ok(value); i++) {
    await new Promise((r) => setTimeout(r, 50));
    value = await attempt();
  }
  expect(ok(value), what).toBe(true);
  return value;
}

async function until(check: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 200 && !check(); i++) await new Promise((r) => setTimeout(r, 25));
  expect(check(), what).toBe(true);
}

describe("forwarding a request to the node that owns its session", () => {
  it("relays a GET to the owner with its answer and its node's name; a session held here is answered here", async () => {
    const forwarded = await sessionOnBoth(a, b);
    const local = await sessionOnBoth(a);
    a.placement.owners.set(forwarded, b.asOwner);

    const there = await send(a.url, { path: `/sessions/${forwarded}` });
    expect(there.status).toBe(200);
    expect(there.json).toMatchObject({ id: forwarded, task: "task-on-node-b" });
    expect(there.headers["x-sessiond-node"]).toBe("node-b");
    expect(there.headers.etag).toBeDefined();

    const here = await send(a.url, { path: `/sessions/${local}` });
    expect(here.json).toMatchObject({ id: local, task: "task-on-node-a" });
    expect(here.headers["x-sessiond-node"]).toBe("node-a");

    // By name, as the route resolves it; and the query goes along.
    const byName = await send(a.url, { path: `/sessions/node-a-${local.slice(-8)}/events?limit=1` });
    expect(byName.status).toBe(200);
    expect(byName.headers["x-sessiond-node"]).toBe("node-a");
    const eventsThere = await send(a.url, { path: `/sessions/${forwarded}/events?limit=1` });
    expect(eventsThere.json).toHaveLength(1);
    expect(eventsThere.headers["x-sessiond-node"]).toBe("node-b");
  });

  it("relays a dashboard's request, its own Origin with it, and the owner takes it; another site's is refused before any forwarding", async () => {
    const forwarded = await sessionOnBoth(a, b);
    a.placement.owners.set(forwarded, b.asOwner);
    // The owner sees node A's origin with its own Host: the node that was asked checked it.
    const ownOrigin = await send(a.url, { method: "POST", path: `/sessions/${forwarded}/events`, headers: { origin: a.url, "content-type": "application/json" }, body: JSON.stringify({ type: "note" }) });
    expect(ownOrigin.status).toBe(201);
    expect(ownOrigin.headers["x-sessiond-node"]).toBe("node-b");
    const placed = a.placement.placed.length;
    const crossSite = await send(a.url, { path: `/sessions/${forwarded}`, headers: { origin: "https://evil.example" } });
    expect(crossSite.status).toBe(403);
    expect(crossSite.json.error).toMatchObject({ code: "forbidden", field: "origin" });
    expect(crossSite.headers["x-sessiond-node"]).toBe("node-a");
    expect(a.placement.placed.length).toBe(placed);
  });

  it("sends a request target in absolute form on as its path and query alone, never to the host it names", async () => {
    const forwarded = await sessionOnBoth(a, b);
    a.placement.owners.set(forwarded, b.asOwner);
    const { port } = new URL(a.url);
    const res = await new Promise<{ status: number; node: unknown; body: string }>((resolve, reject) => {
      // As a client talking to a proxy writes it (RFC 9112 §3.2.2): the host is not ours.
      const req = httpRequest({ hostname: "127.0.0.1", port, path: `http://elsewhere.invalid/sessions/${forwarded}/events?limit=1`, headers: AUTH, agent: false }, (answer) => {
        let body = "";
        answer.setEncoding("utf8");
        answer.on("data", (chunk: string) => (body += chunk));
        answer.on("end", () => resolve({ status: answer.statusCode!, node: answer.headers["x-sessiond-node"], body }));
      });
      req.once("error", reject);
      req.end();
    });
    expect(res.status).toBe(200);
    expect(res.node).toBe("node-b");
    expect(JSON.parse(res.body)).toHaveLength(1);
  });

  it("forwards an id memory places elsewhere with no lookup here (the owner checks it), but looks a scoped principal's up first", async () => {
    const onlyThere = await sessionOnBoth(b);
    a.placement.known.set(onlyThere, { here: false, owner: b.asOwner });
    const there = await send(a.url, { path: `/sessions/${onlyThere}` });
    expect(there.status).toBe(200);
    expect(there.headers["x-sessiond-node"]).toBe("node-b");
    expect(a.placement.placed).toEqual([]);

    // An agent token: an id it may not see (here, one this node does not have) is this node's 404,
    // named by this node, whatever memory says of the session's owner.
    const agentToken = randomBytes(32).toString("base64url");
    const tokens = [{ token: agentToken, role: "agent", agent_id: "agent-1" }];
    const [c, d] = [await startNode("node-c", { tokens }), await startNode("node-d", { tokens })];
    cleanups.push(() => c.close(), () => d.close());
    const hidden = await sessionOnBoth(d);
    c.placement.known.set(hidden, { here: false, owner: d.asOwner });
    const refused = await send(c.url, { path: `/sessions/${hidden}`, headers: { authorization: `Bearer ${agentToken}` } });
    expect(refused.status).toBe(404);
    expect(refused.headers["x-sessiond-node"]).toBe("node-c");
  });

  it("looks nothing up for a request refused before its route, and names the node on the refusal", async () => {
    const id = await sessionOnBoth(a, b);
    a.placement.owners.set(id, b.asOwner);
    const refused = await send(a.url, { path: `/sessions/${id}`, headers: { authorization: "Bearer not-a-token" } });
    expect(refused.status).toBe(401);
    expect(refused.headers["x-sessiond-node"]).toBe("node-a");
    const unknown = await send(a.url, { path: "/sessions/no-such-session" });
    expect(unknown.status).toBe(404);
    expect(unknown.headers["x-sessiond-node"]).toBe("node-a");
    expect(a.placement.placed).toEqual([]);
  });

  it("passes a body on as the raw bytes that came, in one piece or chunked, and the owner applies it", async () => {
    const id = await sessionOnBoth(a, b);
    a.placement.owners.set(id, b.asOwner);
    const whole = await send(a.url, { method: "POST", path: `/sessions/${id}/events`, headers: { "content-type": "application/json" }, body: JSON.stringify({ type: "note", data: { n: 1 } }) });
    expect(whole.status).toBe(201);
    expect(whole.headers["x-sessiond-node"]).toBe("node-b");
    const chunked = await send(a.url, { method: "POST", path: `/sessions/${id}/events`, headers: { "content-type": "application/json" }, body: ['{"type":"note",', '"data":{"n":2}}'] });
    expect(chunked.status).toBe(201);
    const patched = await send(a.url, { method: "PATCH", path: `/sessions/${id}`, headers: { "content-type": "application/json" }, body: JSON.stringify({ task: "forwarded" }) });
    expect(patched.json).toMatchObject({ name: `node-b-${id.slice(-8)}`, task: "forwarded" });

    const notes = (node: TestNode) => send(node.url, { path: `/sessions/${id}/events?type=note` }).then((res) => (res.json as Array<{ data: unknown }>).map((e) => e.data));
    b.placement.owners.clear();
    a.placement.owners.clear();
    expect(await notes(b)).toEqual([{ n: 1 }, { n: 2 }]);
    expect(await notes(a)).toEqual([]);
  });

  it("refuses a body over the limit before sending any of it on (413, not a broken pipe to the owner)", async () => {
    const id = await sessionOnBoth(a, b);
    a.placement.owners.set(id, b.asOwner);
    const { port } = new URL(a.url);
    const limit = a.app.initialConfig.bodyLimit!;
    const res = await new Promise<{ status: number; node: unknown; body: string }>((resolve, reject) => {
      // Declares more than the limit and sends a few bytes only: the answer must not wait for the rest.
      const req = httpRequest(
        { hostname: "127.0.0.1", port, method: "POST", path: `/sessions/${id}/events`, headers: { ...AUTH, "content-type": "application/json", "content-length": String(limit + 1) }, agent: false },
        (answer) => {
          let body = "";
          answer.setEncoding("utf8");
          answer.on("data", (chunk: string) => (body += chunk));
          answer.on("end", () => resolve({ status: answer.statusCode!, node: answer.headers["x-sessiond-node"], body }));
        },
      );
      req.once("error", reject);
      req.write('{"type":"note"');
    });
    expect(res.status).toBe(413);
    expect(res.node).toBe("node-a");
    expect(JSON.parse(res.body)).toMatchObject({ error: { code: "body_too_large" } });
    expect((await send(b.url, { path: `/sessions/${id}/events` })).json).toHaveLength(1);
  });

  it("forwards an artifact upload larger than the JSON body limit: the upload route has its own cap", async () => {
    const id = await sessionOnBoth(a, b);
    a.placement.owners.set(id, b.asOwner);
    const size = a.app.initialConfig.bodyLimit! + 1024;
    const res = await send(a.url, { method: "PUT", path: `/sessions/${id}/artifacts/files/big.bin`, headers: { "content-type": "application/octet-stream", "content-length": String(size) }, body: "x".repeat(size) });
    expect(res.status, res.text).toBe(201);
    expect(res.headers["x-sessiond-node"]).toBe("node-b");
    expect(res.json).toMatchObject({ size });
  });

  it("relays the owner's refusal as it is (a body its route refuses)", async () => {
    const id = await sessionOnBoth(a, b);
    a.placement.owners.set(id, b.asOwner);
    const res = await send(a.url, { method: "POST", path: `/sessions/${id}/events`, headers: { "content-type": "application/json" }, body: '{"type": "note", "colour": 1}' });
    expect(res.status).toBe(400);
    expect(res.json.error).toMatchObject({ code: "validation", field: "colour" });
    expect(res.headers["x-sessiond-node"]).toBe("node-b");
  });

  it("streams an SSE stream from the owner as the owner writes it", async () => {
    const id = await sessionOnBoth(a, b);
    a.placement.owners.set(id, b.asOwner);
    const res = await openSse(a.url, `/sessions/${id}/stream?after_seq=0`);
    expect(res.statusCode).toBe(200);
    expect(res.headers["content-type"]).toMatch(/^text\/event-stream/);
    expect(res.headers["x-sessiond-node"]).toBe("node-b");
    const reader = sseReader(res);
    const backlog = await reader.until((text) => text.includes("event: ready"));
    expect(backlog).toContain("task-on-node-b");
    // Written on the owner after the stream began: it arrives through A while the stream is open.
    expect((await send(b.url, { method: "POST", path: `/sessions/${id}/events`, headers: { "content-type": "application/json" }, body: JSON.stringify({ type: "note", data: { said: "live-through-a" } }) })).status).toBe(201);
    expect(await reader.until((text) => text.includes("live-through-a"))).toContain("live-through-a");
  });

  it("tunnels a WebSocket upgrade to the owner: its 101, then frames both ways as the owner sends them", async () => {
    const id = await sessionOnBoth(a, b);
    a.placement.owners.set(id, b.asOwner);
    const { ws, res, messages } = await openWs(a.url, `/sessions/${id}/stream?after_seq=0`);
    expect(res.statusCode).toBe(101);
    expect(res.headers["x-sessiond-node"]).toBe("node-b");
    await until(() => messages.some((m) => m.includes('"ready"')), "the backlog and ready arrive");
    expect(messages.join("\n")).toContain("task-on-node-b");
    await send(b.url, { method: "POST", path: `/sessions/${id}/events`, headers: { "content-type": "application/json" }, body: JSON.stringify({ type: "note", data: { said: "ws-through-a" } }) });
    await until(() => messages.some((m) => m.includes("ws-through-a")), "a live event arrives through the tunnel");
    const closed = new Promise<number>((resolve) => ws.once("close", (code) => resolve(code)));
    ws.close(1000);
    expect(await closed).toBe(1000);
  });

  it("ends the owner's stream when the client leaves, SSE and WebSocket alike", async () => {
    // One stream per token on the owner: while it still holds one, the next is a 429.
    const owner = await startNode("node-c", { maxStreamsPerPrincipal: 1 });
    cleanups.push(() => owner.close());
    const id = await sessionOnBoth(a, owner);
    a.placement.owners.set(id, owner.asOwner);
    const path = `/sessions/${id}/stream`;

    const sse = await openSse(a.url, path);
    expect(sse.statusCode).toBe(200);
    await sseReader(sse).until((text) => text.includes("event: ready"));
    const second = await send(a.url, { path, headers: { accept: "text/event-stream" } });
    expect(second.status).toBe(429);
    expect(second.headers["x-sessiond-node"]).toBe("node-c");
    sse.destroy();
    const ws = await eventually(() => openWs(a.url, path), (opened) => opened.res.statusCode === 101, "a WebSocket once the SSE client left");
    ws.ws.terminate();
    await eventually(() => openWs(a.url, path), (opened) => opened.res.statusCode === 101, "a WebSocket once the first one's client left");
    // Before the owner: a connection its pool opened and never used would hold the owner's close.
    await a.close();
  });

  it("ends the streams it relays when it closes, as it ends its own", async () => {
    const id = await sessionOnBoth(a, b);
    a.placement.owners.set(id, b.asOwner);
    const sse = await openSse(a.url, `/sessions/${id}/stream`);
    await sseReader(sse).until((text) => text.includes("event: ready"));
    const sseEnded = new Promise<void>((resolve) => sse.once("close", resolve));
    const { ws } = await openWs(a.url, `/sessions/${id}/stream`);
    const wsClosed = new Promise<void>((resolve) => ws.once("close", () => resolve()));
    await a.close();
    await Promise.all([sseEnded, wsClosed]);
    // The owner goes on.
    expect((await send(b.url, { path: `/sessions/${id}` })).status).toBe(200);
  });

  it("relays the owner's refusal of an upgrade as an ordinary answer", async () => {
    const id = await sessionOnBoth(a, b);
    a.placement.owners.set(id, b.asOwner);
    const { res } = await openWs(a.url, `/sessions/${id}/stream?colour=blue`);
    expect(res.statusCode).toBe(400);
    expect(res.headers["x-sessiond-node"]).toBe("node-b");
  });

  it("names itself on the streams of a session held here: the SSE head and the WebSocket 101 it writes itself", async () => {
    const id = await sessionOnBoth(a);
    const sse = await openSse(a.url, `/sessions/${id}/stream`);
    expect(sse.statusCode).toBe(200);
    expect(sse.headers["x-sessiond-node"]).toBe("node-a");
    sse.destroy();
    const { res } = await openWs(a.url, `/sessions/${id}/stream`);
    expect(res.statusCode).toBe(101);
    expect(res.headers["x-sessiond-node"]).toBe("node-a");
  });

  it("forwards the Unix socket's requests (the local admin, who sends no token) with the admin token", async () => {
    const id = await sessionOnBoth(a, b);
    a.placement.owners.set(id, b.asOwner);
    const socketPath = join(a.home, "forwarding.sock");
    const socketServer = createUnixSocketServer(a.app);
    await listenOnSocket(socketServer, socketPath);
    cleanups.push(() => new Promise<void>((resolve) => socketServer.close(() => resolve())));
    const res = await send(a.url, { path: `/sessions/${id}`, token: false, socketPath });
    expect(res.status).toBe(200);
    expect(res.json.task).toBe("task-on-node-b");
  });
});

describe("the live list in a cluster", () => {
  async function nodesWithShells(): Promise<{ onA: string; onB: string }> {
    // Each node of the pair as the test starts them has live sessions off: two that have them on.
    await a.close();
    await b.close();
    b = await startNode("node-b", { enableSessions: true });
    a = await startNode("node-a", { enableSessions: true });
    a.placement.peerNodes.push(b.asOwner);
    const start = async (node: TestNode) => {
      const res = await send(node.url, { method: "POST", path: "/session/start", headers: { "content-type": "application/json" }, body: JSON.stringify({ mode: "shell" }) });
      expect(res.status).toBe(201);
      return res.json.id as string;
    };
    return { onA: await start(a), onB: await start(b) };
  }

  it("shows every node's live sessions, each once, the Unix socket's admin included; a peer's own list stays its own", async () => {
    const { onA, onB } = await nodesWithShells();
    const listed = await send(a.url, { path: "/session/list" });
    expect(listed.status).toBe(200);
    expect(listed.json.map((s: { id: string }) => s.id).sort()).toEqual([onA, onB].sort());
    expect(listed.headers["x-sessiond-nodes-missing"]).toBeUndefined();
    const socketPath = join(a.home, "forwarding.sock");
    const socketServer = createUnixSocketServer(a.app);
    await listenOnSocket(socketServer, socketPath);
    cleanups.push(() => new Promise<void>((resolve) => socketServer.close(() => resolve())));
    const overSocket = await send(a.url, { path: "/session/list", socketPath, token: false });
    expect(overSocket.json.map((s: { id: string }) => s.id).sort()).toEqual([onA, onB].sort());
    // Asked by another node, a node answers for itself alone (no node asks further).
    const asPeer = await send(b.url, { path: "/session/list", headers: { "x-sessiond-forwarded-by": "node-a" } });
    expect(asPeer.json.map((s: { id: string }) => s.id)).toEqual([onB]);
  });

  it("names a live node that does not answer, and lists the rest", async () => {
    const { onA } = await nodesWithShells();
    a.placement.peerNodes.splice(0, 1, await deadNode());
    const listed = await send(a.url, { path: "/session/list" });
    expect(listed.status).toBe(200);
    expect(listed.json.map((s: { id: string }) => s.id)).toEqual([onA]);
    expect(listed.headers["x-sessiond-nodes-missing"]).toBe("node-dead");
  });
});

describe("requests held open through a forwarding node", () => {
  it("do not keep anyone else's request from reaching the owner (no shared, capped pool of connections to it)", async () => {
    const id = await sessionOnBoth(a, b);
    a.placement.owners.set(id, b.asOwner);
    const { port } = new URL(a.url);
    // More than a pool of 128 connections per owner: each sends its headers and a little of a
    // body it never finishes, so each forwarded request stays open.
    const held: Socket[] = [];
    cleanups.push(() => held.forEach((socket) => socket.destroy()));
    for (let i = 0; i < 140; i++) {
      const socket = connect(Number(port), "127.0.0.1");
      socket.on("error", () => {});
      socket.write(
        `POST /sessions/${id}/events HTTP/1.1\r\nhost: a\r\nauthorization: ${AUTH.authorization}\r\ncontent-type: application/json\r\ncontent-length: 100000\r\n\r\n{"type":"x",`,
      );
      held.push(socket);
    }
    await expect.poll(() => a.placement.placed.filter((p) => p === id).length, { timeout: 20_000 }).toBeGreaterThanOrEqual(140);
    const other = await send(a.url, { path: `/sessions/${id}` });
    expect(other.status).toBe(200);
    expect(other.headers["x-sessiond-node"]).toBe("node-b");
  });
});

describe("a request forwarded once already", () => {
  it("is refused with 503 owned_elsewhere by a node that does not hold the session", async () => {
    const id = await sessionOnBoth(a, b);
    a.placement.owners.set(id, b.asOwner);
    const res = await send(a.url, { path: `/sessions/${id}`, headers: { "x-sessiond-forwarded-by": "node-c" } });
    expect(res.status).toBe(503);
    expect(res.json.error.code).toBe("owned_elsewhere");
    expect(res.json.error.message).toContain("node-b");
    expect(res.headers["x-sessiond-node"]).toBe("node-a");
  });

  it("goes no further when two nodes each think the other owns the session", async () => {
    const id = await sessionOnBoth(a, b);
    a.placement.owners.set(id, b.asOwner);
    b.placement.owners.set(id, a.asOwner);
    const res = await send(a.url, { method: "POST", path: `/sessions/${id}/events`, headers: { "content-type": "application/json" }, body: JSON.stringify({ type: "note" }) });
    expect(res.status).toBe(503);
    expect(res.json.error).toMatchObject({ code: "owned_elsewhere" });
    expect(res.json.error.message).toContain("node-a");
    expect(res.headers["x-sessiond-node"]).toBe("node-b");
    expect(b.placement.placed).toEqual([id]);
  });
});

describe("an owner that does not answer", () => {
  it("is placed again once; placed here, the request (its body too) is served here", async () => {
    const id = await sessionOnBoth(a);
    const dead = await deadNode();
    a.placement.owners.set(id, dead);
    const res = await send(a.url, { method: "POST", path: `/sessions/${id}/events`, headers: { "content-type": "application/json" }, body: JSON.stringify({ type: "note", data: { kept: true } }) });
    expect(res.status).toBe(201);
    expect(res.json).toMatchObject({ type: "note", data: { kept: true } });
    expect(res.headers["x-sessiond-node"]).toBe("node-a");
    expect(a.placement.failures).toEqual([{ sessionId: id, owner: "node-dead" }]);
  });

  it("placed on another node, the request is forwarded there once", async () => {
    const id = await sessionOnBoth(a, b);
    a.placement.owners.set(id, await deadNode());
    a.placement.afterFailure.set(id, { here: false, owner: b.asOwner });
    const res = await send(a.url, { method: "POST", path: `/sessions/${id}/events`, headers: { "content-type": "application/json" }, body: ['{"type":"note",', '"data":{"moved":true}}'] });
    expect(res.status).toBe(201);
    expect(res.headers["x-sessiond-node"]).toBe("node-b");
    expect(a.placement.failures).toHaveLength(1);
  });

  it("still owning the session, makes the request a 503 node_unreachable with the time to retry within", async () => {
    const id = await sessionOnBoth(a);
    const dead = await deadNode();
    a.placement.owners.set(id, dead);
    a.placement.afterFailure.set(id, { here: false, owner: dead });
    const res = await send(a.url, { path: `/sessions/${id}` });
    expect(res.status).toBe(503);
    expect(res.json.error.code).toBe("node_unreachable");
    expect(res.json.error.message).toContain("node-dead");
    expect(res.json.error.message).toContain("ECONNREFUSED");
    expect(Number(res.headers["retry-after"])).toBeGreaterThan(0);
    expect(res.headers["x-sessiond-node"]).toBe("node-a");
    expect(a.placement.failures).toHaveLength(1);
  });

  it("is tried once more elsewhere at most: a second owner that does not answer is a 503", async () => {
    const id = await sessionOnBoth(a);
    a.placement.owners.set(id, await deadNode());
    const second = await deadNode();
    a.placement.afterFailure.set(id, { here: false, owner: { ...second, id: "id-second", name: "node-second" } });
    const res = await send(a.url, { path: `/sessions/${id}` });
    expect(res.status).toBe(503);
    expect(res.json.error.message).toContain("node-second");
    expect(a.placement.failures).toHaveLength(1);
  });

  it("never sends a write again once its bytes reached the owner: 502 forward_failed, saying it may have been applied", async () => {
    const id = await sessionOnBoth(a);
    a.placement.owners.set(id, await droppingNode());
    const res = await send(a.url, { method: "POST", path: `/sessions/${id}/events`, headers: { "content-type": "application/json" }, body: JSON.stringify({ type: "note" }) });
    expect(res.status).toBe(502);
    expect(res.json.error.code).toBe("forward_failed");
    expect(res.json.error.message).toContain("node-dropping");
    expect(res.json.error.message).toContain("may or may not have been applied");
    expect(a.placement.failures).toEqual([]);
  });

  it("sends a read again: a GET the owner dropped is placed again", async () => {
    const id = await sessionOnBoth(a);
    a.placement.owners.set(id, await droppingNode());
    const res = await send(a.url, { path: `/sessions/${id}` });
    expect(res.status).toBe(200);
    expect(res.json.task).toBe("task-on-node-a");
    expect(a.placement.failures).toHaveLength(1);
  });

  it("has a WebSocket upgrade placed again once, and upgraded here when placed here", async () => {
    const id = await sessionOnBoth(a);
    a.placement.owners.set(id, await deadNode());
    const { res, messages } = await openWs(a.url, `/sessions/${id}/stream?after_seq=0`);
    expect(res.statusCode).toBe(101);
    expect(res.headers["x-sessiond-node"]).toBe("node-a");
    await until(() => messages.some((m) => m.includes("task-on-node-a")), "the local copy's events arrive");
    expect(a.placement.failures).toHaveLength(1);
  });
});

describe("one node (no cluster)", () => {
  it("adds no node header", async () => {
    const server = await startServer();
    cleanups.push(() => server.close());
    const res = await server.request({ method: "GET", url: "/sessions" });
    expect(res.statusCode).toBe(200);
    expect(res.headers["x-sessiond-node"]).toBeUndefined();
  });
});
