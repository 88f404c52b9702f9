import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type TestServer, startServer } from "./harness.js";

let server: TestServer;
beforeEach(async () => {
  server = await startServer();
});
afterEach(async () => {
  await server.close();
});

const create = async (body: Record<string, unknown> = {}) => (await server.json({ method: "POST", url: "/sessions/", body })).body;
const post = (url: string, body?: unknown, headers?: Record<string, string>) => server.json({ method: "POST", url, ...(body !== undefined ? { body } : {}), ...(headers ? { headers } : {}) });
const get = (url: string) => server.json({ method: "GET", url });

describe("lifecycle actions", () => {
  it("pauses, resumes, and completes with a result, with or without a body", async () => {
    const s = await create();
    expect((await post(`/sessions/${s.id}/pause`, { reason: "lunch" })).body.status).toBe("paused");
    // An empty body with a JSON content type is no body.
    expect((await post(`/sessions/${s.id}/resume`, "", { "content-type": "application/json" })).body.status).toBe("active");
    const done = await post(`/sessions/${s.id}/complete`, { result: { pr: 42 } });
    expect(done.status).toBe(200);
    expect(done.body).toMatchObject({ status: "completed", result: { pr: 42 } });
    expect(done.headers.etag).toBe(`W/"${done.body.version}"`);
  });

  it("fails a session with its error, and requires the error", async () => {
    const s = await create();
    const missing = await post(`/sessions/${s.id}/fail`, {});
    expect(missing.status).toBe(400);
    expect(missing.body.error.field).toBe("error");
    const failed = await post(`/sessions/${s.id}/fail`, { error: "out of budget" });
    expect(failed.body).toMatchObject({ status: "failed", error: "out of budget" });
  });

  it("refuses to resume a completed session with 409", async () => {
    const s = await create();
    await post(`/sessions/${s.id}/complete`);
    const res = await post(`/sessions/${s.id}/resume`);
    expect(res.status).toBe(409);
    expect(res.body.error.code).toBe("invalid_transition");
  });

  it("counts iterations and times out at max_iterations", async () => {
    const s = await create({ max_iterations: 2 });
    expect((await post(`/sessions/${s.id}/iterations`, { data: { n: 1 } })).body).toMatchObject({ iterations: 1, status: "active" });
    expect((await post(`/sessions/${s.id}/iterations`)).body).toMatchObject({ iterations: 2, status: "timeout" });
    const res = await post(`/sessions/${s.id}/iterations`);
    expect(res.status).toBe(409);
    expect(res.body.error.code).toBe("session_not_active");
  });

  it("records tool calls as events and in metadata.toolsUsed", async () => {
    const s = await create();
    const res = await post(`/sessions/${s.id}/tool-calls`, { tool: "grep", args: { q: "x" }, result: 3 });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ type: "tool_call", data: { tool: "grep", args: { q: "x" }, result: 3 } });
    expect((await get(`/sessions/${s.id}`)).body.metadata.toolsUsed).toEqual(["grep"]);
  });

  it("keeps an If-Match taken before a new tool's first call: toolsUsed moves without the version", async () => {
    const s = await create({ metadata: { owner: "ada" } });
    const before = await get(`/sessions/${s.id}`);
    await post(`/sessions/${s.id}/tool-calls`, { tool: "grep", args: {} });
    await post(`/sessions/${s.id}/tool-calls`, { tool: "bash", args: {} });
    const after = await get(`/sessions/${s.id}`);
    expect(after.body).toMatchObject({ version: before.body.version, updated_at: before.body.updated_at, metadata: { owner: "ada", toolsUsed: ["grep", "bash"] } });
    expect(after.headers.etag).toBe(before.headers.etag);
    // A merge patch of metadata, made against the version read before the calls, keeps both tools.
    const patched = await server.json({
      method: "PATCH",
      url: `/sessions/${s.id}`,
      body: { task: "review", metadata: { reviewer: "lin" } },
      headers: { "if-match": String(before.headers.etag), "content-type": "application/merge-patch+json" },
    });
    expect(patched.status).toBe(200);
    expect(patched.body).toMatchObject({ task: "review", version: before.body.version + 1, metadata: { owner: "ada", reviewer: "lin", toolsUsed: ["grep", "bash"] } });
    // A caller's metadata never rewrites the list; a stale If-Match is still refused.
    const replaced = await server.json({ method: "PATCH", url: `/sessions/${s.id}`, body: { metadata: { toolsUsed: [] } } });
    expect(replaced.body.metadata).toEqual({ toolsUsed: ["grep", "bash"] });
    const stale = await server.json({ method: "PATCH", url: `/sessions/${s.id}`, body: { task: "again" }, headers: { "if-match": String(before.headers.etag) } });
    expect(stale.status).toBe(412);
    expect(stale.body.error.code).toBe("version_conflict");
  });
});

