/**
 * /openapi.json as third-party tools read it: Redocly's linter (its recommended rules, raised
 * where generated clients need it: redocly.yaml) finds no error in the document a real server
 * serves, and the document says what the server does — operation ids, the artifact path
 * parameter, optional bodies, public routes, headers, servers.
 */
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type TestServer, startServer } from "../server/harness.js";

const run = promisify(execFile);

/** Warnings the linter may give, each with why it stays. */
const ACCEPTED_WARNINGS: Record<string, string> = {
  // attach is a WebSocket only: its success is the 101 of the upgrade, never a 2xx (OpenAPI has no WebSocket).
  "operation-2xx-response #/paths/~1sessions~1{id}~1attach/get/responses": "WebSocket only",
};

interface Operation {
  operationId?: string;
  security?: unknown[];
  requestBody?: { required?: boolean; content: Record<string, unknown> };
  parameters?: { name: string; in: string }[];
  responses: Record<string, { headers?: Record<string, unknown>; content?: Record<string, unknown> }>;
}
type Doc = { servers?: { url: string }[]; paths: Record<string, Record<string, Operation>> };

let server: TestServer;
let doc: Doc;
beforeAll(async () => {
  server = await startServer({ enableSessions: true });
  doc = (await server.json<Doc>({ method: "GET", url: "/openapi.json", token: null })).body;
});
afterAll(() => server.close());

const operations = () => Object.entries(doc.paths).flatMap(([path, ops]) => Object.entries(ops).map(([method, op]) => ({ path, method, op })));

