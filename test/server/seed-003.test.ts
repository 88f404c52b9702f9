import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type TestServer, startServer } from "./harness.js";

/**
 * Seed 003's curl examples, verbatim: same paths, same bodies (whitespace included), and the
 * same content type — several send `-d` without `-H "Content-Type: application/json"`, so curl
 * sends `application/x-www-form-urlencoded`. Only the auth header (docs/api.md, authentication) is added.
 */

const AGENT = "550e8400-e29b-41d4-a716-446655440000";
const SESSION = "660e8400-e29b-41d4-a716-446655440001";
const FORM = "application/x-www-form-urlencoded";
const JSON_TYPE = "application/json";

let server: TestServer;
beforeEach(async () => {
  server = await startServer();
});
afterEach(async () => {
  await server.close();
});

/** What `curl -X METHOD url [-H "Content-Type: …"] -d '…'` sends. */
function curl(method: "GET" | "POST" | "PATCH", path: string, data?: string, contentType?: string) {
  return server.json({
    method,
    url: path,
    ...(data !== undefined ? { body: data, headers: { "content-type": contentType ?? FORM } } : {}),
  });
}

/** The session the PATCH examples address, created active (seed 003 assumes it exists). */
async function createTheSession(extra: Record<string, unknown> = {}) {
  const res = await server.json({ method: "POST", url: "/sessions/", body: { id: SESSION, agent_id: AGENT, session_type: "development", ...extra } });
  expect(res.status).toBe(201);
  return res.body;
}

