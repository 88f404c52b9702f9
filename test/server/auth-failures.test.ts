/**
 * Failed authentication is limited per client address, over a real loopback port and the real
 * Unix socket (which is never limited); and the server refuses weak configured tokens at start.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { type IncomingHttpHeaders, type Server, request as httpRequest } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { FastifyInstance } from "fastify";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { WebSocket } from "ws";
import { type Config, dataPaths, resolveConfig } from "../../src/core/index.js";
import { SessionManager } from "../../src/engine/index.js";
import { buildApp, createUnixSocketServer, ensureAdminToken } from "../../src/server/index.js";
import { tokenWeakness } from "../../src/server/auth/index.js";
import { openSqliteStore } from "../../src/store/index.js";
import { expectNoLeakedHandles } from "../events/support/leaks.js";
import { startServer } from "./harness.js";

const READER_TOKEN = "reader-token-0123456789-abcdefghij";

interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

/** A server on a loopback port and on its Unix socket, with a clock the test moves. */
interface Listening {
  readonly config: Config;
  readonly token: string;
  readonly port: number;
  readonly socketPath: string;
  /** The clock the failure windows count by; starts at the real time. */
  now: number;
  /** A request over TCP, with `Authorization` as given (none when undefined). */
  tcp(path: string, authorization?: string): Promise<Reply>;
  /** A request over the Unix socket, with no token. */
  local(path: string): Promise<Reply>;
  close(): Promise<void>;
}

let open: Listening | undefined;

async function listen(flags: Record<string, unknown>): Promise<Listening> {
  const home = mkdtempSync(join(tmpdir(), "sessiond-auth-failures-"));
  const config = resolveConfig({ env: { HOME: home }, flags: { home, logLevel: "silent", sqliteSynchronous: "normal", ...flags } });
  const store = openSqliteStore(config);
  const manager = new SessionManager({ store, config });
  const server: { now: number } = { now: Date.now() };
  let app: FastifyInstance;
  let unix: Server;
  try {
    app = await buildApp({ config, manager, store, clock: () => server.now });
    await app.listen({ host: "127.0.0.1", port: 0 });
    unix = createUnixSocketServer(app);
    await new Promise<void>((resolve) => unix.listen(dataPaths(config).socket, resolve));
  } catch (err) {
    await manager.close();
    rmSync(home, { recursive: true, force: true });
    throw err;
  }
  const port = (app.server.address() as AddressInfo).port;
  const socketPath = dataPaths(config).socket;
  return Object.assign(server, {
    config,
    token: readFileSync(dataPaths(config).token, "utf8").trim(),
    port,
    socketPath,
    tcp: (path: string, authorization?: string) => call({ host: "127.0.0.1", port }, path, authorization),
    local: (path: string) => call({ socketPath }, path),
    async close() {
      await new Promise((resolve) => unix.close(resolve));
      await app.close();
      await manager.close();
      rmSync(home, { recursive: true, force: true });
    },
  });
}

function call(target: { host: string; port: number } | { socketPath: string }, path: string, authorization?: string): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = authorization === undefined ? {} : { authorization };
    const req = httpRequest({ ...target, method: "GET", path, headers, agent: false }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c) => (body += c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on("error", reject);
    req.end();
  });
}

/** The status a WebSocket upgrade got: 101 when it opened (then closed again). */
function upgradeStatus(url: string, authorization?: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url, authorization === undefined ? {} : { headers: { authorization } });
    socket.once("unexpected-response", (_req, res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    socket.once("open", () => {
      socket.once("close", () => resolve(101));
      socket.close();
    });
    socket.once("error", reject);
  });
}

