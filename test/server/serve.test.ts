import { type ChildProcess, execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { type IncomingHttpHeaders, request as httpRequest } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import { WebSocket } from "ws";
import { afterEach, describe, expect, it, vi } from "vitest";
import { compiledCli } from "../helpers/compiled-tree.js";
import { startNode } from "../helpers/run-node.js";
import { SERVICES, serviceAvailable } from "../helpers/services.js";

/** End-to-end: `sessiond serve` as a real process, over real TCP and the real Unix socket. */

// Each test starts one or two servers (a Node process each).
vi.setConfig({ testTimeout: 120_000 });

const ROOT = new URL("../../", import.meta.url).pathname;
/** `sessiond` as it ships: compiled to plain JavaScript (test/helpers/compiled-tree.ts). */
const CLI = compiledCli();

interface Running {
  child: ChildProcess;
  home: string;
  port: number;
  token: string;
  logs: string[];
  exited: Promise<number | null>;
}

const homes: string[] = [];
const children: ChildProcess[] = [];
afterEach(() => {
  for (const child of children.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  for (const home of homes.splice(0)) rmSync(home, { recursive: true, force: true });
});

function newHome(): string {
  const home = mkdtempSync(join(tmpdir(), "sessiond-serve-"));
  homes.push(home);
  return home;
}

function run(args: string[], home: string, env: Record<string, string> = {}) {
  const { child, lines: logs, exited } = startNode([CLI, ...args], { cwd: ROOT, env: { SESSIOND_HOME: home, SESSIOND_SQLITE_SYNCHRONOUS: "normal", ...env } });
  children.push(child);
  return { child, logs, exited };
}

async function serve(home = newHome(), args: string[] = [], env: Record<string, string> = {}): Promise<Running> {
  const { child, logs, exited } = run(["serve", "--port", "0", ...args], home, env);
  const deadline = Date.now() + 60_000;
  for (;;) {
    const line = logs.find((l) => l.includes("sessiond listening"));
    if (line) {
      const { port } = JSON.parse(line) as { port: number };
      return { child, home, port, token: readFileSync(join(home, "token"), "utf8").trim(), logs, exited };
    }
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`the server did not start:\n${logs.join("\n")}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

function call(target: { port: number } | { socketPath: string }, method: string, path: string, options: { token?: string; body?: string; contentType?: string } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = {};
    if (options.token) headers.authorization = `Bearer ${options.token}`;
    if (options.contentType) headers["content-type"] = options.contentType;
    const req = httpRequest({ ...("port" in target ? { host: "127.0.0.1", port: target.port } : { socketPath: target.socketPath }), method, path, headers, agent: false }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c) => (body += c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on("error", reject);
    req.end(options.body);
  });
}

describe("sessiond serve", () => {
  it("takes a free port with --port 0 and logs it, and listens on TCP (token) and the Unix socket (no token, 0600)", async () => {
    const server = await serve();
    const socketPath = join(server.home, "sessiond.sock");
    expect(statSync(socketPath).mode & 0o777).toBe(0o600);
    expect(statSync(join(server.home, "token")).mode & 0o777).toBe(0o600);
    expect(JSON.parse(readFileSync(join(server.home, "server.pid"), "utf8"))).toMatchObject({ pid: server.child.pid, port: server.port });

    const created = await call({ port: server.port }, "POST", "/sessions/", { token: server.token, body: '{"agent_id": "a", "session_type": "task"}', contentType: "application/json" });
    expect(created.status).toBe(201);
    const id = JSON.parse(created.body).id;
    expect((await call({ port: server.port }, "GET", `/sessions/${id}`)).status).toBe(401);
    const viaSocket = await call({ socketPath }, "GET", `/sessions/${id}`);
    expect(viaSocket.status).toBe(200);
    expect(JSON.parse(viaSocket.body).session_type).toBe("task");
    expect(server.logs.join("\n")).not.toContain(server.token);
  });

  it("finishes in-flight requests on SIGTERM, refuses new connections, flushes and exits 0", async () => {
    const server = await serve();
    const socketPath = join(server.home, "sessiond.sock");
    // A request whose body is still arriving when the signal comes.
    const body = '{"name": "in-flight", "context": {"survives": true}}';
    const inFlight = new Promise<Reply>((resolve, reject) => {
      const req = httpRequest(
        { host: "127.0.0.1", port: server.port, method: "POST", path: "/sessions/", agent: false, headers: { authorization: `Bearer ${server.token}`, "content-type": "application/json", "content-length": Buffer.byteLength(body) } },
        (res) => {
          let text = "";
          res.on("data", (c) => (text += c));
          res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
        },
      );
      req.on("error", reject);
      req.write(body.slice(0, 10));
      setTimeout(() => {
        server.child.kill("SIGTERM");
        // The rest of the body once the server has taken the signal (it says so first).
        void (async () => {
          while (!server.logs.some((l) => l.includes("shutting down")) && server.child.exitCode === null) await new Promise((r) => setTimeout(r, 10));
          req.end(body.slice(10));
        })();
      }, 200);
    });
    const res = await inFlight;
    expect(res.status).toBe(201);
    await expect(call({ port: server.port }, "GET", "/healthz")).rejects.toThrow(/ECONNREFUSED/);
    expect(await server.exited).toBe(0);
    expect(existsSync(socketPath)).toBe(false);
    expect(existsSync(join(server.home, "server.pid"))).toBe(false);
    expect(server.logs.some((l) => l.includes("shutting down"))).toBe(true);

    // What it acknowledged is there after a restart.
    const again = await serve(server.home);
    const read = await call({ socketPath }, "GET", "/sessions/in-flight");
    expect(read.status).toBe(200);
    expect(JSON.parse(read.body).context).toEqual({ survives: true });
    again.child.kill("SIGINT");
    expect(await again.exited).toBe(0);
  });

  it("refuses to start a second server on the same data dir", async () => {
    const first = await serve();
    const second = run(["serve", "--port", "0"], first.home);
    expect(await second.exited).toBe(1);
    // One line for a person, naming the owner; the stack goes to the data dir's log.
    expect(second.logs).toEqual([expect.stringMatching(new RegExp(`^sessiond: could not start: .* is owned by pid ${first.child.pid} .*; it answers on .*sessiond\\.sock`))]);
    expect(readFileSync(join(first.home, "server.log"), "utf8")).toMatch(/"stack":/);
    expect((await call({ socketPath: join(first.home, "sessiond.sock") }, "GET", "/healthz")).status).toBe(200);
  });

  it("says how to give a second data dir's server a port of its own when the first has the port", async () => {
    const first = await serve();
    const second = run(["serve", "--port", String(first.port)], newHome());
    expect(await second.exited).toBe(1);
    // Its one line for a person is on stderr; the log of the token it generated first is on
    // stdout, and the two pipes are read in whichever order they flush.
    expect(second.logs.find((l) => l.startsWith("sessiond:"))).toMatch(/^sessiond: could not start: listen EADDRINUSE.*give this data dir a port of its own \(config port, SESSIOND_PORT, or --port 0 for a free one\)/);
    expect(second.logs.join("\n")).not.toMatch(/"stack"|    at /);
  });

  it("refuses to start a PostgreSQL node whose passwordless local database live sessions could reach, unless told to accept it", async () => {
    const env = { SESSIOND_STORE: "postgres", SESSIOND_PG_URL: "postgres://postgres@127.0.0.1:5432/test", ENABLE_SESSIONS: "true" };
    const refused = run(["serve", "--port", "0"], newHome(), env);
    expect(await refused.exited).toBe(1);
    expect(refused.logs.find((l) => l.startsWith("sessiond:"))).toMatch(
      /^sessiond: could not start: live sessions share this host's network \(sandboxNetwork\) and PostgreSQL listens on 127\.0\.0\.1:5432 here with no password in pgUrl: .*allowReachableDatabase: true to accept the risk/,
    );
    // With the sessions' network off, the database is out of their reach: no refusal of that kind.
    const offline = run(["serve", "--port", "0"], newHome(), { ...env, SESSIOND_SANDBOX_NETWORK: "false", SESSIOND_PG_URL: "postgres://postgres@127.0.0.1:1/none", SESSIOND_PG_CONNECT_TIMEOUT_MS: "500" });
    await offline.exited;
    expect(offline.logs.join("\n")).not.toContain("with no password in pgUrl");
  });

  it("replaces a stale socket file left by a server that died", async () => {
    const first = await serve();
    first.child.kill("SIGKILL");
    await first.exited;
    expect(existsSync(join(first.home, "sessiond.sock"))).toBe(true);
    const second = await serve(first.home);
    expect((await call({ socketPath: join(first.home, "sessiond.sock") }, "GET", "/healthz")).status).toBe(200);
    second.child.kill("SIGTERM");
    expect(await second.exited).toBe(0);
  });

  it("exits 2 with a message naming the key on a bad config, and refuses auth off on a public address", async () => {
    const bad = run(["serve", "--port", "seventy"], newHome());
    expect(await bad.exited).toBe(2);
    expect(bad.logs.join("\n")).toContain("config.port");
    const open = run(["serve", "--port", "0", "--host", "0.0.0.0"], newHome(), { SESSIOND_AUTH: "false" });
    expect(await open.exited).toBe(2);
    expect(open.logs.join("\n")).toContain("not a loopback address");
  });

  it("reads --config FILE < env < flags", async () => {
    const home = newHome();
    const file = join(home, "config.json");
    writeFileSync(file, JSON.stringify({ port: 1, logLevel: "warn", host: "127.0.0.1" }));
    const server = await serve(home, ["--config", file], { SESSIOND_LOG_LEVEL: "info" });
    expect(server.port).not.toBe(1);
    expect(server.logs.some((l) => l.includes('"level":30'))).toBe(true);
  });
});

describe("sessiond config", () => {
  it("prints the effective config with secrets masked", () => {
    const home = newHome();
    const file = join(home, "config.json");
    writeFileSync(
      file,
      JSON.stringify({
        pgUrl: "postgres://app:hunter2-password@db:5432/sessions",
        tokens: [{ token: "very-secret-agent-token", role: "agent", agent_id: "a" }],
        retentionDays: 30,
      }),
    );
    const out = execFileSync(process.execPath, [CLI, "config", "--json", "--config", file, "--port", "9000"], {
      cwd: ROOT,
      env: { ...process.env, SESSIOND_HOME: home, SESSIOND_HOST: "127.0.0.2" },
      encoding: "utf8",
    });
    expect(out).not.toContain("hunter2-password");
    expect(out).not.toContain("very-secret-agent-token");
    const config = JSON.parse(out);
    expect(config).toMatchObject({ home, port: 9000, host: "127.0.0.2", retentionDays: 30, tokens: [{ token: "********", role: "agent", agent_id: "a" }] });
    expect(config.pgUrl).toBe("postgres://app:********@db:5432/sessions");
  });
});

describe("seed 003's curl examples against a real server", () => {
  const hasCurl = (() => {
    try {
      execFileSync("curl", ["--version"], { stdio: "ignore" });
      return true;
    } catch {
      return false;
    }
  })();

  it.skipIf(!hasCurl)("work as written with curl, plus the bearer token, over TCP", async () => {
    const server = await serve();
    const base = `http://127.0.0.1:${server.port}`;
    const auth = `Authorization: Bearer ${server.token}`;
    const curl = (...args: string[]) => JSON.parse(execFileSync("curl", ["-s", "-H", auth, ...args], { encoding: "utf8" }));
    // The session the PATCH examples address.
    curl("-X", "POST", `${base}/sessions/`, "-H", "Content-Type: application/json", "-d", '{"id": "660e8400-e29b-41d4-a716-446655440001", "agent_id": "550e8400-e29b-41d4-a716-446655440000"}');

    const created = curl("-X", "POST", `${base}/sessions/`, "-H", "Content-Type: application/json", "-d", `{
    "agent_id": "550e8400-e29b-41d4-a716-446655440000",
    "session_type": "task",
    "context": {"task_id": "implement-modal"},
    "runtime_backend": "local"
  }`);
    expect(created).toMatchObject({ session_type: "task", status: "active", runtime_backend: "local" });
    expect(curl(`${base}/sessions/660e8400-e29b-41d4-a716-446655440001`).id).toBe("660e8400-e29b-41d4-a716-446655440001");
    expect(curl("-X", "PATCH", `${base}/sessions/660e8400-e29b-41d4-a716-446655440001`, "-d", '{"status": "paused"}').status).toBe("paused");
    expect(curl("-X", "PATCH", `${base}/sessions/660e8400-e29b-41d4-a716-446655440001`, "-d", '{"status": "active"}').status).toBe("active");
    const saved = curl("-X", "PATCH", `${base}/sessions/660e8400-e29b-41d4-a716-446655440001`, "-d", `{
    "checkpoint": {
      "step": 5,
      "state": {"files": ["a.ts"]},
      "resume_prompt": "Continue from step 5"
    }
  }`);
    expect(saved.checkpoint).toEqual({ step: 5, state: { files: ["a.ts"] }, resume_prompt: "Continue from step 5" });
    expect(curl(`${base}/sessions/?agent_id=550e8400-e29b-41d4-a716-446655440000`)).toHaveLength(2);
    expect(curl(`${base}/sessions/?agent_id=550e8400-e29b-41d4-a716-446655440000&limit=10`)).toHaveLength(2);
    expect(curl(`${base}/sessions/?limit=20`)).toHaveLength(2);
    expect(curl("-X", "PATCH", `${base}/sessions/660e8400-e29b-41d4-a716-446655440001`, "-d", '{"status": "completed"}').status).toBe("completed");
  });

  it.skipIf(!hasCurl)("work over the Unix socket with no token at all", async () => {
    const server = await serve();
    const socket = join(server.home, "sessiond.sock");
    const out = execFileSync("curl", ["-s", "--unix-socket", socket, "-X", "POST", "http://localhost/sessions/", "-d", '{"session_type": "batch"}'], { encoding: "utf8" });
    expect(JSON.parse(out)).toMatchObject({ session_type: "batch", status: "active" });
  });
});

