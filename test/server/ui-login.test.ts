/**
 * The dashboard's sign-in by one-time code (POST /ui/login-codes, POST /ui/login) through
 * app.inject, and the WebSocket bearer carried as a subprotocol over a real loopback port.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { FastifyBaseLogger, FastifyInstance } from "fastify";
import { pino } from "pino";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { WebSocket } from "ws";
import { dataPaths, resolveConfig } from "../../src/core/index.js";
import { SessionManager } from "../../src/engine/index.js";
import { REDACTED_PATHS, buildApp } from "../../src/server/index.js";
import { openSqliteStore } from "../../src/store/index.js";
import { expectNoLeakedHandles } from "../events/support/leaks.js";

const AGENT_TOKEN = "agent-token-a1-0123456789-abcdefghij";
const READER_TOKEN = "reader-token-0123456789-abcdefghijk";

interface Server {
  readonly app: FastifyInstance;
  readonly admin: string;
  /** The clock the login codes and dashboard tokens expire by; starts at the real time. */
  now: number;
  call(method: "GET" | "POST" | "DELETE", url: string, token: string | null, body?: unknown): Promise<{ status: number; body: any; headers: Record<string, unknown> }>;
  close(): Promise<void>;
}

let open: Server | undefined;
// stdout and stderr open their pipes on first use: before the baseline, not inside a test.
beforeAll(() => void [process.stdout.writable, process.stderr.writable]);
// Registered first, so it runs after the close below (afterEach hooks run last-registered first).
expectNoLeakedHandles();
afterEach(async () => {
  await open?.close();
  open = undefined;
});

async function start(flags: Record<string, unknown> = {}, options: { logger?: FastifyBaseLogger } = {}): Promise<Server> {
  const home = mkdtempSync(join(tmpdir(), "sessiond-ui-login-"));
  const config = resolveConfig({
    env: { HOME: home },
    flags: {
      home,
      logLevel: "silent",
      sqliteSynchronous: "normal",
      tokens: [
        { token: AGENT_TOKEN, role: "agent", agent_id: "a1", name: "agent-a1" },
        { token: READER_TOKEN, role: "reader", name: "watcher" },
      ],
      ...flags,
    },
  });
  const store = openSqliteStore(config);
  const manager = new SessionManager({ store, config });
  const server = { now: Date.now() };
  const app = await buildApp({ config, manager, store, clock: () => server.now, ...(options.logger ? { logger: options.logger } : {}) });
  await app.ready();
  const call: Server["call"] = async (method, url, token, body) => {
    const headers: Record<string, string> = {};
    if (token !== null) headers.authorization = `Bearer ${token}`;
    if (body !== undefined) headers["content-type"] = "application/json";
    const res = await app.inject({ method, url, headers, ...(body !== undefined ? { payload: JSON.stringify(body) } : {}) });
    return { status: res.statusCode, body: res.body ? JSON.parse(res.body) : undefined, headers: res.headers };
  };
  return (open = Object.assign(server, {
    app,
    admin: readFileSync(dataPaths(config).token, "utf8").trim(),
    call,
    async close() {
      await app.close();
      await manager.close();
      rmSync(home, { recursive: true, force: true });
    },
  }));
}

/** A code made with `token`, exchanged: the dashboard token and what the exchange answered. */
async function signIn(s: Server, token: string): Promise<{ token: string; role: string; expires_at: string }> {
  const made = await s.call("POST", "/ui/login-codes", token);
  expect(made.status).toBe(201);
  const login = await s.call("POST", "/ui/login", null, { code: made.body.code });
  expect(login.status).toBe(200);
  return login.body;
}