describe("seed 003's use cases, as written", () => {
  it("1. starts a development session with context and runtime metadata", async () => {
    const res = await curl(
      "POST",
      "/sessions/",
      `{
    "agent_id": "550e8400-e29b-41d4-a716-446655440000",
    "session_type": "development",
    "context": {
      "working_directory": "/project",
      "current_task": "Implement Steam Modal",
      "files_open": ["SteamModal.tsx", "animations.ts"]
    },
    "runtime_backend": "local",
    "runtime_metadata": {
      "terminal_id": "term-123",
      "pid": 12345
    }
  }`,
      JSON_TYPE,
    );
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({
      agent_id: AGENT,
      session_type: "development",
      type: "development",
      status: "active",
      context: { working_directory: "/project", current_task: "Implement Steam Modal", files_open: ["SteamModal.tsx", "animations.ts"] },
      checkpoint: null,
      runtime_backend: "local",
      runtime_metadata: { terminal_id: "term-123", pid: 12345 },
    });
    expect(res.body.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    expect(Date.parse(res.body.created_at)).not.toBeNaN();
    expect(res.body.updated_at).toBe(res.body.created_at);
    expect(res.headers.location).toBe(`/sessions/${res.body.id}`);
    const read = await curl("GET", `/sessions/${res.body.id}`);
    expect(read.body).toEqual(res.body);
  });

  it("2. tracks a conversation session, its runtime backend unknown when not given", async () => {
    const res = await curl(
      "POST",
      "/sessions/",
      `{
    "agent_id": "550e8400-e29b-41d4-a716-446655440000",
    "session_type": "conversation",
    "context": {
      "user_id": "user-456",
      "topic": "code review",
      "message_count": 0
    }
  }`,
      JSON_TYPE,
    );
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({
      session_type: "conversation",
      status: "active",
      context: { user_id: "user-456", topic: "code review", message_count: 0 },
      runtime_backend: "unknown",
      runtime_metadata: {},
    });
  });

  it("3. saves a checkpoint for recovery", async () => {
    await createTheSession();
    const res = await curl(
      "PATCH",
      `/sessions/${SESSION}`,
      `{
    "checkpoint": {
      "last_completed_step": 3,
      "files_modified": ["a.ts", "b.ts"],
      "pending_actions": ["run tests", "commit"],
      "recovery_prompt": "Continue implementing modal from step 4"
    }
  }`,
      JSON_TYPE,
    );
    expect(res.status).toBe(200);
    const checkpoint = {
      last_completed_step: 3,
      files_modified: ["a.ts", "b.ts"],
      pending_actions: ["run tests", "commit"],
      recovery_prompt: "Continue implementing modal from step 4",
    };
    expect(res.body.checkpoint).toEqual(checkpoint);
    expect(res.body.status).toBe("active");
    const stored = await curl("GET", `/sessions/${SESSION}/checkpoints`);
    expect(stored.body).toHaveLength(1);
    expect(stored.body[0].data).toEqual(checkpoint);
  });

  it("4. updates the session context, replacing it", async () => {
    await createTheSession({ context: { working_directory: "/project", stale: true } });
    const res = await curl(
      "PATCH",
      `/sessions/${SESSION}`,
      `{
    "context": {
      "working_directory": "/project",
      "current_task": "Testing Steam Modal",
      "files_open": ["SteamModal.test.tsx"],
      "progress": 0.75
    }
  }`,
      JSON_TYPE,
    );
    expect(res.status).toBe(200);
    expect(res.body.context).toEqual({
      working_directory: "/project",
      current_task: "Testing Steam Modal",
      files_open: ["SteamModal.test.tsx"],
      progress: 0.75,
    });
    expect(Date.parse(res.body.updated_at)).toBeGreaterThanOrEqual(Date.parse(res.body.created_at));
  });

  it("5. ends a session normally", async () => {
    await createTheSession();
    const res = await curl("PATCH", `/sessions/${SESSION}`, `{"status": "completed"}`, JSON_TYPE);
    expect(res.status).toBe(200);
    expect(res.body.status).toBe("completed");
    expect(res.body.ended_at).not.toBeNull();
  });

  it("5. marks a session as crashed, for recovery", async () => {
    await createTheSession();
    const res = await curl("PATCH", `/sessions/${SESSION}`, `{"status": "crashed"}`, JSON_TYPE);
    expect(res.status).toBe(200);
    expect(res.body.status).toBe("crashed");
  });

  it("6. lists an agent's recent sessions, newest first, at most `limit`", async () => {
    for (let i = 0; i < 12; i++) await server.json({ method: "POST", url: "/sessions/", body: { agent_id: AGENT, session_type: "task", context: { i } } });
    for (let i = 0; i < 3; i++) await server.json({ method: "POST", url: "/sessions/", body: { agent_id: "someone-else" } });
    const mine = await curl("GET", "/sessions/?agent_id=550e8400-e29b-41d4-a716-446655440000&limit=10");
    expect(mine.status).toBe(200);
    expect(mine.body).toHaveLength(10);
    expect(mine.body.every((s: { agent_id: string }) => s.agent_id === AGENT)).toBe(true);
    expect(mine.body.map((s: { context: { i: number } }) => s.context.i)).toEqual([11, 10, 9, 8, 7, 6, 5, 4, 3, 2]);
    const all = await curl("GET", "/sessions/?limit=20");
    expect(all.body).toHaveLength(15);
  });
});

describe("seed 003's execution examples, as written (no Content-Type on the PATCHes)", () => {
  it("creates a task session", async () => {
    const res = await curl(
      "POST",
      "/sessions/",
      `{
    "agent_id": "550e8400-e29b-41d4-a716-446655440000",
    "session_type": "task",
    "context": {"task_id": "implement-modal"},
    "runtime_backend": "local"
  }`,
      JSON_TYPE,
    );
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ session_type: "task", context: { task_id: "implement-modal" }, runtime_backend: "local", status: "active" });
  });

  it("gets a session, pauses, resumes, checkpoints, lists and completes it", async () => {
    await createTheSession({ session_type: "task" });

    const got = await curl("GET", `/sessions/${SESSION}`);
    expect(got.status).toBe(200);
    expect(got.body).toMatchObject({ id: SESSION, agent_id: AGENT, session_type: "task", status: "active" });

    const paused = await curl("PATCH", `/sessions/${SESSION}`, `{"status": "paused"}`);
    expect(paused.status).toBe(200);
    expect(paused.body.status).toBe("paused");

    const resumed = await curl("PATCH", `/sessions/${SESSION}`, `{"status": "active"}`);
    expect(resumed.status).toBe(200);
    expect(resumed.body.status).toBe("active");

    const saved = await curl(
      "PATCH",
      `/sessions/${SESSION}`,
      `{
    "checkpoint": {
      "step": 5,
      "state": {"files": ["a.ts"]},
      "resume_prompt": "Continue from step 5"
    }
  }`,
    );
    expect(saved.status).toBe(200);
    expect(saved.body.checkpoint).toEqual({ step: 5, state: { files: ["a.ts"] }, resume_prompt: "Continue from step 5" });

    const listed = await curl("GET", "/sessions/?agent_id=550e8400-e29b-41d4-a716-446655440000");
    expect(listed.status).toBe(200);
    expect(listed.body.map((s: { id: string }) => s.id)).toEqual([SESSION]);

    const completed = await curl("PATCH", `/sessions/${SESSION}`, `{"status": "completed"}`);
    expect(completed.status).toBe(200);
    expect(completed.body.status).toBe("completed");

    const events = await curl("GET", `/sessions/${SESSION}/events`);
    expect(events.body.map((e: { type: string }) => e.type)).toEqual(["start", "pause", "resume", "checkpoint", "complete"]);
  });

  it("recovers a crashed session through PATCH status active (seed 003's crash recovery)", async () => {
    await createTheSession();
    await curl("PATCH", `/sessions/${SESSION}`, `{"checkpoint": {"completed_step": 3, "resume_prompt": "Continue with step 4: testing"}}`);
    await curl("PATCH", `/sessions/${SESSION}`, `{"status": "crashed"}`);
    const sessions = await curl("GET", "/sessions/?agent_id=550e8400-e29b-41d4-a716-446655440000");
    const crashed = sessions.body.filter((s: { status: string }) => s.status === "crashed");
    expect(crashed).toHaveLength(1);
    expect(crashed[0].checkpoint).toEqual({ completed_step: 3, resume_prompt: "Continue with step 4: testing" });
    const resumed = await curl("PATCH", `/sessions/${SESSION}`, `{"status": "active"}`);
    expect(resumed.body.status).toBe("active");
  });
});

