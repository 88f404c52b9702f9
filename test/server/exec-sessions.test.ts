import { afterEach, describe, expect, it, vi } from "vitest";
import { type TestServer, startServer } from "./harness.js";

vi.setConfig({ testTimeout: 30_000 });

const AGENT = "agent-token-0123456789-abcdefghij";
const READER = "reader-token-0123456789-abcdefghij";
const tokens = [
  { token: AGENT, role: "agent", agent_id: "a1" },
  { token: READER, role: "reader" },
];

let server: TestServer | undefined;
const pids = new Set<number>();

/** Remembers the pids of the live shells, so afterEach can prove none outlives the app. */
function trackPids(s: TestServer): void {
  for (const info of s.app.sessiond.live.list()) if (info.pid !== null) pids.add(info.pid);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

afterEach(async () => {
  if (server) trackPids(server);
  await server?.close();
  server = undefined;
  const deadline = Date.now() + 5_000;
  while ([...pids].some(alive) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  const leaked = [...pids].filter(alive);
  pids.clear();
  expect(leaked, "shell processes outlived the app").toEqual([]);
});

async function enabled(flags: Record<string, unknown> = {}): Promise<TestServer> {
  server = await startServer({ enableSessions: true, ...flags });
  return server;
}

async function seedStart(s: TestServer, body: Record<string, unknown> = { mode: "shell", server: "local" }, token?: string) {
  const res = await s.json({ method: "POST", url: "/session/start", body, ...(token ? { token } : {}) });
  trackPids(s);
  return res;
}

describe("seed 000's /session routes", () => {
  it("start → exec keeps cwd and environment → logs since → list → stop", async () => {
    const s = await enabled();
    const started = await seedStart(s);
    expect(started.status).toBe(201);
    expect(Object.keys(started.body).sort()).toEqual(["id", "startedAt"]);
    expect(new Date(started.body.startedAt).toISOString()).toBe(started.body.startedAt);
    const id = started.body.id as string;

    const first = await s.json({ method: "POST", url: `/session/${id}/exec`, body: { input: "cd /tmp && export X=1" } });
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({ status: "ok", exit_code: 0, input: "cd /tmp && export X=1" });
    const second = await s.json({ method: "POST", url: `/session/${id}/exec`, body: { command: "pwd; echo $X" } });
    expect(second.body).toMatchObject({ status: "ok", exit_code: 0, stdout: "/tmp\n1\n" });
    const failed = await s.json({ method: "POST", url: `/session/${id}/exec`, body: { input: "exit_with() { return $1; }; exit_with 3" } });
    expect(failed.body).toMatchObject({ status: "error", exit_code: 3 });

    const logs = await s.json({ method: "GET", url: `/session/${id}/logs` });
    expect(logs.status).toBe(200);
    expect(logs.body.map((r: { input: string }) => r.input)).toEqual(["cd /tmp && export X=1", "pwd; echo $X", "exit_with() { return $1; }; exit_with 3"]);
    const since = await s.json({ method: "GET", url: `/session/${id}/logs?since=${first.body.seq}` });
    expect(since.body.map((r: { exec_id: string }) => r.exec_id)).toEqual([second.body.exec_id, failed.body.exec_id]);

    const list = await s.json({ method: "GET", url: "/session/list" });
    expect(list.status).toBe(200);
    expect(list.body).toHaveLength(1);
    expect(list.body[0]).toMatchObject({ id, mode: "shell", server: "local", state: { status: "live", cwd: "/tmp" }, session_id: id, kind: "shell", cwd: "/tmp" });

    const stopped = await s.json({ method: "POST", url: `/session/${id}/stop` });
    expect(stopped.status).toBe(200);
    expect(stopped.body.status).toBe("completed");
    expect((await s.json({ method: "GET", url: "/session/list" })).body).toEqual([]);
  });

  it("answers 409 to an exec or a stop on a stopped session, and 404 for an unknown one", async () => {
    const s = await enabled();
    const { body } = await seedStart(s);
    await s.json({ method: "POST", url: `/session/${body.id}/stop` });
    const exec = await s.json({ method: "POST", url: `/session/${body.id}/exec`, body: { input: "true" } });
    expect(exec.status).toBe(409);
    expect(exec.body.error.code).toBe("session_not_active");
    expect((await s.json({ method: "POST", url: `/sessions/${body.id}/exec`, body: { input: "true" } })).status).toBe(409);
    expect((await s.json({ method: "POST", url: `/session/${body.id}/stop` })).status).toBe(409);
    expect((await s.json({ method: "POST", url: "/session/nope/exec", body: { input: "true" } })).status).toBe(404);
  });

  it("refuses an exec without input, naming the field", async () => {
    const s = await enabled();
    const { body } = await seedStart(s);
    const res = await s.json({ method: "POST", url: `/session/${body.id}/exec`, body: {} });
    expect(res.status).toBe(400);
    expect(res.body.error).toMatchObject({ code: "validation", field: "input" });
    // A misnamed field names the ones the route takes.
    const misnamed = await s.json({ method: "POST", url: `/session/${body.id}/exec`, body: { cmd: "true" } });
    expect(misnamed.status).toBe(400);
    expect(misnamed.body.error).toMatchObject({ code: "validation", field: "cmd", message: expect.stringMatching(/^invalid cmd: unknown field \(known: input, command, timeout_ms, .*\)$/) });
    await s.json({ method: "POST", url: `/session/${body.id}/stop` });
  });
});

describe("the canonical routes", () => {
  it("POST /sessions with kind shell starts a process; exec, interrupt and stop under /sessions/{id}", async () => {
    const s = await enabled();
    const created = await s.json({ method: "POST", url: "/sessions/", body: { kind: "shell", name: "build", env: { GREETING: "hi" } } });
    trackPids(s);
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ kind: "shell", name: "build", status: "active" });
    const echo = await s.json({ method: "POST", url: "/sessions/build/exec", body: { input: "echo $GREETING" } });
    expect(echo.body).toMatchObject({ status: "ok", stdout: "hi\n" });

    const idle = await s.json({ method: "POST", url: "/sessions/build/interrupt" });
    expect(idle.body).toEqual({ interrupted: false, exec_id: null });
    const sleeping = s.json({ method: "POST", url: "/sessions/build/exec", body: { input: "sleep 30" } });
    const deadline = Date.now() + 5_000;
    while (s.app.sessiond.live.describe("build")?.running_exec_id == null && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    const interrupted = await s.json({ method: "POST", url: "/sessions/build/interrupt" });
    expect(interrupted.body.interrupted).toBe(true);
    expect((await sleeping).body.status).toBe("interrupted");

    const stopped = await s.json({ method: "POST", url: "/sessions/build/stop" });
    expect(stopped.body.status).toBe("completed");
  });

  it("refuses a kind that is off, listing the enabled modes", async () => {
    // Only the shell is turned on: the other kinds have drivers now, but are off.
    const s = await enabled({ executionModes: { python: false, typescript: false, llm: false } });
    for (const kind of ["python", "typescript", "llm"]) {
      const res = await s.json({ method: "POST", url: "/sessions/", body: { kind } });
      expect(res.status).toBe(400);
      expect(res.body.error.field).toBe("kind");
      expect(res.body.error.message).toContain("enabled modes: shell");
    }
    const seed = await s.json({ method: "POST", url: "/session/start", body: { mode: "cobol" } });
    expect(seed.status).toBe(400);
    expect(seed.body.error).toMatchObject({ code: "validation", field: "mode" });
  });

  it("keeps a plain agent session a record, and refuses process options on it", async () => {
    const s = await enabled();
    expect((await s.json({ method: "POST", url: "/sessions/", body: { kind: "agent" } })).status).toBe(201);
    const res = await s.json({ method: "POST", url: "/sessions/", body: { cwd: "/tmp" } });
    expect(res.status).toBe(400);
    expect(res.body.error.field).toBe("cwd");
    expect(s.app.sessiond.live.liveCount).toBe(0);
  });

  it("answers 429 past maxLiveSessions", async () => {
    const s = await enabled({ maxLiveSessions: 1 });
    expect((await seedStart(s)).status).toBe(201);
    const over = await seedStart(s);
    expect(over.status).toBe(429);
    expect(over.body.error.code).toBe("rate_limited");
  });
});

describe("enablement and roles (seed 000 §8)", () => {
  it("refuses to start any mode while sessions are off (the default), with 400 saying how to turn them on", async () => {
    server = await startServer();
    const seed = await server.json({ method: "POST", url: "/session/start", body: { mode: "shell", server: "local" } });
    expect(seed.status).toBe(400);
    expect(seed.body.error).toMatchObject({ code: "validation", field: "mode" });
    expect(seed.body.error.message).toContain("ENABLE_SESSIONS");
    const canonical = await server.json({ method: "POST", url: "/sessions/", body: { kind: "shell" } });
    expect(canonical.status).toBe(400);
    expect(canonical.body.error.field).toBe("kind");
    expect(server.app.sessiond.live.liveCount).toBe(0);
  });

  it("turns on through executionModes too, and a mode turned off is refused", async () => {
    server = await startServer({ executionModes: { session: true, shell: false } });
    const res = await server.json({ method: "POST", url: "/session/start", body: { mode: "shell" } });
    expect(res.status).toBe(400);
    expect(res.body.error.message).toContain("shell is not enabled");
  });

  it("is admin-only by default: agent and reader tokens get 403 (reading the logs follows the exec I/O rule)", async () => {
    const s = await enabled({ tokens });
    const { body } = await seedStart(s);
    for (const token of [AGENT, READER]) {
      for (const [method, url] of [
        ["POST", "/session/start"],
        ["GET", "/session/list"],
        ["POST", `/session/${body.id}/exec`],
        ["POST", `/session/${body.id}/stop`],
        ["POST", `/sessions/${body.id}/exec`],
        ["POST", `/sessions/${body.id}/interrupt`],
        ["POST", `/sessions/${body.id}/stop`],
      ] as const) {
        const payload = method === "POST" ? { body: url.endsWith("start") ? { mode: "shell" } : { input: "true" } } : {};
        const res = await s.json({ method, url, token, ...payload });
        expect(res.status, `${token} ${method} ${url}`).toBe(403);
        expect(res.body.error.code).toBe("forbidden");
      }
    }
    expect((await s.json({ method: "POST", url: "/sessions/", body: { kind: "shell" }, token: AGENT })).status).toBe(403);
    // Logs are exec input and output: a reader may not read them; this session is not the agent's.
    expect((await s.json({ method: "GET", url: `/session/${body.id}/logs`, token: READER })).body.error.code).toBe("forbidden");
    expect((await s.json({ method: "GET", url: `/session/${body.id}/logs`, token: AGENT })).body.error.code).toBe("not_found");
    expect(s.app.sessiond.live.liveCount).toBe(1);
    await s.json({ method: "POST", url: `/session/${body.id}/stop` });
  });

  it("lets agent tokens run their own sessions when execRoles grants it, and hides others'", async () => {
    const s = await enabled({ tokens, execRoles: ["admin", "agent"] });
    const mine = await seedStart(s, { mode: "shell" }, AGENT);
    expect(mine.status).toBe(201);
    expect((await s.json({ method: "GET", url: `/sessions/${mine.body.id}` })).body.agent_id).toBe("a1");
    const theirs = await seedStart(s);
    expect((await s.json({ method: "POST", url: `/session/${mine.body.id}/exec`, body: { input: "echo ok" }, token: AGENT })).body.stdout).toBe("ok\n");
    expect((await s.json({ method: "POST", url: `/session/${theirs.body.id}/exec`, body: { input: "true" }, token: AGENT })).status).toBe(404);
    const list = await s.json({ method: "GET", url: "/session/list", token: AGENT });
    expect(list.body.map((i: { session_id: string }) => i.session_id)).toEqual([mine.body.id]);
    expect((await s.json({ method: "GET", url: "/session/list" })).body).toHaveLength(2);
  });
});

describe("shutdown", () => {
  it("closing the app stops every shell; the sessions are crashed, to be recovered", async () => {
    const s = await enabled();
    const { body } = await seedStart(s);
    await s.app.close();
    expect((await s.manager.get(body.id)).status).toBe("crashed");
  });
});

describe("OpenAPI", () => {
  it("documents the live-session and webhook routes", async () => {
    server = await startServer();
    const spec = (await server.json({ method: "GET", url: "/openapi.json", token: null })).body;
    for (const path of ["/session/start", "/session/list", "/session/{id}/exec", "/session/{id}/stop", "/session/{id}/logs", "/sessions/{id}/exec", "/sessions/{id}/interrupt", "/sessions/{id}/stop", "/webhooks", "/webhooks/{id}/deliveries"]) {
      expect(Object.keys(spec.paths), path).toContain(path);
    }
  });
});

describe("interactive and long-running work over HTTP", () => {
  /** Polls GET …/execs/{exec_id} until it is in `state`. */
  async function until(s: TestServer, name: string, execId: string, state: string) {
    const deadline = Date.now() + 10_000;
    for (;;) {
      const res = await s.json({ method: "GET", url: `/sessions/${name}/execs/${execId}` });
      if (res.body.state === state) return res.body;
      if (Date.now() > deadline) throw new Error(`exec ${execId} never became ${state}: ${JSON.stringify(res.body)}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  it("sends an exec without waiting, answers its prompt over stdin, then fetches the result; 409/404 for the wrong exec", async () => {
    const s = await enabled();
    await s.json({ method: "POST", url: "/sessions/", body: { kind: "shell", name: "io" } });
    trackPids(s);
    const sent = await s.json({ method: "POST", url: "/sessions/io/exec", body: { input: 'read -r a; echo "got $a"; cat', stdin: true, wait: false } });
    expect(sent.status).toBe(202);
    const id = sent.body.exec_id as string;
    await until(s, "io", id, "running");
    expect((await s.json({ method: "POST", url: `/sessions/io/execs/${id}/stdin`, body: { data: "one\n" } })).body).toEqual({ exec_id: id, bytes: 4 });
    await s.json({ method: "POST", url: `/sessions/io/execs/${id}/stdin`, body: { data: "two\n", eof: true } });
    const done = await until(s, "io", id, "finished");
    expect(done.result).toMatchObject({ exec_id: id, stdout: "got one\ntwo\n", status: "ok" });
    const late = await s.json({ method: "POST", url: `/sessions/io/execs/${id}/stdin`, body: { data: "x" } });
    expect(late.status).toBe(409);
    expect(late.body.error.code).toBe("exec_not_running");
    expect((await s.json({ method: "GET", url: "/sessions/io/execs/nope" })).status).toBe(404);
    expect((await s.json({ method: "POST", url: `/sessions/io/execs/${id}/stdin`, body: { data: 3 } })).body.error).toMatchObject({ code: "validation", field: "data" });
  });

  it("interrupts and kills one exec, runs and kills background jobs, sets the policy, extends the lifetime, pauses", async () => {
    const s = await enabled();
    await s.json({ method: "POST", url: "/sessions/", body: { kind: "shell", name: "w", exec_policy: "reject" } });
    trackPids(s);
    const long = await s.json({ method: "POST", url: "/sessions/w/exec", body: { input: "sleep 60", wait: false } });
    await until(s, "w", long.body.exec_id, "running");
    const busy = await s.json({ method: "POST", url: "/sessions/w/exec", body: { input: "true" } });
    expect(busy.status).toBe(409);
    expect(busy.body.error.code).toBe("session_busy");
    const killed = await s.json({ method: "POST", url: `/sessions/w/execs/${long.body.exec_id}/kill` });
    expect(killed.body).toEqual({ exec_id: long.body.exec_id, signalled: true });
    expect((await until(s, "w", long.body.exec_id, "finished")).result.status).toBe("interrupted");
    const again = await s.json({ method: "POST", url: `/sessions/w/execs/${long.body.exec_id}/interrupt` });
    expect(again.status).toBe(409);

    expect((await s.json({ method: "PUT", url: "/sessions/w/exec-policy", body: { exec_policy: "queue" } })).body).toEqual({ exec_policy: "queue" });
    expect((await s.json({ method: "PUT", url: "/sessions/w/exec-policy", body: { exec_policy: "never" } })).body.error).toMatchObject({ code: "validation", field: "exec_policy" });

    const bg = await s.json({ method: "POST", url: "/sessions/w/exec", body: { input: "sleep 500", background: true } });
    expect(bg.body).toMatchObject({ status: "ok", pid: expect.any(Number), log_path: expect.stringContaining("/logs/bg-") });
    const procs = await s.json({ method: "GET", url: "/sessions/w/processes" });
    expect(procs.body.find((p: { pid: number }) => p.pid === bg.body.pid)).toMatchObject({ exec_id: bg.body.exec_id });
    expect((await s.json({ method: "POST", url: "/sessions/w/processes/1/kill", body: {} })).status).toBe(404);
    const k = await s.json({ method: "POST", url: `/sessions/w/processes/${bg.body.pid}/kill`, body: { signal: "SIGKILL" } });
    expect(k.body).toEqual({ pid: bg.body.pid, signal: "SIGKILL" });

    const life = await s.json({ method: "POST", url: "/sessions/w/lifetime", body: { extend_ms: 60_000 } });
    expect(typeof life.body.lifetime_ends_at).toBe("string");
    expect((await s.json({ method: "POST", url: "/sessions/w/lifetime", body: { extend_ms: 0 } })).body.error).toMatchObject({ code: "validation", field: "extend_ms" });

    expect((await s.json({ method: "POST", url: "/sessions/w/pause", body: {} })).body.status).toBe("paused");
    const paused = await s.json({ method: "POST", url: "/sessions/w/exec", body: { input: "true" } });
    expect(paused.status).toBe(409);
    expect((await s.json({ method: "POST", url: "/sessions/w/resume", body: {} })).body.status).toBe("active");
    expect((await s.json({ method: "POST", url: "/sessions/w/exec", body: { input: "echo back" } })).body.stdout).toBe("back\n");
  });

  it("keeps the new routes admin-only by default and documents them", async () => {
    const s = await enabled({ tokens });
    await s.json({ method: "POST", url: "/sessions/", body: { kind: "shell", name: "adm" } });
    trackPids(s);
    for (const [method, url, body] of [
      ["POST", "/sessions/adm/execs/x/stdin", { data: "x" }],
      ["POST", "/sessions/adm/execs/x/kill", undefined],
      ["GET", "/sessions/adm/processes", undefined],
      ["PUT", "/sessions/adm/exec-policy", { exec_policy: "queue" }],
      ["POST", "/sessions/adm/lifetime", { extend_ms: 1 }],
    ] as const) {
      const res = await s.json({ method, url, token: AGENT, ...(body ? { body } : {}) });
      expect(res.status, `${method} ${url}`).toBe(403);
    }
    // Reading one exec's result follows the exec I/O rule: a reader may not; this is not the agent's session.
    expect((await s.json({ method: "GET", url: "/sessions/adm/execs/x", token: READER })).status).toBe(403);
    expect((await s.json({ method: "GET", url: "/sessions/adm/execs/x", token: AGENT })).status).toBe(404);
    const spec = (await s.json({ method: "GET", url: "/openapi.json", token: null })).body;
    for (const path of ["/sessions/{id}/execs/{exec_id}", "/sessions/{id}/execs/{exec_id}/stdin", "/sessions/{id}/execs/{exec_id}/interrupt", "/sessions/{id}/execs/{exec_id}/kill", "/sessions/{id}/processes", "/sessions/{id}/processes/{pid}/kill", "/sessions/{id}/exec-policy", "/sessions/{id}/lifetime"]) {
      expect(Object.keys(spec.paths), path).toContain(path);
    }
  });
});

describe("the ssh target over HTTP", () => {
  it("starts a shell on an ssh host from server_options, runs it, and never shows or stores the key", async () => {
    const { TestSshd, sshdMissing } = await import("../drivers/sshd.js");
    const missing = sshdMissing();
    if (missing) {
      console.log(`skipping the ssh-over-HTTP test: ${missing}`);
      return;
    }
    const sshd = new TestSshd();
    await sshd.start();
    try {
      // This machine's ~/.bashrc (sourced for every ssh channel) takes seconds.
      const s = await enabled({ startTimeoutMs: 30_000 });
      const key = sshd.privateKey;
      const started = await s.json({
        method: "POST",
        url: "/session/start",
        body: { mode: "shell", server: "ssh", server_options: { host: "127.0.0.1", port: sshd.port, user: sshd.user, private_key: key, host_key_sha256: sshd.hostKeySha256 } },
      });
      expect(started.status).toBe(201);
      trackPids(s);
      const id = started.body.id as string;
      expect((await s.json({ method: "POST", url: `/sessions/${id}/exec`, body: { input: "echo over-ssh; echo $SESSIOND_SESSION_ID" } })).body).toMatchObject({ stdout: `over-ssh\n${id}\n`, status: "ok" });
      const record = await s.json({ method: "GET", url: `/sessions/${id}` });
      expect(record.body).toMatchObject({ server: "ssh", runtime_metadata: { target: "ssh" } });
      const events = await s.json({ method: "GET", url: `/sessions/${id}/events` });
      for (const text of [JSON.stringify(record.body), JSON.stringify(events.body)]) expect(text).not.toContain("PRIVATE KEY");
      const bad = await s.json({ method: "POST", url: "/sessions/", body: { kind: "shell", server: "ssh", server_options: { host: "127.0.0.1", user: "x" } } });
      expect(bad.status).toBe(400);
      expect(bad.body.error).toMatchObject({ code: "validation", field: "server_options.private_key" });
      expect((await s.json({ method: "POST", url: `/session/${id}/stop` })).body.status).toBe("completed");
    } finally {
      await server?.close();
      server = undefined;
      await sshd.close();
    }
    // The start alone may take up to startTimeoutMs (30 s) on a loaded machine; the test needs more than that.
  }, 90_000);
});