describe("the dashboard's one-time login codes", () => {
  it("answers a code with its expiry and a login link that carries it in the fragment", async () => {
    const s = await start({ uiLoginCodeTtlMs: 30_000 });
    const made = await s.call("POST", "/ui/login-codes", s.admin);
    expect(made.status).toBe(201);
    expect(made.body.code).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(Date.parse(made.body.expires_at)).toBe(s.now + 30_000);
    expect(made.body.url).toMatch(/^http:\/\/[^/]+\/ui\/#code=/);
    expect(made.body.url.endsWith(`#code=${made.body.code}`)).toBe(true);
    expect(made.headers["cache-control"]).toBe("no-store");
    const login = await s.call("POST", "/ui/login", null, { code: made.body.code });
    expect(login.headers["cache-control"]).toBe("no-store");
  });

  it("exchanges a code once for a new token that works like the admin token, and refuses it the second time", async () => {
    const s = await start();
    const made = await s.call("POST", "/ui/login-codes", s.admin);
    const first = await s.call("POST", "/ui/login", null, { code: made.body.code });
    expect(first.status).toBe(200);
    expect(first.body.role).toBe("admin");
    expect(first.body.token).not.toBe(s.admin);
    expect(Date.parse(first.body.expires_at)).toBe(s.now + 12 * 3_600_000);

    const created = await s.call("POST", "/sessions/", first.body.token, { name: "from-the-dashboard" });
    expect(created.status).toBe(201);
    expect((await s.call("GET", "/sessions/from-the-dashboard", first.body.token)).status).toBe(200);

    const again = await s.call("POST", "/ui/login", null, { code: made.body.code });
    expect(again.status).toBe(401);
    expect(again.body.error.code).toBe("unauthorized");
  });

  it("refuses a code after uiLoginCodeTtlMs, and the dashboard token after uiSessionTtlMs", async () => {
    const s = await start({ uiLoginCodeTtlMs: 60_000, uiSessionTtlMs: 3_600_000 });
    const late = await s.call("POST", "/ui/login-codes", s.admin);
    s.now += 60_001;
    const refused = await s.call("POST", "/ui/login", null, { code: late.body.code });
    expect(refused.status).toBe(401);
    expect(refused.body.error.code).toBe("unauthorized");

    const { token } = await signIn(s, s.admin);
    expect((await s.call("GET", "/sessions/", token)).status).toBe(200);
    s.now += 3_600_001;
    const expired = await s.call("GET", "/sessions/", token);
    expect(expired.status).toBe(401);
    expect(expired.body.error.code).toBe("unauthorized");
  });

  it("gives the dashboard token the role and agent scope of the code's creator", async () => {
    const s = await start();
    expect((await s.call("POST", "/sessions/", s.admin, { name: "mine", agent_id: "a1" })).status).toBe(201);
    expect((await s.call("POST", "/sessions/", s.admin, { name: "theirs", agent_id: "a2" })).status).toBe(201);

    const agent = await signIn(s, AGENT_TOKEN);
    expect(agent.role).toBe("agent");
    const listed = await s.call("GET", "/sessions/", agent.token);
    expect(listed.body.map((x: { name: string }) => x.name)).toEqual(["mine"]);
    expect((await s.call("GET", "/sessions/theirs", agent.token)).status).toBe(404);
    const made = await s.call("POST", "/sessions/", agent.token, { name: "new-one" });
    expect(made.body.agent_id).toBe("a1");

    const reader = await signIn(s, READER_TOKEN);
    expect(reader.role).toBe("reader");
    expect((await s.call("GET", "/sessions/", reader.token)).body).toHaveLength(3);
    const write = await s.call("POST", "/sessions/", reader.token, { name: "nope" });
    expect(write.status).toBe(403);
    expect(write.body.error.code).toBe("forbidden");
  });

  it("does not let a dashboard token make login codes, so a browser's sign-in ends with its token", async () => {
    const s = await start();
    const { token } = await signIn(s, s.admin);
    const refused = await s.call("POST", "/ui/login-codes", token);
    expect(refused.status).toBe(403);
    expect(refused.body.error.code).toBe("forbidden");
  });

  it("needs a token to make a code", async () => {
    const s = await start();
    const refused = await s.call("POST", "/ui/login-codes", null);
    expect(refused.status).toBe(401);
  });

  it("counts refused codes against the address like bad tokens: past authMaxFailures it answers 429", async () => {
    const s = await start({ authMaxFailures: 2 });
    for (let i = 0; i < 2; i++) expect((await s.call("POST", "/ui/login", null, { code: `guess-${i}` })).status).toBe(401);
    const limited = await s.call("POST", "/ui/login", null, { code: "guess-3" });
    expect(limited.status).toBe(429);
    expect(limited.body.error.code).toBe("rate_limited");
    expect(limited.headers["retry-after"]).toMatch(/^\d+$/);
    // The same limiter as the token check: a bad token from the address is refused too.
    expect((await s.call("GET", "/sessions/", "not-a-token-at-all")).status).toBe(429);
  });

  it("refuses a login without a code, or with something else, with 400 naming the field", async () => {
    const s = await start();
    const missing = await s.call("POST", "/ui/login", null, {});
    expect(missing.status).toBe(400);
    expect(missing.body.error).toMatchObject({ code: "validation", field: "code" });
    const extra = await s.call("POST", "/ui/login", null, { code: "x", token: "y" });
    expect(extra.status).toBe(400);
    const long = await s.call("POST", "/ui/login", null, { code: "x".repeat(2_000) });
    expect(long.status).toBe(400);
    expect(long.body.error).toMatchObject({ field: "code" });
    // Anyone may send it, so no more body is read than a code needs (a few MiB of `[` cost JSON.parse a second).
    const huge = await s.call("POST", "/ui/login", null, { code: "x".repeat(10_000) });
    expect(huge.status).toBe(413);
    expect(huge.body.error).toMatchObject({ code: "body_too_large", message: expect.stringContaining("4096") });
  });

  it("takes a login from a browser that still holds a stale or reader token in its Authorization header", async () => {
    const s = await start();
    const fromReader = await s.call("POST", "/ui/login-codes", s.admin);
    expect((await s.call("POST", "/ui/login", READER_TOKEN, { code: fromReader.body.code })).status).toBe(200);
    const fromStale = await s.call("POST", "/ui/login-codes", s.admin);
    expect((await s.call("POST", "/ui/login", "a-token-the-server-forgot", { code: fromStale.body.code })).status).toBe(200);
  });
});

describe("the limits on login codes and dashboard tokens, per principal", () => {
  it("refuses a principal's code past uiMaxLoginCodesPerPrincipal with 429 naming the limit, and takes another principal's", async () => {
    const s = await start({ uiMaxLoginCodesPerPrincipal: 3, uiLoginCodeTtlMs: 60_000 });
    const codes: string[] = [];
    for (let i = 0; i < 3; i++) codes.push((await s.call("POST", "/ui/login-codes", READER_TOKEN)).body.code);
    const refused = await s.call("POST", "/ui/login-codes", READER_TOKEN);
    expect(refused.status).toBe(429);
    expect(refused.body.error.code).toBe("rate_limited");
    expect(refused.body.error.message).toContain("uiMaxLoginCodesPerPrincipal");
    expect(refused.headers["retry-after"]).toBe("60");
    // Another principal is not limited by the reader's codes, and a refusal is no failed login.
    expect((await s.call("POST", "/ui/login-codes", s.admin)).status).toBe(201);
    // Exchanging one makes room again; so does the oldest expiring.
    expect((await s.call("POST", "/ui/login", null, { code: codes[0] })).status).toBe(200);
    expect((await s.call("POST", "/ui/login-codes", READER_TOKEN)).status).toBe(201);
    s.now += 60_001;
    for (let i = 0; i < 3; i++) expect((await s.call("POST", "/ui/login-codes", READER_TOKEN)).status).toBe(201);
  });

  it("holds 20 codes and 50 dashboard tokens per principal by default", async () => {
    const s = await start();
    const tokens: string[] = [];
    for (let i = 0; i < 51; i++) tokens.push((await signIn(s, READER_TOKEN)).token);
    expect((await s.call("GET", "/sessions/", tokens[0]!)).status).toBe(401);
    expect((await s.call("GET", "/sessions/", tokens[1]!)).status).toBe(200);
    for (let i = 0; i < 20; i++) expect((await s.call("POST", "/ui/login-codes", READER_TOKEN)).status).toBe(201);
    expect((await s.call("POST", "/ui/login-codes", READER_TOKEN)).status).toBe(429);
  });

  it("keeps the admin's fresh code good however many codes a reader asks for", async () => {
    const s = await start({ uiMaxLoginCodesPerPrincipal: 5, uiMaxLoginCodes: 8, authMaxFailures: 1 });
    const admin = await s.call("POST", "/ui/login-codes", s.admin);
    const statuses = new Set<number>();
    for (let i = 0; i < 20; i++) statuses.add((await s.call("POST", "/ui/login-codes", READER_TOKEN)).status);
    expect([...statuses].sort()).toEqual([201, 429]);
    const login = await s.call("POST", "/ui/login", null, { code: admin.body.code });
    expect(login.status).toBe(200);
    expect(login.body.role).toBe("admin");
  });

  it("refuses new codes past uiMaxLoginCodes in all, with 429, rather than forget anyone's", async () => {
    const s = await start({ uiMaxLoginCodesPerPrincipal: 2, uiMaxLoginCodes: 3 });
    const first = await s.call("POST", "/ui/login-codes", AGENT_TOKEN);
    expect((await s.call("POST", "/ui/login-codes", AGENT_TOKEN)).status).toBe(201);
    expect((await s.call("POST", "/ui/login-codes", READER_TOKEN)).status).toBe(201);
    const full = await s.call("POST", "/ui/login-codes", s.admin);
    expect(full.status).toBe(429);
    expect(full.body.error.message).toContain("uiMaxLoginCodes");
    expect((await s.call("POST", "/ui/login", null, { code: first.body.code })).status).toBe(200);
    expect((await s.call("POST", "/ui/login-codes", s.admin)).status).toBe(201);
  });

  it("signs out a principal's own oldest dashboard token past uiMaxSessionsPerPrincipal, never another principal's", async () => {
    const s = await start({ uiMaxSessionsPerPrincipal: 3, uiMaxSessions: 100 });
    const admin = await signIn(s, s.admin);
    const readers: string[] = [];
    for (let i = 0; i < 10; i++) readers.push((await signIn(s, READER_TOKEN)).token);
    expect((await s.call("GET", "/sessions/", admin.token)).status).toBe(200);
    const alive = await Promise.all(readers.map(async (token) => (await s.call("GET", "/sessions/", token)).status));
    expect(alive).toEqual([...Array(7).fill(401), 200, 200, 200]);
  });

  it("refuses an exchange past uiMaxSessions in all with 429, signing nobody out, and the code stays good", async () => {
    const s = await start({ uiMaxSessionsPerPrincipal: 5, uiMaxSessions: 2, uiSessionTtlMs: 3_600_000 });
    const admin = await signIn(s, s.admin);
    const agent = await signIn(s, AGENT_TOKEN);
    const code = (await s.call("POST", "/ui/login-codes", READER_TOKEN)).body.code;
    const full = await s.call("POST", "/ui/login", null, { code });
    expect(full.status).toBe(429);
    expect(full.body.error.code).toBe("rate_limited");
    expect(full.body.error.message).toContain("uiMaxSessions");
    expect((await s.call("GET", "/sessions/", admin.token)).status).toBe(200);
    expect((await s.call("GET", "/sessions/", agent.token)).status).toBe(200);
    // The admin's own next sign-in replaces nothing of anyone else's either: it is refused too.
    const adminCode = (await s.call("POST", "/ui/login-codes", s.admin)).body.code;
    expect((await s.call("POST", "/ui/login", null, { code: adminCode })).status).toBe(429);
    s.now += 3_600_001;
    expect((await s.call("POST", "/ui/login", null, { code })).status).toBe(401);
    const again = (await s.call("POST", "/ui/login-codes", READER_TOKEN)).body.code;
    expect((await s.call("POST", "/ui/login", null, { code: again })).status).toBe(200);
  });

  it("does not count a refusal for a full server as a failed login from the address", async () => {
    const s = await start({ uiMaxSessions: 1, authMaxFailures: 1 });
    await signIn(s, s.admin);
    for (let i = 0; i < 3; i++) {
      const code = (await s.call("POST", "/ui/login-codes", READER_TOKEN)).body.code;
      expect((await s.call("POST", "/ui/login", null, { code })).status).toBe(429);
    }
    // One wrong code is the first failure (401), not a refusal past the limit.
    expect((await s.call("POST", "/ui/login", null, { code: "a-guess" })).status).toBe(401);
  });
});

describe("a WebSocket's bearer token as a subprotocol", () => {
  const bearer = (token: string) => `sessiond.bearer.${Buffer.from(token).toString("base64url")}`;

  /** Opens /feed with the subprotocols given; resolves with the protocol answered, or the HTTP status of a refusal. */
  function openFeed(port: number, protocols: string[]): Promise<{ protocol: string } | { status: number }> {
    return new Promise((resolve, reject) => {
      const socket = new WebSocket(`ws://127.0.0.1:${port}/feed`, protocols);
      socket.once("open", () => {
        const protocol = socket.protocol;
        socket.once("close", () => resolve({ protocol }));
        socket.close();
      });
      socket.once("unexpected-response", (_req, res) => {
        const status = res.statusCode ?? 0;
        res.resume();
        res.once("end", () => resolve({ status }));
      });
      socket.once("error", (err) => {
        if (!/Unexpected server response/.test(err.message)) reject(err);
      });
    });
  }

  it("accepts a valid token offered as sessiond.bearer.<base64url>, answering the subprotocol sessiond, and refuses a wrong one with 401", async () => {
    const s = await start();
    await s.app.listen({ host: "127.0.0.1", port: 0 });
    const { port } = s.app.server.address() as AddressInfo;
    const { token } = await signIn(s, s.admin);
    expect(await openFeed(port, ["sessiond", bearer(token)])).toEqual({ protocol: "sessiond" });
    // The entry carrying the token is never the one answered, whatever its place.
    expect(await openFeed(port, [bearer(s.admin), "sessiond"])).toEqual({ protocol: "sessiond" });
    expect(await openFeed(port, ["sessiond", bearer("a-wrong-token-0123456789-abcdefghijk")])).toEqual({ status: 401 });
    expect(await openFeed(port, ["sessiond", "sessiond.bearer.not*base64"])).toEqual({ status: 401 });
    expect(await openFeed(port, ["sessiond"])).toEqual({ status: 401 });
  });

  it("keeps a subprotocol's token out of the log, also where a logger is given the request's headers", async () => {
    const lines: string[] = [];
    const logger = pino({ level: "debug", redact: { paths: REDACTED_PATHS, censor: "[redacted]" } }, { write: (line: string) => void lines.push(line) });
    const s = await start({ logLevel: "debug" }, { logger });
    await s.app.listen({ host: "127.0.0.1", port: 0 });
    const { port } = s.app.server.address() as AddressInfo;
    const wrong = "a-wrong-token-0123456789-abcdefghijk";
    expect(await openFeed(port, ["sessiond", bearer(s.admin)])).toEqual({ protocol: "sessiond" });
    expect(await openFeed(port, ["sessiond", bearer(wrong)])).toEqual({ status: 401 });
    logger.info({ req: { headers: { "sec-websocket-protocol": `sessiond, ${bearer(s.admin)}` } } }, "a request logged whole");
    const log = lines.join("");
    expect(log).toContain("a request logged whole");
    for (const secret of [s.admin, wrong, bearer(s.admin), bearer(wrong)]) expect(log).not.toContain(secret);
  });

  it("lets a reader's subprotocol token open a stream, as its Authorization header would", async () => {
    const s = await start();
    await s.app.listen({ host: "127.0.0.1", port: 0 });
    const { port } = s.app.server.address() as AddressInfo;
    expect(await openFeed(port, ["sessiond", bearer(READER_TOKEN)])).toEqual({ protocol: "sessiond" });
  });
});