describe("seed 003's remaining work, done", () => {
  it("deletes a session (Delete Session)", async () => {
    await createTheSession();
    const res = await server.request({ method: "DELETE", url: `/sessions/${SESSION}` });
    expect(res.statusCode).toBe(204);
    expect((await curl("GET", `/sessions/${SESSION}`)).status).toBe(404);
    expect((await server.request({ method: "DELETE", url: `/sessions/${SESSION}` })).statusCode).toBe(404);
  });

  it("filters by status, one or several (Status Filter)", async () => {
    const a = (await server.json({ method: "POST", url: "/sessions/", body: { agent_id: AGENT } })).body;
    const b = (await server.json({ method: "POST", url: "/sessions/", body: { agent_id: AGENT } })).body;
    const c = (await server.json({ method: "POST", url: "/sessions/", body: { agent_id: AGENT } })).body;
    await curl("PATCH", `/sessions/${b.id}`, `{"status": "crashed"}`);
    await curl("PATCH", `/sessions/${c.id}`, `{"status": "paused"}`);
    const crashed = await curl("GET", `/sessions/?agent_id=${AGENT}&status=crashed`);
    expect(crashed.body.map((s: { id: string }) => s.id)).toEqual([b.id]);
    const several = await curl("GET", `/sessions/?status=active&status=crashed`);
    expect(several.body.map((s: { id: string }) => s.id).sort()).toEqual([a.id, b.id].sort());
    const bad = await curl("GET", "/sessions/?status=sleeping");
    expect(bad.status).toBe(400);
    expect(bad.body.error).toMatchObject({ code: "validation", field: "status" });
  });

  it("recovers a crashed session, returning its checkpoint (Session Recovery)", async () => {
    await createTheSession();
    await curl("PATCH", `/sessions/${SESSION}`, `{"checkpoint": {"step": 2}}`);
    await curl("PATCH", `/sessions/${SESSION}`, `{"status": "crashed"}`);
    const res = await server.json({ method: "POST", url: `/sessions/${SESSION}/recover` });
    expect(res.status).toBe(200);
    expect(res.body.session.status).toBe("active");
    expect(res.body.checkpoint.data).toEqual({ step: 2 });
    const again = await server.json({ method: "POST", url: `/sessions/${SESSION}/recover` });
    expect(again.status).toBe(409);
    expect(again.body.error.code).toBe("invalid_transition");
  });

  it("auto-resumes every crashed session of an agent in one call", async () => {
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const s = (await server.json({ method: "POST", url: "/sessions/", body: { agent_id: AGENT } })).body;
      ids.push(s.id);
      await server.json({ method: "POST", url: `/sessions/${s.id}/checkpoints`, body: { data: { i } } });
      await server.json({ method: "POST", url: `/sessions/${s.id}/crash` });
    }
    const other = (await server.json({ method: "POST", url: "/sessions/", body: { agent_id: "other" } })).body;
    await server.json({ method: "POST", url: `/sessions/${other.id}/crash` });
    const res = await server.json({ method: "POST", url: "/sessions/recover", body: { agent_id: AGENT } });
    expect(res.status).toBe(200);
    expect(res.body.map((r: { session: { id: string } }) => r.session.id).sort()).toEqual([...ids].sort());
    expect(res.body.every((r: { session: { status: string }; checkpoint: { data: unknown } }) => r.session.status === "active" && r.checkpoint.data)).toBe(true);
    expect((await curl("GET", `/sessions/${other.id}`)).body.status).toBe("crashed");
  });

  it("filters by creation time range (Time-Range Query)", async () => {
    let now = Date.parse("2026-01-01T00:00:00Z");
    await server.close();
    server = await startServer({}, { clock: () => new Date(now) });
    const made: string[] = [];
    for (let day = 0; day < 5; day++) {
      now = Date.parse(`2026-01-0${day + 1}T12:00:00Z`);
      made.push((await server.json({ method: "POST", url: "/sessions/", body: { agent_id: AGENT } })).body.id);
    }
    const res = await curl("GET", "/sessions/?created_after=2026-01-02T00:00:00Z&created_before=2026-01-04T00:00:00Z");
    expect(res.body.map((s: { id: string }) => s.id)).toEqual([made[2], made[1]]);
    const bad = await curl("GET", "/sessions/?created_after=yesterday");
    expect(bad.status).toBe(400);
    expect(bad.body.error.field).toBe("created_after");
  });

  it("reports duration and activity counts (Session Metrics)", async () => {
    await createTheSession();
    await server.json({ method: "POST", url: `/sessions/${SESSION}/events`, body: { type: "note", data: {} } });
    await server.json({ method: "POST", url: `/sessions/${SESSION}/iterations`, body: { data: { phase: "plan" } } });
    await curl("PATCH", `/sessions/${SESSION}`, `{"checkpoint": {"step": 1}}`);
    await curl("PATCH", `/sessions/${SESSION}`, `{"status": "completed"}`);
    const res = await server.json({ method: "GET", url: `/sessions/${SESSION}/metrics` });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      session_id: SESSION,
      status: "completed",
      iterations: 1,
      events_total: 5,
      events_by_type: { start: 1, note: 1, iteration: 1, checkpoint: 1, complete: 1 },
      checkpoints: 1,
    });
    expect(res.body.duration_ms).toBeGreaterThanOrEqual(0);
  });

  it("deletes old finished sessions in bulk and leaves the rest (Bulk Cleanup)", async () => {
    let now = Date.parse("2026-01-01T00:00:00Z");
    await server.close();
    server = await startServer({}, { clock: () => new Date(now) });
    const old = (await server.json({ method: "POST", url: "/sessions/", body: { agent_id: AGENT } })).body;
    await curl("PATCH", `/sessions/${old.id}`, `{"status": "completed"}`);
    const running = (await server.json({ method: "POST", url: "/sessions/", body: { agent_id: AGENT } })).body;
    now = Date.parse("2026-01-20T00:00:00Z");
    const recent = (await server.json({ method: "POST", url: "/sessions/", body: { agent_id: AGENT } })).body;
    await curl("PATCH", `/sessions/${recent.id}`, `{"status": "completed"}`);
    const res = await server.json({ method: "POST", url: "/sessions/cleanup", body: { older_than_days: 7 } });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ deleted: 1 });
    expect((await curl("GET", `/sessions/${old.id}`)).status).toBe(404);
    expect((await curl("GET", `/sessions/${running.id}`)).status).toBe(200);
    expect((await curl("GET", `/sessions/${recent.id}`)).status).toBe(200);
  });
});