const redisUp = await serviceAvailable("redis");

describe.skipIf(!redisUp)("sessiond serve with a Redis URL", () => {
  it("publishes session.created on the configured channel for a POST /sessions/", async () => {
    const channel = `events:session:serve-${process.pid}-${Date.now()}`;
    const subscriber = new Redis(SERVICES.redis.url, { lazyConnect: true, maxRetriesPerRequest: 1 });
    try {
      await subscriber.connect();
      const messages: string[] = [];
      subscriber.on("message", (ch: string, message: string) => {
        if (ch === channel) messages.push(message);
      });
      await subscriber.subscribe(channel);
      const server = await serve(newHome(), [], { SESSIOND_REDIS_URL: SERVICES.redis.url, SESSIOND_REDIS_CHANNEL: channel });
      const created = await call({ port: server.port }, "POST", "/sessions/", { token: server.token, body: '{"session_type": "task"}', contentType: "application/json" });
      expect(created.status).toBe(201);
      const id = JSON.parse(created.body).id as string;
      const deadline = Date.now() + 10_000;
      const created_ = () => messages.map((m) => JSON.parse(m) as Record<string, unknown>).find((m) => m.event_type === "session.created" && m.aggregate_id === id);
      while (!created_() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      expect(created_()).toMatchObject({ event_type: "session.created", aggregate_type: "session", aggregate_id: id, payload: { session_type: "task" } });
      server.child.kill("SIGTERM");
      expect(await server.exited).toBe(0);
    } finally {
      subscriber.disconnect();
    }
  });
});

describe("sessiond serve with live sessions", () => {
  it("runs a shell over TCP with ENABLE_SESSIONS=true, stops it on SIGTERM, and marks it crashed after a restart", async () => {
    const home = newHome();
    const server = await serve(home, [], { ENABLE_SESSIONS: "true" });
    const json = "application/json";
    const started = await call({ port: server.port }, "POST", "/session/start", { token: server.token, body: '{"mode": "shell", "server": "local"}', contentType: json });
    expect(started.status).toBe(201);
    const { id } = JSON.parse(started.body) as { id: string };
    const exec = await call({ port: server.port }, "POST", `/session/${id}/exec`, { token: server.token, body: '{"input": "echo $$"}', contentType: json });
    expect(JSON.parse(exec.body)).toMatchObject({ status: "ok" });
    expect(Number(JSON.parse(exec.body).stdout.trim())).toBeGreaterThan(0);
    // The host's pid of the shell (inside its sandbox, `$$` is its own PID namespace's).
    const shown = await call({ port: server.port }, "GET", `/sessions/${id}`, { token: server.token });
    const shellPid = JSON.parse(shown.body).runtime_metadata.pid as number;
    expect(shellPid).toBeGreaterThan(0);

    server.child.kill("SIGTERM");
    expect(await server.exited).toBe(0);
    const alive = () => {
      try {
        process.kill(shellPid, 0);
        return true;
      } catch {
        return false;
      }
    };
    expect(alive()).toBe(false);

    const again = await serve(home);
    const session = await call({ port: again.port }, "GET", `/sessions/${id}`, { token: again.token });
    expect(JSON.parse(session.body).status).toBe("crashed");
    const refused = await call({ port: again.port }, "POST", "/session/start", { token: again.token, body: '{"mode": "shell"}', contentType: json });
    expect(refused.status).toBe(400);
    again.child.kill("SIGTERM");
    expect(await again.exited).toBe(0);
  });

  it("passes WebSocket upgrades on the Unix socket to the routes with no token; on TCP one is needed", async () => {
    const server = await serve(newHome(), [], { ENABLE_SESSIONS: "true" });
    const socketPath = join(server.home, "sessiond.sock");
    const created = await call({ socketPath }, "POST", "/sessions", { body: '{"kind": "shell", "name": "shared"}', contentType: "application/json" });
    expect(created.status).toBe(201);

    const local = new WebSocket(`ws+unix:${socketPath}:/sessions/shared/attach`);
    const hello = await new Promise<{ type: string; role: string }>((resolve, reject) => {
      local.once("message", (data) => resolve(JSON.parse(String(data))));
      local.once("error", reject);
    });
    expect(hello).toMatchObject({ type: "hello", role: "driver" });
    local.send(Buffer.from("echo over-the-socket-$((6*7))\r"));
    await new Promise<void>((resolve) => {
      let seen = "";
      local.on("message", (data, binary) => {
        if (binary && (seen += String(data)).includes("over-the-socket-42")) resolve();
      });
    });
    local.terminate();

    const status = await new Promise<number>((resolve, reject) => {
      const tcp = new WebSocket(`ws://127.0.0.1:${server.port}/sessions/shared/attach`);
      tcp.once("unexpected-response", (_req, res) => resolve(res.statusCode ?? 0));
      tcp.once("open", () => reject(new Error("attached over TCP without a token")));
    });
    expect(status).toBe(401);
    server.child.kill("SIGTERM");
    expect(await server.exited).toBe(0);
  });
});