describe("failed authentication over TCP", () => {
  // process.stdout and stderr are pipes Node opens on first use, which building a server may be:
  // opened here, they are part of every test's baseline instead of a leak of the first.
  beforeAll(() => void [process.stdout.writable, process.stderr.writable]);
  expectNoLeakedHandles();
  // Registered after the leak check, so it runs before it.
  afterEach(async () => {
    await open?.close();
    open = undefined;
  });

  it("answers 429 with Retry-After to an address's failures past authMaxFailures, while a valid token, open routes and the Unix socket still work", async () => {
    const s = (open = await listen({ authMaxFailures: 3, authFailureWindowMs: 60_000 }));
    expect((await s.tcp("/sessions/", "Bearer not-the-token-at-all-0123456789")).status).toBe(401);
    expect((await s.tcp("/sessions/")).status).toBe(401);
    expect((await s.tcp("/sessions/", `Basic ${s.token}`)).status).toBe(401);

    const refused = await s.tcp("/sessions/", "Bearer not-the-token-at-all-0123456789");
    expect(refused.status).toBe(429);
    expect(JSON.parse(refused.body)).toEqual({ error: { code: "rate_limited", message: expect.stringContaining("failed authentications") } });
    const retryAfter = Number(refused.headers["retry-after"]);
    expect(Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= 60).toBe(true);
    expect((await s.tcp("/sessions/")).status).toBe(429);
    // A valid token passes: sandboxed sessions share the loopback address with every local
    // client, and must not be able to lock them out by failing on purpose.
    expect((await s.tcp("/sessions/", `Bearer ${s.token}`)).status).toBe(200);
    expect((await s.tcp("/healthz")).status).toBe(200);

    const local = await s.local("/sessions/");
    expect(local.status).toBe(200);
    expect(JSON.parse(local.body)).toEqual([]);
  });

  it("does not count successful requests, nor let them wipe the failures already counted", async () => {
    const s = (open = await listen({ authMaxFailures: 3 }));
    const good = `Bearer ${s.token}`;
    expect((await s.tcp("/sessions/", "Bearer wrong-0123456789-abcdefghij-0123")).status).toBe(401);
    expect((await s.tcp("/sessions/", "Bearer wrong-0123456789-abcdefghij-0123")).status).toBe(401);
    for (let i = 0; i < 10; i++) expect((await s.tcp("/sessions/", good)).status).toBe(200);
    expect((await s.tcp("/sessions/", "Bearer wrong-0123456789-abcdefghij-0123")).status).toBe(401);
    expect((await s.tcp("/sessions/", "Bearer wrong-0123456789-abcdefghij-0123")).status).toBe(429);
    expect((await s.tcp("/sessions/", good)).status).toBe(200);
  });

  it("counts failed WebSocket upgrades, and refuses failing upgrades and SSE streams from a refused address", async () => {
    const s = (open = await listen({ authMaxFailures: 2 }));
    const feed = `ws://127.0.0.1:${s.port}/feed`;
    expect(await upgradeStatus(feed, `Bearer ${s.token}`)).toBe(101);
    expect(await upgradeStatus(feed, "Bearer wrong-0123456789-abcdefghij-0123")).toBe(401);
    expect(await upgradeStatus(feed)).toBe(401);
    expect(await upgradeStatus(feed, "Bearer wrong-0123456789-abcdefghij-0123")).toBe(429);
    expect((await s.tcp("/feed", "Bearer wrong-0123456789-abcdefghij-0123")).status).toBe(429);
    expect(await upgradeStatus(feed, `Bearer ${s.token}`)).toBe(101);
    expect(await upgradeStatus(`ws+unix:${s.socketPath}:/feed`)).toBe(101);
  });

  it("answers the address again once the window that began with its first failure has passed, counting afresh", async () => {
    const s = (open = await listen({ authMaxFailures: 2, authFailureWindowMs: 500 }));
    const good = `Bearer ${s.token}`;
    expect((await s.tcp("/sessions/")).status).toBe(401);
    s.now += 300;
    expect((await s.tcp("/sessions/")).status).toBe(401);
    expect((await s.tcp("/sessions/")).status).toBe(429);
    // The window counts from the first failure, not the last.
    s.now += 200;
    expect((await s.tcp("/sessions/")).status).toBe(401);
    expect((await s.tcp("/sessions/", good)).status).toBe(200);
  });

  it("limits nothing with authMaxFailures 0", async () => {
    const s = (open = await listen({ authMaxFailures: 0 }));
    for (let i = 0; i < 30; i++) expect((await s.tcp("/sessions/")).status).toBe(401);
    expect((await s.tcp("/sessions/", `Bearer ${s.token}`)).status).toBe(200);
  });

  it("counts the failures of each address apart", async () => {
    // app.inject lets the test choose the client address, which a loopback socket cannot.
    const server = await startServer({ authMaxFailures: 2, tokens: [{ token: READER_TOKEN, role: "reader" }] });
    try {
      const from = (remoteAddress: string, authorization?: string) =>
        server.app.inject({ method: "GET", url: "/sessions/", remoteAddress, headers: authorization ? { authorization } : {} });
      expect((await from("203.0.113.7")).statusCode).toBe(401);
      expect((await from("203.0.113.7")).statusCode).toBe(401);
      expect((await from("203.0.113.7")).statusCode).toBe(429);
      expect((await from("203.0.113.8")).statusCode).toBe(401);
      expect((await from("203.0.113.7", `Bearer ${READER_TOKEN}`)).statusCode).toBe(200);
      // One IPv6 host holds a /64: its other addresses share its count.
      expect((await from("2001:db8:1:2::1")).statusCode).toBe(401);
      expect((await from("2001:db8:1:2::99")).statusCode).toBe(401);
      expect((await from("2001:db8:1:2:ffff::5")).statusCode).toBe(429);
      expect((await from("2001:db8:1:3::1")).statusCode).toBe(401);
    } finally {
      await server.close();
    }
  });
});

/** The error a start failed with; fails the test if it started. */
async function refusal(start: Promise<{ close(): Promise<void> }>): Promise<Error> {
  const outcome = await start.then(
    async (server) => {
      await server.close();
      return undefined;
    },
    (err: Error) => err,
  );
  if (!outcome) throw new Error("the server started");
  return outcome;
}

describe("configured token strength", () => {
  it("refuses to start with a token shorter than 32 characters, naming its name and role, never the secret", async () => {
    const secret = "short-but-16-plus-chars";
    const err = await refusal(startServer({ tokens: [{ token: secret, role: "reader", name: "dashboard" }] }));
    expect(err.message).toMatch(/tokens\[0\] \("dashboard", a reader token\) is too weak: it is shorter than 32 characters/);
    expect(err.message).not.toContain(secret);
  });

  it("refuses a long token of few different characters, and names an unnamed token by its role", async () => {
    const ok = "agent-token-0123456789-abcdefghij";
    const secret = "abababababababababababababababababababab";
    const err = await refusal(startServer({ tokens: [{ token: ok, role: "reader" }, { token: secret, role: "agent", agent_id: "a1" }] }));
    expect(err.message).toMatch(/tokens\[1\] \(an agent token\) is too weak: it uses fewer than 10 different characters/);
    expect(err.message).not.toContain(secret);
  });

  it("refuses a weak admin token file, and generates one that passes the rule", async () => {
    const home = mkdtempSync(join(tmpdir(), "sessiond-admin-token-"));
    try {
      writeFileSync(join(home, "token"), `${"x".repeat(40)}\n`, { mode: 0o600 });
      expect(() => ensureAdminToken({ home })).toThrow(/admin token .* is too weak: it uses fewer than 10 different characters; delete the file/);
      rmSync(join(home, "token"));
      const generated = ensureAdminToken({ home });
      expect(generated.created).toBe(true);
      expect(tokenWeakness(generated.token)).toBeUndefined();
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  });
});