describe("seed 003's weakness 'context replacement', fixed: context merge beside replace", () => {
  it("merges context_patch into the context (RFC 7396: null deletes, objects merge)", async () => {
    await createTheSession({ context: { a: 1, nested: { x: 1, y: 2 }, drop: true } });
    const res = await curl("PATCH", `/sessions/${SESSION}`, `{"context_patch": {"b": 2, "nested": {"y": null, "z": 3}, "drop": null}}`, JSON_TYPE);
    expect(res.status).toBe(200);
    expect(res.body.context).toEqual({ a: 1, b: 2, nested: { x: 1, z: 3 } });
  });

  it("merges a body sent as application/merge-patch+json", async () => {
    await createTheSession({ context: { a: 1, keep: "yes" }, metadata: { model: "m1", tokens: 10 }, labels: { env: "dev", team: "x" } });
    const res = await server.json({
      method: "PATCH",
      url: `/sessions/${SESSION}`,
      body: JSON.stringify({ context: { a: null, b: 2 }, metadata: { tokens: 20 }, labels: { team: null, tier: "gold" }, status: "paused" }),
      headers: { "content-type": "application/merge-patch+json" },
    });
    expect(res.status).toBe(200);
    expect(res.body.context).toEqual({ keep: "yes", b: 2 });
    expect(res.body.metadata).toEqual({ model: "m1", tokens: 20 });
    expect(res.body.labels).toEqual({ env: "dev", tier: "gold" });
    expect(res.body.status).toBe("paused");
  });

  it("still replaces the context with plain JSON, as seed 003 does", async () => {
    await createTheSession({ context: { a: 1 } });
    const res = await curl("PATCH", `/sessions/${SESSION}`, `{"context": {"b": 2}}`);
    expect(res.body.context).toEqual({ b: 2 });
  });
});