describe("events", () => {
  it("appends custom events with gap-free seqs, and refuses state-changing types", async () => {
    const s = await create();
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => post(`/sessions/${s.id}/events`, { type: "note", data: { i } })));
    expect(results.every((r) => r.status === 201)).toBe(true);
    expect(results.map((r) => r.body.seq).sort((a, b) => a - b)).toEqual(Array.from({ length: 20 }, (_, i) => i + 2));
    const refused = await post(`/sessions/${s.id}/events`, { type: "pause" });
    expect(refused.status).toBe(400);
    expect(refused.body.error.field).toBe("type");
    const badType = await post(`/sessions/${s.id}/events`, { type: "has space" });
    expect(badType.status).toBe(400);
    expect(badType.body.error.field).toBe("type");
  });

  it("lists by seq range and type, and pages both ways", async () => {
    const s = await create();
    for (let i = 0; i < 10; i++) await post(`/sessions/${s.id}/events`, { type: i % 2 ? "odd" : "even", data: { i } });
    const range = await get(`/sessions/${s.id}/events?after_seq=3&to_seq=6`);
    expect(range.body.map((e: { seq: number }) => e.seq)).toEqual([4, 5, 6]);
    const odd = await get(`/sessions/${s.id}/events?type=odd`);
    expect(odd.body).toHaveLength(5);
    const both = await get(`/sessions/${s.id}/events?type=odd&type=start`);
    expect(both.body).toHaveLength(6);

    const pages: number[][] = [];
    let url = `/sessions/${s.id}/events?limit=4`;
    for (;;) {
      const res = await get(url);
      pages.push(res.body.map((e: { seq: number }) => e.seq));
      const next = res.headers["x-next-cursor"];
      if (!next) break;
      url = `/sessions/${s.id}/events?limit=4&cursor=${next}`;
    }
    expect(pages).toEqual([[1, 2, 3, 4], [5, 6, 7, 8], [9, 10, 11]]);

    const desc: number[] = [];
    url = `/sessions/${s.id}/events?limit=5&order=desc`;
    for (;;) {
      const res = await get(url);
      desc.push(...res.body.map((e: { seq: number }) => e.seq));
      const next = res.headers["x-next-cursor"];
      if (!next) break;
      url = `/sessions/${s.id}/events?limit=5&order=desc&cursor=${next}`;
    }
    expect(desc).toEqual([11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1]);
  });

  it("refuses a malformed event cursor with 400", async () => {
    const s = await create();
    const res = await get(`/sessions/${s.id}/events?cursor=abc`);
    expect(res.status).toBe(400);
    expect(res.body.error.field).toBe("cursor");
  });
});

