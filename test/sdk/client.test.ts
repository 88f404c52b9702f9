import type { Server } from "node:http";
import { type AddressInfo, type Socket, createServer as createNetServer } from "node:net";
import { tmpdir } from "node:os";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join, relative, resolve as resolvePath, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { ERROR_CODES, type ErrorCode, SessiondError, type SessiondClient, createClient, errorFromWire, resolveTarget } from "sessiond/client";
import { createUnixSocketServer } from "../../src/server/index.js";
import { type TestServer, startServer } from "../server/harness.js";
import { waitFor } from "../events/support/wait.js";

/** End-to-end: the SDK against the real server, over a real TCP port and the real Unix socket. */
describe("sessiond/client", () => {
  let server: TestServer | undefined;
  let socketServer: Server | undefined;
  const clients: SessiondClient[] = [];

  afterEach(async () => {
    for (const client of clients.splice(0)) await client.close();
    if (socketServer) await new Promise<void>((resolve) => socketServer!.close(() => resolve()));
    socketServer = undefined;
    await server?.close();
    server = undefined;
  });

  /** A real server on 127.0.0.1 and a free port, and a client on it with the admin token. */
  async function overTcp(flags: Record<string, unknown> = {}): Promise<SessiondClient> {
    server = await startServer(flags);
    await server.app.listen({ host: "127.0.0.1", port: 0 });
    const address = server.app.server.address();
    if (!address || typeof address === "string") throw new Error("no TCP address");
    const client = createClient({ baseUrl: `http://127.0.0.1:${address.port}`, token: server.token, home: server.home });
    clients.push(client);
    return client;
  }

  it("creates, reads and updates a session; a stale If-Match is a version_conflict SessiondError", async () => {
    const client = await overTcp();
    await client.init();
    const created = await client.sessions.createSession({ name: "sdk-build", agent_id: "a1", task: "fix the build", context: { step: 1 } });
    expect(created).toMatchObject({ name: "sdk-build", agent_id: "a1", status: "active", version: expect.any(Number) });

    const byName = await client.sessions.getSession("sdk-build");
    expect(byName.id).toBe(created.id);

    const updated = await client.sessions.updateSession(created.id, { task: "fix it faster", context_patch: { step: 2 } }, { ifMatch: created.version });
    expect(updated.task).toBe("fix it faster");
    expect(updated.context).toEqual({ step: 2 });
    expect(updated.version).toBeGreaterThan(created.version);

    const stale = await client.sessions.updateSession(created.id, { task: "lost update" }, { ifMatch: created.version }).catch((err: unknown) => err);
    expect(stale).toBeInstanceOf(SessiondError);
    expect(stale).toMatchObject({ code: "version_conflict", status: 412, field: "version" });
    expect((await client.sessions.getSession(created.id)).task).toBe("fix it faster");
  });

  it("lists sessions a page at a time, following next_cursor to the end", async () => {
    const client = await overTcp();
    const names = Array.from({ length: 7 }, (_, i) => `page-${i}`);
    for (const name of names) await client.sessions.createSession({ name, agent_id: "lister" });
    await client.sessions.createSession({ name: "other-agent", agent_id: "someone-else" });

    const seen: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const page = await client.sessions.listSessions({ agent_id: "lister" }, { limit: 3, ...(cursor ? { cursor } : {}) });
      expect(page.items.length).toBeLessThanOrEqual(3);
      seen.push(...page.items.map((s) => s.name));
      cursor = page.next_cursor ?? undefined;
      pages++;
    } while (cursor);
    expect(pages).toBeGreaterThanOrEqual(3);
    expect(seen.sort()).toEqual([...names].sort());

    // Seed 001's listSessions follows the cursors itself.
    expect((await client.listSessions()).map((s) => s.name).sort()).toEqual([...names, "other-agent"].sort());
  });

  it("passes a search, a sort and an order to the list, page after page and through iterateSessions", async () => {
    const client = await overTcp();
    for (const name of ["b-build", "a-build", "c-lint", "d-BUILD"]) await client.sessions.createSession({ name, agent_id: "sorted" });
    const first = await client.sessions.listSessions({ agent_id: "sorted", q: "build" }, { sort: "name", order: "asc", limit: 2 });
    expect(first.items.map((s) => s.name)).toEqual(["a-build", "b-build"]);
    const second = await client.sessions.listSessions({ agent_id: "sorted", q: "build" }, { sort: "name", order: "asc", limit: 2, cursor: first.next_cursor! });
    expect(second).toMatchObject({ items: [{ name: "d-BUILD" }], next_cursor: null });
    // The cursor belongs to its order: another is a validation error naming it.
    await expect(client.sessions.listSessions({ agent_id: "sorted" }, { cursor: first.next_cursor! })).rejects.toMatchObject({ code: "validation", field: "cursor" });
    const iterated: string[] = [];
    for await (const s of client.sessions.iterateSessions({ agent_id: "sorted" }, { sort: "name", order: "desc", limit: 1 })) iterated.push(s.name);
    expect(iterated).toEqual(["d-BUILD", "c-lint", "b-build", "a-build"]);
    const byPageSize: string[] = [];
    for await (const s of client.sessions.iterateSessions({ agent_id: "sorted" }, 3)) byPageSize.push(s.name);
    expect(byPageSize).toEqual(["d-BUILD", "c-lint", "a-build", "b-build"]);
  });

  it("answers a missing session with not_found, and seed 001's getSession with null", async () => {
    const client = await overTcp();
    const err = await client.sessions.getSession("no-such-session").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SessiondError);
    expect(err).toMatchObject({ code: "not_found", status: 404 });
    expect((err as Error).message).toContain("no-such-session");
    expect(await client.getSession("no-such-session")).toBeNull();
    await expect(client.forceSave("no-such-session")).rejects.toMatchObject({ code: "not_found" });

    const s = await client.sessions.createSession({ name: "saved" });
    expect((await client.getSession("saved"))?.id).toBe(s.id);
    await expect(client.forceSave("saved")).resolves.toBeUndefined();
  });

  it("walks a lifecycle: pause, resume, iterate to timeout; crash and recover; fail; an illegal move is invalid_transition", async () => {
    const client = await overTcp();
    const { sessions } = client;
    const s = await sessions.createSession({ name: "life", max_iterations: 2 });
    expect((await sessions.pause(s.id, "lunch")).status).toBe("paused");
    await expect(sessions.pause(s.id)).rejects.toMatchObject({ code: "invalid_transition", status: 409 });
    expect((await sessions.resume(s.id)).status).toBe("active");
    expect((await sessions.incrementIteration(s.id, { phase: "plan" })).iterations).toBe(1);
    const done = await sessions.incrementIteration(s.id);
    expect(done).toMatchObject({ iterations: 2, status: "timeout" });

    const c = await sessions.createSession({ name: "crashy" });
    await sessions.createCheckpoint(c.id, { label: "safe", data: { at: 1 } });
    expect((await sessions.crash(c.id, "oom")).status).toBe("crashed");
    const recovery = await sessions.recover(c.id);
    expect(recovery.session.status).toBe("active");
    expect(recovery.checkpoint).toMatchObject({ label: "safe", data: { at: 1 } });
    expect((await sessions.complete(c.id, { pr: 42 })).result).toEqual({ pr: 42 });

    const f = await sessions.createSession({ name: "failing" });
    expect(await sessions.fail(f.id, "out of budget")).toMatchObject({ status: "failed", error: "out of budget" });

    const m = await sessions.metrics(c.id);
    expect(m).toMatchObject({ session_id: c.id, status: "completed", checkpoints: 1 });

    await sessions.deleteSession(f.id);
    await expect(sessions.getSession(f.id)).rejects.toMatchObject({ code: "not_found" });
  });

  it("appends events, reads them back in pages and by type, and time-travels with stateAt", async () => {
    const client = await overTcp();
    const { sessions } = client;
    const s = await sessions.createSession({ name: "eventful" });
    for (let i = 0; i < 5; i++) await sessions.appendEvent(s.id, "note", { i });
    const tool = await sessions.recordToolCall(s.id, "grep", { q: "x" }, { hits: 3 });
    expect(tool.type).toBe("tool_call");

    const notes: number[] = [];
    let cursor: string | undefined;
    do {
      const page = await sessions.listEvents(s.id, { types: ["note"], limit: 2, ...(cursor ? { cursor } : {}) });
      notes.push(...page.items.map((e) => e.data.i as number));
      cursor = page.next_cursor ?? undefined;
    } while (cursor);
    expect(notes).toEqual([0, 1, 2, 3, 4]);

    const newest = await sessions.listEvents(s.id, { order: "desc", limit: 1 });
    expect(newest.items[0]?.type).toBe("tool_call");
    expect(newest.next_cursor).not.toBeNull();

    await sessions.updateSession(s.id, { context: { later: true } });
    const before = await sessions.stateAt(s.id, tool.seq);
    expect(before).toMatchObject({ seq: tool.seq, context: {}, status: "active" });
    expect((await sessions.stateAt(s.id)).context).toEqual({ later: true });
  });

  it("records a checkpoint, restores it and forks a new session from it", async () => {
    const client = await overTcp();
    const { sessions } = client;
    const s = await sessions.createSession({ name: "forky", context: { plan: "a" } });
    await sessions.incrementIteration(s.id);
    const cp = await sessions.createCheckpoint(s.id, { label: "before-refactor", data: { step: 3 } });
    expect(cp).toMatchObject({ session_id: s.id, label: "before-refactor", data: { step: 3 }, state: { context: { plan: "a" }, iterations: 1 } });
    expect((await sessions.listCheckpoints(s.id)).map((c) => c.id)).toEqual([cp.id]);
    expect((await sessions.getCheckpoint(s.id, cp.id)).label).toBe("before-refactor");
    await expect(sessions.getCheckpoint(s.id, "no-such-checkpoint")).rejects.toMatchObject({ code: "not_found" });

    await sessions.updateSession(s.id, { context: { plan: "b" } });
    await sessions.incrementIteration(s.id);
    const restored = await sessions.restore(s.id, cp.id);
    expect(restored).toMatchObject({ context: { plan: "a" }, iterations: 1 });

    const child = await sessions.fork(s.id, cp.id, { name: "try-b" });
    expect(child).toMatchObject({ name: "try-b", parent: s.id, status: "active", context: { plan: "a" }, iterations: 1 });
    expect(child.id).not.toBe(s.id);
  });

  it("reports stats over the sessions, with the list's filters, and cleans up", async () => {
    const client = await overTcp();
    const { sessions } = client;
    const a = await sessions.createSession({ agent_id: "stats", mode: "dev" });
    await sessions.createSession({ agent_id: "stats", mode: "dev" });
    const c = await sessions.createSession({ agent_id: "stats", mode: "review" });
    await sessions.complete(a.id);
    await sessions.fail(c.id, "nope");
    await sessions.createSession({ agent_id: "elsewhere" });

    const stats = await sessions.stats({ agent_id: "stats" });
    expect(stats).toMatchObject({ total: 3, by_status: { active: 1, completed: 1, failed: 1 }, by_mode: { dev: 2, review: 1 }, success_rate: 50 });
    expect((await sessions.stats()).total).toBe(4);
    expect(await sessions.cleanup(1)).toEqual({ deleted: 0 });
  });

  it("runs commands in a live shell session through seed 001's executeCommand, interrupts and stops it", async () => {
    const client = await overTcp({ enableSessions: true });
    const shell = await client.sessions.createSession({ kind: "shell", name: "sdk-shell" });
    const pids = server!.app.sessiond.live.list().map((info) => info.pid);
    try {
      const result = await client.executeCommand("sdk-shell", "cd /tmp && echo hello-$((40 + 2))");
      expect(result).toMatchObject({ stdout: expect.stringContaining("hello-42"), exit_code: 0 });
      expect((await client.executeCommand(shell.id, "pwd")).stdout.trim()).toBe("/tmp");
      // A failing command is a result, not an error.
      expect((await client.executeCommand(shell.id, "false")).exit_code).toBe(1);
      await expect(client.executeCommand("no-such-shell", "true")).rejects.toMatchObject({ code: "not_found" });
      expect(await client.sessions.interrupt(shell.id)).toEqual({ interrupted: false, exec_id: null });
      expect((await client.sessions.exec(shell.id, "echo $((6 * 7))", { timeout_ms: 5000 })).stdout.trim()).toBe("42");
      expect((await client.sessions.stop(shell.id)).status).toBe("completed");
      await expect(client.executeCommand(shell.id, "true")).rejects.toBeInstanceOf(SessiondError);
    } finally {
      await server!.close();
      const alive = (pid: number) => {
        try {
          process.kill(pid, 0);
          return true;
        } catch {
          return false;
        }
      };
      const deadline = Date.now() + 5000;
      while (pids.some((pid) => pid !== null && alive(pid)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      expect(pids.filter((pid) => pid !== null && alive(pid))).toEqual([]);
    }
  });

  it("loads nothing of the server, engine, store, drivers or events (so the CLI loads it cheaply)", () => {
    const root = fileURLToPath(new URL("../../src/", import.meta.url));
    const seen = new Set<string>();
    const visit = (file: string) => {
      if (seen.has(file)) return;
      seen.add(file);
      for (const [, spec] of readFileSync(file, "utf8").matchAll(/^(?:import|export)\s(?!type\b)[^;]*?from\s+"(\.[^"]+)"/gm)) {
        visit(resolvePath(dirname(file), spec!.replace(/\.js$/, ".ts")));
      }
    };
    visit(join(root, "sdk/client/index.ts"));
    expect(seen.size).toBeGreaterThanOrEqual(6);
    const layers = [...seen].map((file) => relative(root, file).split(sep)[0]);
    expect(new Set(layers)).toEqual(new Set(["sdk", "core"]));
  });

  it("talks over the Unix socket with no token, found through SESSIOND_HOME by default", async () => {
    server = await startServer();
    const socketPath = join(server.home, "sessiond.sock");
    socketServer = createUnixSocketServer(server.app);
    await new Promise<void>((resolve) => socketServer!.listen(socketPath, resolve));

    const client = createClient({ env: { SESSIOND_HOME: server.home } });
    clients.push(client);
    expect(client.target).toBe(`unix:${socketPath}`);
    await client.init();
    const s = await client.sessions.createSession({ name: "via-socket" });
    expect((await client.getSession("via-socket"))?.id).toBe(s.id);
    expect((await client.listSessions()).map((x) => x.name)).toEqual(["via-socket"]);
  });

  it("interrupts a long exec over the Unix socket while the exec's own request is still waiting", async () => {
    server = await startServer({ enableSessions: true });
    const socketPath = join(server.home, "sessiond.sock");
    socketServer = createUnixSocketServer(server.app);
    await new Promise<void>((resolve) => socketServer!.listen(socketPath, resolve));
    const client = createClient({ socketPath });
    clients.push(client);
    const shell = await client.sessions.createSession({ kind: "shell" });
    try {
      const running = client.sessions.exec(shell.id, "sleep 20");
      await waitFor("the exec to run", async () => (await client.live.list()).find((i) => i.session_id === shell.id)?.running_exec_id);
      expect((await client.sessions.interrupt(shell.id)).interrupted).toBe(true);
      expect((await running).status).toBe("interrupted");
    } finally {
      await client.sessions.stop(shell.id);
    }
  });

  it("is refused over TCP without a token, as an unauthorized SessiondError", async () => {
    const withToken = await overTcp();
    const noToken = createClient({ baseUrl: withToken.target, token: "", home: "/nonexistent" });
    clients.push(noToken);
    await expect(noToken.sessions.listSessions()).rejects.toMatchObject({ code: "unauthorized", status: 401 });
    // With only the data dir given, the token is read from $SESSIOND_HOME/token.
    const fromHome = createClient({ baseUrl: withToken.target, home: server!.home });
    clients.push(fromHome);
    expect((await fromHome.sessions.listSessions()).items).toEqual([]);
  });

  it("fails with a typed timeout error when the server does not answer in time", async () => {
    // A peer that accepts connections and never answers: what a hung server looks like.
    const sockets: Socket[] = [];
    const silent = createNetServer((socket) => void sockets.push(socket));
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    try {
      const { port } = silent.address() as AddressInfo;
      const slow = createClient({ baseUrl: `http://127.0.0.1:${port}`, token: "t".repeat(32), timeoutMs: 200 });
      clients.push(slow);
      const started = Date.now();
      const err = await slow.sessions.listSessions().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(SessiondError);
      expect((err as SessiondError).message).toMatch(/within 200 ms/);
      expect(Date.now() - started).toBeLessThan(5000);
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => silent.close(() => resolve()));
    }
  });

  it("fails with a typed timeout error when an answer stops halfway through its body", async () => {
    // Headers and the first bytes of a JSON body, then nothing: a server that hung mid-answer.
    const sockets: Socket[] = [];
    const stalled = createNetServer((socket) => {
      sockets.push(socket);
      socket.once("data", () => socket.write('HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{"items": ['));
    });
    await new Promise<void>((resolve) => stalled.listen(0, "127.0.0.1", resolve));
    try {
      const { port } = stalled.address() as AddressInfo;
      const slow = createClient({ baseUrl: `http://127.0.0.1:${port}`, token: "t".repeat(32), timeoutMs: 200, attempts: 1 });
      clients.push(slow);
      const err = await slow.sessions.listSessions().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(SessiondError);
      expect((err as SessiondError).message).toMatch(/within 200 ms/);
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => stalled.close(() => resolve()));
    }
  });

  it("fails with a typed error when nothing listens", async () => {
    const client = createClient({ socketPath: join(tmpdir(), `sessiond-none-${process.pid}-${Date.now()}.sock`) });
    clients.push(client);
    await expect(client.init()).rejects.toMatchObject({ code: "server_unreachable", status: 503, message: expect.stringContaining("could not reach sessiond") });
  });

  it("finds the server by default: the socket in SESSIOND_HOME if there, else 127.0.0.1:8011 with the token file", () => {
    const home = mkdtempSync(join(tmpdir(), "sessiond-client-"));
    try {
      writeFileSync(join(home, "token"), "admin-token-from-file\n");
      expect(resolveTarget({ env: { SESSIOND_HOME: home } })).toEqual({
        kind: "url",
        origin: "http://127.0.0.1:8011",
        basePath: "",
        token: "admin-token-from-file",
        timeoutMs: 60_000,
      });
      expect(resolveTarget({ env: { SESSIOND_HOME: home, SESSIOND_PORT: "9000", SESSIOND_CLIENT_TIMEOUT_MS: "1500" } })).toMatchObject({
        origin: "http://127.0.0.1:9000",
        timeoutMs: 1500,
      });
      expect(resolveTarget({ env: {}, home, baseUrl: "https://sd.example/api/", token: "explicit", timeoutMs: 5 })).toEqual({
        kind: "url",
        origin: "https://sd.example",
        basePath: "/api",
        token: "explicit",
        timeoutMs: 5,
      });
      writeFileSync(join(home, "sessiond.sock"), "");
      expect(resolveTarget({ env: { SESSIOND_HOME: home } })).toEqual({ kind: "socket", socketPath: join(home, "sessiond.sock"), timeoutMs: 60_000 });
      expect(resolveTarget({ env: { HOME: home } })).toMatchObject({ kind: "url" }); // ~/.sessiond, not the home itself
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  });

  it("rebuilds every code of ERROR_CODES from its wire body with the same code, field, status and message", () => {
    const codes = Object.keys(ERROR_CODES) as ErrorCode[];
    expect(codes.length).toBeGreaterThan(10);
    for (const code of codes) {
      const original = new SessiondError(code, { field: "f", reason: "because", what: "thing", ref: "r" }, { field: "f" });
      const wire = JSON.parse(JSON.stringify(original));
      const rebuilt = errorFromWire(original.status, wire);
      expect(rebuilt).toBeInstanceOf(SessiondError);
      expect({ code: rebuilt.code, field: rebuilt.field, status: rebuilt.status, message: rebuilt.message }).toEqual({
        code,
        field: "f",
        status: ERROR_CODES[code].status,
        message: original.message,
      });
    }
    // A code from a newer server is kept in params, and the error is still typed.
    const unknown = errorFromWire(500, { error: { code: "brand_new", message: "something new" } });
    expect(unknown).toMatchObject({ code: "internal", message: "something new", params: { wire_code: "brand_new" } });
    // A reply without our error shape is mapped from its status.
    expect(errorFromWire(502, "<html>bad gateway</html>").code).toBe("internal");
    expect(errorFromWire(404, undefined).code).toBe("not_found");
  });
});
