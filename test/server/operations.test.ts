import { existsSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { type TestServer, startServer } from "./harness.js";

let server: TestServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

describe("health", () => {
  it("answers /healthz and /readyz, and /readyz turns 503 once the engine is closed", async () => {
    server = await startServer();
    expect((await server.json({ method: "GET", url: "/healthz", token: null })).body).toEqual({ status: "ok" });
    expect((await server.json({ method: "GET", url: "/readyz", token: null })).body).toEqual({ status: "ready" });
    await server.manager.close();
    const res = await server.json({ method: "GET", url: "/readyz", token: null });
    expect(res.status).toBe(503);
    expect(res.body.error.code).toBe("closed");
  });

  it("answers an unknown route with 404, and a method its path does not take with 405, in the error shape", async () => {
    server = await startServer();
    const res = await server.json({ method: "GET", url: "/nowhere?x=1" });
    expect(res.status).toBe(404);
    expect(res.body).toEqual({ error: { code: "not_found", message: "route GET /nowhere not found" } });
    const put = await server.json({ method: "PUT", url: "/sessions/" });
    expect(put.status).toBe(405);
    expect(put.headers.allow).toBe("GET, HEAD, POST");
    expect(put.body.error.code).toBe("method_not_allowed");
  });
});

describe("metrics", () => {
  it("exports requests by route and status, latency, sessions by status, pool size and commits", async () => {
    server = await startServer();
    const s = (await server.json({ method: "POST", url: "/sessions/", body: {} })).body;
    await server.json({ method: "GET", url: `/sessions/${s.id}` });
    await server.json({ method: "GET", url: "/sessions/missing" });
    await server.json({ method: "POST", url: `/sessions/${s.id}/pause` });
    const res = await server.request({ method: "GET", url: "/metrics" });
    expect(res.statusCode).toBe(200);
    expect(res.headers["content-type"]).toContain("text/plain");
    const text = res.body;
    expect(text).toContain('sessiond_http_requests_total{method="GET",route="/sessions/:id",status="200"} 1');
    expect(text).toContain('sessiond_http_requests_total{method="GET",route="/sessions/:id",status="404"} 1');
    expect(text).toContain('sessiond_http_requests_total{method="POST",route="/sessions",status="201"} 1');
    // Which bucket the GET fell in depends on the machine's load; every request lands in +Inf.
    expect(text).toContain('sessiond_http_request_duration_seconds_bucket{le="+Inf",method="GET",route="/sessions/:id",status="200"} 1');
    expect(text).toContain('sessiond_http_request_duration_seconds_count{method="GET",route="/sessions/:id",status="200"} 1');
    expect(text).toContain('sessiond_sessions{status="paused"} 1');
    expect(text).toContain('sessiond_sessions{status="active"} 0');
    expect(text).toMatch(/sessiond_pool_sessions [1-9]/);
    expect(text).toMatch(/sessiond_commit_batch_ops_count [1-9]/);
    expect(text).toMatch(/sessiond_commit_duration_seconds_sum \d/);
  });

  it("labels unmatched URLs as one series, not one per URL", async () => {
    server = await startServer();
    for (let i = 0; i < 5; i++) await server.request({ method: "GET", url: `/random-${i}` });
    const text = (await server.request({ method: "GET", url: "/metrics" })).body;
    expect(text).toContain('route="unmatched",status="404"} 5');
    expect(text).not.toContain("random-");
  });
});

describe("OpenAPI and docs", () => {
  it("serves an OpenAPI 3.1 document of every route, whose references all resolve", async () => {
    server = await startServer();
    const res = await server.json({ method: "GET", url: "/openapi.json", token: null });
    expect(res.status).toBe(200);
    const doc = res.body;
    expect(doc.openapi).toBe("3.1.0");
    expect(doc.components.securitySchemes.bearer).toMatchObject({ type: "http", scheme: "bearer" });
    const paths = Object.keys(doc.paths);
    for (const path of [
      "/sessions",
      "/sessions/{id}",
      "/sessions/cleanup",
      "/sessions/recover",
      "/sessions/{id}/pause",
      "/sessions/{id}/resume",
      "/sessions/{id}/complete",
      "/sessions/{id}/fail",
      "/sessions/{id}/recover",
      "/sessions/{id}/iterations",
      "/sessions/{id}/metrics",
      "/sessions/{id}/state",
      "/sessions/{id}/events",
      "/sessions/{id}/checkpoints",
      "/sessions/{id}/checkpoints/{cid}",
      "/sessions/{id}/checkpoints/{cid}/restore",
      "/sessions/{id}/checkpoints/{cid}/fork",
      "/sessions/{id}/artifacts",
      "/stats",
      "/healthz",
      "/readyz",
      "/metrics",
    ]) {
      expect(paths, path).toContain(path);
    }
    expect(paths).toContain("/sessions/{id}/artifacts/{category}/{path}");
    const patch = doc.paths["/sessions/{id}"].patch;
    expect(Object.keys(patch.requestBody.content).sort()).toEqual(["application/json", "application/merge-patch+json", "application/x-www-form-urlencoded"]);
    expect(doc.paths["/sessions"].get.parameters.map((p: { name: string }) => p.name)).toEqual(expect.arrayContaining(["agent_id", "status", "limit", "cursor", "created_after"]));
    // Every $ref points at something in the document.
    const refs: string[] = [];
    JSON.stringify(doc, (key, value) => {
      if (key === "$ref") refs.push(value);
      return value;
    });
    expect(refs.length).toBeGreaterThan(10);
    for (const ref of new Set(refs)) {
      expect(ref.startsWith("#/"), ref).toBe(true);
      const target = ref.slice(2).split("/").reduce((node: any, part) => node?.[part], doc);
      expect(target, ref).toBeDefined();
    }
  });

  it("serves the docs page with its assets from the package, nothing from the network", async () => {
    server = await startServer();
    const page = await server.request({ method: "GET", url: "/docs", token: null });
    expect(page.statusCode).toBe(200);
    expect(page.headers["content-type"]).toContain("text/html");
    const assets = [...page.body.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]!);
    expect(assets.length).toBeGreaterThan(2);
    for (const asset of assets) {
      expect(asset, asset).not.toMatch(/^https?:\/\//);
      const url = asset.startsWith("/") ? asset : `/docs/${asset.replace(/^\.\//, "")}`;
      expect((await server.request({ method: "GET", url, token: null })).statusCode, url).toBe(200);
    }
    const init = await server.request({ method: "GET", url: "/docs/static/swagger-initializer.js", token: null });
    expect(init.statusCode).toBe(200);
  });
});

describe("rate limit", () => {
  it("answers 429 in the error shape past the limit, per token", async () => {
    server = await startServer({ rateLimitMax: 3, rateLimitWindowMs: 60_000, tokens: [{ token: "reader-token-0123456789-abcdefghij", role: "reader" }] });
    for (let i = 0; i < 3; i++) expect((await server.request({ method: "GET", url: "/sessions/" })).statusCode).toBe(200);
    const res = await server.json({ method: "GET", url: "/sessions/" });
    expect(res.status).toBe(429);
    expect(res.body.error.code).toBe("rate_limited");
    expect(Number(res.headers["retry-after"])).toBeGreaterThan(0);
    expect((await server.request({ method: "GET", url: "/sessions/", token: "reader-token-0123456789-abcdefghij" })).statusCode).toBe(200);
    expect((await server.request({ method: "GET", url: "/healthz", token: null })).statusCode).toBe(200);
  });
});

describe("retention", () => {
  it("deletes sessions that ended more than retentionDays ago, with their workspaces, and keeps the rest", async () => {
    let now = Date.parse("2026-03-01T00:00:00Z");
    server = await startServer({ retentionDays: 7 }, { clock: () => new Date(now) });
    const old = (await server.json({ method: "POST", url: "/sessions/", body: { name: "old" } })).body;
    await server.app.inject({ method: "PUT", url: "/sessions/old/artifacts/logs/a.log", payload: "x", headers: { authorization: `Bearer ${server.token}`, "content-type": "text/plain" } });
    await server.json({ method: "POST", url: "/sessions/old/complete" });
    const paused = (await server.json({ method: "POST", url: "/sessions/", body: { name: "paused" } })).body;
    await server.json({ method: "POST", url: "/sessions/paused/pause" });
    now += 6 * 86_400_000;
    const young = (await server.json({ method: "POST", url: "/sessions/", body: { name: "young" } })).body;
    await server.json({ method: "POST", url: "/sessions/young/fail", body: { error: "x" } });
    now += 2 * 86_400_000;
    expect(await server.app.sessiond.retention.runOnce()).toBe(1);
    expect((await server.json({ method: "GET", url: `/sessions/${old.id}` })).status).toBe(404);
    expect((await server.json({ method: "GET", url: `/sessions/${paused.id}` })).status).toBe(200);
    expect((await server.json({ method: "GET", url: `/sessions/${young.id}` })).status).toBe(200);
    await waitFor(() => !existsSync(join(server!.home, "workspaces", "old")));
  });

  it("runs by itself every retentionIntervalMs", async () => {
    let now = Date.parse("2026-03-01T00:00:00Z");
    server = await startServer({ retentionDays: 1, retentionIntervalMs: 1000 }, { clock: () => new Date(now) });
    const s = (await server.json({ method: "POST", url: "/sessions/", body: {} })).body;
    await server.json({ method: "POST", url: `/sessions/${s.id}/complete` });
    now += 3 * 86_400_000;
    await waitFor(async () => (await server!.json({ method: "GET", url: `/sessions/${s.id}` })).status === 404, 5000);
  });

  it("is off when retentionDays is 0", async () => {
    server = await startServer();
    expect(server.app.sessiond.retention.enabled).toBe(false);
  });
});

async function waitFor(condition: () => boolean | Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 25));
  }
}