describe("checkpoints and time travel", () => {
  it("records, lists, reads, restores and forks", async () => {
    const s = await create({ context: { step: 0 } });
    await post(`/sessions/${s.id}/iterations`);
    const cp = await post(`/sessions/${s.id}/checkpoints`, { label: "after-one", data: { note: "safe" } });
    expect(cp.status).toBe(201);
    expect(cp.body).toMatchObject({ label: "after-one", data: { note: "safe" }, state: { context: { step: 0 }, status: "active", iterations: 1 } });
    expect(cp.headers.location).toBe(`/sessions/${s.id}/checkpoints/${cp.body.id}`);

    await server.json({ method: "PATCH", url: `/sessions/${s.id}`, body: { context: { step: 9 } } });
    await post(`/sessions/${s.id}/iterations`);
    expect((await get(`/sessions/${s.id}/checkpoints`)).body.map((c: { id: string }) => c.id)).toEqual([cp.body.id]);
    expect((await get(`/sessions/${s.id}/checkpoints/${cp.body.id}`)).body.label).toBe("after-one");

    const restored = await post(`/sessions/${s.id}/checkpoints/${cp.body.id}/restore`);
    expect(restored.body).toMatchObject({ context: { step: 0 }, iterations: 1 });

    const fork = await post(`/sessions/${s.id}/checkpoints/${cp.body.id}/fork`, { name: "the-fork" });
    expect(fork.status).toBe(201);
    expect(fork.body).toMatchObject({ name: "the-fork", parent: s.id, context: { step: 0 }, iterations: 1, status: "active" });
    expect(fork.headers.location).toBe(`/sessions/${fork.body.id}`);
  });

  it("refuses the label `latest`, which names the newest checkpoint, with 400 naming label", async () => {
    const s = await create();
    const res = await post(`/sessions/${s.id}/checkpoints`, { label: "latest" });
    expect(res.status).toBe(400);
    expect(res.body.error).toMatchObject({ code: "validation", field: "label" });
    expect(res.body.error.message).toContain("newest checkpoint");
    expect((await get(`/sessions/${s.id}/checkpoints`)).body).toEqual([]);
  });

  it("answers 404 for an unknown checkpoint", async () => {
    const s = await create();
    const res = await get(`/sessions/${s.id}/checkpoints/nope`);
    expect(res.status).toBe(404);
    expect(res.body.error.message).toContain("checkpoint");
  });

  it("refuses to restore a finished session (fork it instead)", async () => {
    const s = await create();
    const cp = await post(`/sessions/${s.id}/checkpoints`, {});
    await post(`/sessions/${s.id}/complete`);
    const res = await post(`/sessions/${s.id}/checkpoints/${cp.body.id}/restore`);
    expect(res.status).toBe(409);
    expect(res.body.error.code).toBe("session_not_active");
  });

  it("answers the state at any seq, and the newest by default", async () => {
    const s = await create({ context: { v: 1 } });
    await server.json({ method: "PATCH", url: `/sessions/${s.id}`, body: { context_patch: { v: 2 } } });
    await post(`/sessions/${s.id}/pause`);
    expect((await get(`/sessions/${s.id}/state?seq=1`)).body).toEqual({ seq: 1, context: { v: 1 }, status: "active", iterations: 0 });
    expect((await get(`/sessions/${s.id}/state?seq=2`)).body.context).toEqual({ v: 2 });
    expect((await get(`/sessions/${s.id}/state`)).body).toMatchObject({ seq: 3, status: "paused" });
    const beyond = await get(`/sessions/${s.id}/state?seq=99`);
    expect(beyond.status).toBe(400);
    expect(beyond.body.error.field).toBe("seq");
  });
});

describe("stats", () => {
  it("aggregates over sessions with the list's filters", async () => {
    const a = await create({ mode: "dev", agent_id: "x" });
    await create({ mode: "dev", agent_id: "y" });
    await post(`/sessions/${a.id}/complete`);
    const all = await get("/stats");
    expect(all.body).toMatchObject({ total: 2, by_status: { active: 1, completed: 1 }, by_mode: { dev: 2 }, success_rate: 100 });
    expect((await get("/stats?agent_id=y")).body.total).toBe(1);
    expect((await get("/stats?status=completed")).body.total).toBe(1);
  });
});