describe("the OpenAPI document", () => {
  it("has no error under redocly lint's recommended rules, and only the warnings written down why", async () => {
    const dir = mkdtempSync(join(tmpdir(), "sessiond-openapi-"));
    try {
      const file = join(dir, "openapi.json");
      writeFileSync(file, JSON.stringify(doc));
      const cli = join(process.cwd(), "node_modules", "@redocly", "cli", "bin", "cli.js");
      // No telemetry or update check: CI machines have no network, and a lint must not depend on one.
      const env = { ...process.env, REDOCLY_TELEMETRY: "off", REDOCLY_SUPPRESS_UPDATE_NOTICE: "true", NO_COLOR: "1" };
      const result = await run(process.execPath, [cli, "lint", file, "--config", join(process.cwd(), "redocly.yaml"), "--format=json"], { env, maxBuffer: 64 << 20 }).catch(
        (err: { stdout?: string; stderr?: string }) => err,
      );
      const report = JSON.parse(result.stdout ?? "") as {
        totals: { errors: number; warnings: number };
        problems: { ruleId: string; severity: string; message: string; location: { pointer: string }[] }[];
      };
      const problems = report.problems.map((p) => `${p.severity} ${p.ruleId} ${p.location[0]?.pointer ?? ""}: ${p.message}`);
      expect(problems.filter((p) => p.startsWith("error")), "lint errors").toEqual([]);
      const warnings = report.problems.filter((p) => p.severity === "warn").map((p) => `${p.ruleId} ${p.location[0]?.pointer ?? ""}`);
      expect(warnings.filter((w) => !(w in ACCEPTED_WARNINGS)), "warnings without a written reason").toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("names every operation with a unique operationId, the SDK's method name where there is one", () => {
    const ids = operations().map(({ op }) => op.operationId);
    expect(ids.filter((id) => id === undefined)).toEqual([]);
    expect(new Set(ids).size).toBe(ids.length);
    const byRoute = Object.fromEntries(operations().map(({ path, method, op }) => [`${method.toUpperCase()} ${path}`, op.operationId]));
    expect(byRoute).toMatchObject({
      "POST /sessions": "createSession",
      "GET /sessions/{id}": "getSession",
      "PATCH /sessions/{id}": "updateSession",
      "GET /sessions": "listSessions",
      "POST /sessions/{id}/checkpoints/{cid}/restore": "restore",
      "POST /sessions/{id}/checkpoints/{cid}/fork": "fork",
      "POST /sessions/{id}/events": "appendEvent",
      "GET /sessions/{id}/events": "listEvents",
    });
  });

  it("names the artifact path parameter {path}, never a literal {*}", () => {
    const artifactPaths = Object.keys(doc.paths).filter((p) => p.includes("/artifacts/{category}/"));
    expect(artifactPaths).toEqual(["/sessions/{id}/artifacts/{category}/{path}"]);
    for (const op of Object.values(doc.paths["/sessions/{id}/artifacts/{category}/{path}"]!)) {
      expect(op.parameters?.filter((p) => p.in === "path").map((p) => p.name)).toEqual(["id", "category", "path"]);
    }
    expect(JSON.stringify(doc)).not.toContain("{*}");
  });

  it("declares security: [] on exactly the routes that answer without a token", async () => {
    const open = operations().filter(({ op }) => Array.isArray(op.security) && op.security.length === 0);
    expect(open.map(({ method, path }) => `${method} ${path}`).sort()).toEqual(["get /healthz", "get /openapi.json", "get /readyz", "post /ui/login"]);
    for (const { method, path } of operations()) {
      if (method !== "get" || path.includes("{")) continue;
      const res = await server.request({ method: "GET", url: path, token: null });
      const isOpen = open.some((o) => o.path === path);
      expect(res.statusCode === 401, `${path} without a token`).toBe(!isOpen);
    }
  });

  it("declares the headers the server sends and reads, and where it runs", () => {
    expect(doc.servers?.[0]?.url).toBeDefined();
    const headersOf = (path: string, method: string, status: string) => Object.keys(doc.paths[path]![method]!.responses[status]!.headers ?? {});
    const paramsOf = (path: string, method: string) => (doc.paths[path]![method]!.parameters ?? []).filter((p) => p.in === "header").map((p) => p.name);
    expect(headersOf("/sessions/{id}", "get", "200")).toContain("ETag");
    expect(headersOf("/sessions", "post", "201")).toEqual(expect.arrayContaining(["ETag", "Location"]));
    expect(headersOf("/sessions", "get", "200")).toEqual(expect.arrayContaining(["X-Next-Cursor", "Link"]));
    expect(headersOf("/sessions/{id}/events", "get", "200")).toEqual(expect.arrayContaining(["X-Next-Cursor", "Link"]));
    expect(paramsOf("/sessions/{id}", "patch")).toContain("If-Match");
    expect(paramsOf("/sessions/{id}", "get")).toContain("If-None-Match");
    expect(paramsOf("/sessions/{id}/stream", "get")).toContain("Last-Event-ID");
    expect(paramsOf("/feed", "get")).toContain("Last-Event-ID");
  });

  it("declares the content types served: metrics as Prometheus text, streams as text/event-stream, downloads as their own type", () => {
    const typesOf = (path: string, method: string, status: string) => Object.keys(doc.paths[path]![method]!.responses[status]!.content ?? {});
    expect(typesOf("/metrics", "get", "200")).toEqual(["text/plain; version=0.0.4"]);
    expect(typesOf("/sessions/{id}/stream", "get", "200")).toEqual(["text/event-stream"]);
    expect(typesOf("/feed", "get", "200")).toEqual(["text/event-stream"]);
    expect(Object.keys(doc.paths["/sessions/{id}/stream"]!.get!.responses)).toContain("101");
    expect(typesOf("/sessions/{id}/artifacts/{category}/{path}", "get", "200")).toEqual(["*/*"]);
    const stream = doc.paths["/sessions/{id}/stream"]!.get!.parameters!.map((p) => p.name);
    expect(stream).toEqual(expect.arrayContaining(["after_seq", "cursor", "exec_id", "offset", "types", "output"]));
    expect(doc.paths["/feed"]!.get!.parameters!.map((p) => p.name)).toEqual(expect.arrayContaining(["after", "session", "type"]));
    expect(doc.paths["/sessions/{id}/attach"]!.get!.parameters!.map((p) => p.name)).toEqual(expect.arrayContaining(["role", "offset"]));
  });

  it("marks a body optional exactly where the route works without one", async () => {
    const optional = operations().filter(({ op }) => op.requestBody !== undefined && op.requestBody.required === false);
    const names = optional.map(({ op }) => op.operationId);
    expect(names).toEqual(expect.arrayContaining(["pause", "resume", "crash", "recover", "restore", "fork", "complete", "createCheckpoint", "incrementIteration"]));
    // Each optional-bodied session action, sent with no body at all, is not refused for its body.
    const session = (await server.json({ method: "POST", url: "/sessions", body: {} })).body as { id: string };
    const checkpoint = (await server.json({ method: "POST", url: `/sessions/${session.id}/checkpoints` })).body as { id: string };
    for (const action of ["pause", "resume", "iterations", "crash", "recover", `checkpoints/${checkpoint.id}/restore`, `checkpoints/${checkpoint.id}/fork`, "complete"]) {
      const res = await server.request({ method: "POST", url: `/sessions/${session.id}/${action}` });
      expect(res.statusCode, `${action}: ${res.body}`).toBeLessThan(300);
    }
    const required = operations().filter(({ op }) => op.requestBody?.required === true).map(({ op }) => op.operationId);
    expect(required).toEqual(expect.arrayContaining(["fail", "recordToolCall", "cleanupSessions", "appendEvent"]));
    const fail = await server.json({ method: "POST", url: `/sessions/${session.id}/fail` });
    expect(fail.status).toBe(400);
  });
});

describe("artifact paths from a client", () => {
  it("refuses .., its percent-encoded form and an unfilled URL template, naming path", async () => {
    const session = (await server.json({ method: "POST", url: "/sessions", body: {} })).body as { id: string };
    for (const path of ["..%2Fescape", "%2e%2e%2Fescape", "a%2F%2E%2E%2Fb", "%7B*%7D", "%7Bpath%7D", "notes/%7Bpath%7D"]) {
      const res = await server.json({ method: "PUT", url: `/sessions/${session.id}/artifacts/files/${path}`, body: "x", headers: { "content-type": "text/plain" } });
      expect(res.status, path).toBe(400);
      expect(res.body.error).toMatchObject({ code: "validation", field: "path" });
    }
    const listing = await server.json({ method: "GET", url: `/sessions/${session.id}/artifacts` });
    expect(listing.body).toEqual([]);
    // A path with a slash encoded, as generated clients send {path}, is a path in a folder.
    const nested = await server.json({ method: "PUT", url: `/sessions/${session.id}/artifacts/files/${encodeURIComponent("notes/plan.md")}`, body: "x", headers: { "content-type": "text/plain" } });
    expect(nested.status).toBe(201);
    expect(nested.body.path).toBe("notes/plan.md");
  });
});
