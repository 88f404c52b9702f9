import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type TestServer, startServer } from "./harness.js";

/**
 * Thousands of random and malformed requests — wrong methods, mangled paths and ids, unknown
 * and mistyped fields, broken JSON, odd content types and headers, oversized bodies, bad
 * cursors, illegal transitions — must each get a 4xx or a success, never a 5xx; afterwards the
 * server still answers and what it held is intact.
 */

const RUNS = 6000;
const MIN_DELIVERED = 5000;
const AGENT_TOKEN = "fuzz-agent-token-0123456789-abcdefghij";
const READER_TOKEN = "fuzz-reader-token-0123456789-abcdefghij";

let server: TestServer;
const targets: string[] = [];
const checkpoints: string[] = [];
const keepers: { id: string; session: unknown; events: unknown; checkpoints: unknown }[] = [];

beforeAll(async () => {
  server = await startServer({
    bodyLimitBytes: 16 * 1024,
    maxArtifactBytes: 4 * 1024,
    maxContextBytes: 8 * 1024,
    maxEventBytes: 8 * 1024,
    rateLimitMax: 0,
    // The fuzzer sends bad tokens on purpose; the failed-authentication limit would soon answer
    // everything with 429 and hide the shapes under test (auth.test.ts tests the limit).
    authMaxFailures: 0,
    tokens: [
      { token: AGENT_TOKEN, role: "agent", agent_id: "fuzzer" },
      { token: READER_TOKEN, role: "reader" },
    ],
  });
  // Sessions the fuzzer aims at (it knows their ids and names)…
  for (let i = 0; i < 4; i++) {
    const s = (await server.json({ method: "POST", url: "/sessions/", body: { name: `target-${i}`, agent_id: "fuzzer", max_iterations: 50, context: { i } } })).body;
    targets.push(s.id, s.name);
    checkpoints.push((await server.json({ method: "POST", url: `/sessions/${s.id}/checkpoints`, body: { label: "c", data: { i } } })).body.id);
  }
  // …and sessions it does not know, which must come out exactly as they went in.
  for (let i = 0; i < 3; i++) {
    const s = (await server.json({ method: "POST", url: "/sessions/", body: { agent_id: "keeper", labels: { keep: "yes" }, context: { secret: i, nested: { list: [1, 2, 3] } } } })).body;
    await server.json({ method: "POST", url: `/sessions/${s.id}/events`, body: { type: "note", data: { i } } });
    await server.json({ method: "POST", url: `/sessions/${s.id}/checkpoints`, body: { data: { i } } });
    await server.request({ method: "PUT", url: `/sessions/${s.id}/artifacts/files/keep.txt`, body: `keep ${i}`, headers: { "content-type": "text/plain" } });
    keepers.push(await snapshot(s.id));
  }
});

afterAll(async () => {
  await server.close();
});

async function snapshot(id: string) {
  const [session, events, cps] = await Promise.all([
    server.json({ method: "GET", url: `/sessions/${id}` }),
    server.json({ method: "GET", url: `/sessions/${id}/events?limit=10000` }),
    server.json({ method: "GET", url: `/sessions/${id}/checkpoints` }),
  ]);
  return { id, session: session.body, events: events.body, checkpoints: cps.body };
}

// ---- generators ------------------------------------------------------------------------------

const weird = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.constantFrom("..", "../..", "%2e%2e", "%00", "%", "%zz", "%ff%fe", "a%2Fb", "\u00e9\u4e2d", "null", "undefined", "0", "-1", "1e309", "[]", "{}", " ", "x".repeat(300)),
  fc.uuid(),
);
const ref = fc.oneof({ weight: 12, arbitrary: fc.constantFrom(...["target-0"]).chain(() => fc.constantFrom(...targets)) }, { weight: 2, arbitrary: weird.map(encodeURIComponent) }, { weight: 1, arbitrary: weird });
const cid = fc.oneof(fc.constantFrom(...["x"]).chain(() => fc.constantFrom(...checkpoints)), weird.map(encodeURIComponent));
const category = fc.oneof(fc.constantFrom("logs", "screenshots", "files", "recordings", "devtools"), weird.map(encodeURIComponent));
const artifactPath = fc.oneof(
  fc.constantFrom("a.txt", "dir/b.log", "../../etc/passwd", "%2e%2e/x", "/abs", "a%00b", "a\\b", "./x", "dir/", "x".repeat(300)),
  fc.array(weird.map(encodeURIComponent), { minLength: 1, maxLength: 4 }).map((parts) => parts.join("/")),
);
const action = fc.constantFrom("pause", "resume", "complete", "fail", "crash", "recover", "iterations", "tool-calls", "metrics", "state", "events", "checkpoints", "artifacts", "nope");

const path = fc.oneof(
  fc.constantFrom("/sessions/", "/sessions", "/stats", "/sessions/cleanup", "/sessions/recover", "/healthz", "/readyz", "/metrics", "/openapi.json", "/", "/session/list", "//sessions//"),
  ref.map((r) => `/sessions/${r}`),
  fc.tuple(ref, action).map(([r, a]) => `/sessions/${r}/${a}`),
  fc.tuple(ref, cid, fc.constantFrom("", "/restore", "/fork", "/nope")).map(([r, c, a]) => `/sessions/${r}/checkpoints/${c}${a}`),
  fc.tuple(ref, category, artifactPath).map(([r, c, p]) => `/sessions/${r}/artifacts/${c}/${p}`),
  fc.tuple(ref, category).map(([r, c]) => `/sessions/${r}/artifacts/${c}`),
  weird.map((w) => `/${encodeURIComponent(w)}`),
);

const queryKey = fc.constantFrom(
  "agent_id", "user_id", "status", "kind", "type", "session_type", "mode", "label", "created_after", "created_before",
  "limit", "cursor", "after_seq", "to_seq", "order", "seq", "bogus", "__proto__", "constructor",
);
const queryValue = fc.oneof(
  fc.constantFrom("active", "paused", "crashed", "sleeping", "10", "0", "-5", "1001", "abc", "env:prod", "2026-01-01T00:00:00Z", "yesterday", "desc", "eyJ4IjoxfQ", "bm90LWEtY3Vyc29y", "99999999999999999999"),
  weird,
);
const query = fc.array(fc.tuple(queryKey, queryValue), { maxLength: 4 }).map((pairs) =>
  pairs.length ? `?${pairs.map(([k, v]) => `${k}=${encodeURIComponent(v)}`).join("&")}` : "",
);

const fieldName = fc.constantFrom(
  "id", "name", "kind", "type", "session_type", "mode", "agent_id", "user_id", "channel_id", "labels", "task", "workspace",
  "status", "max_iterations", "context", "context_patch", "checkpoint", "runtime_backend", "runtime_metadata", "server",
  "metadata", "result", "error", "version", "reason", "data", "label", "tool", "args", "older_than_days", "limit",
  "bogus", "__proto__", "constructor", "prototype",
);
const fieldValue = fc.oneof(
  fc.constantFrom("active", "paused", "completed", "failed", "crashed", "timeout", "agent", "shell", "local", "kubernetes", "note", "pause", "fuzzer", "keeper"),
  fc.jsonValue({ maxDepth: 3 }),
  fc.integer({ min: -5, max: 60 }),
  fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 4 }),
);
const jsonBody = fc.dictionary(fieldName, fieldValue, { maxKeys: 5 }).map((o) => JSON.stringify(o));
// Bodies that pass validation somewhere, so requests reach the engine: transitions (legal or not),
// context replace and merge, events, checkpoints, iterations, versions.
const plausibleBody = fc
  .oneof(
    fc.record({ status: fc.constantFrom("active", "paused", "completed", "failed", "crashed", "timeout") }),
    fc.record({ context: fc.dictionary(fc.string({ maxLength: 6 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 3 }) }),
    fc.record({ context_patch: fc.dictionary(fc.string({ maxLength: 6 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 3 }) }),
    fc.record({ checkpoint: fc.dictionary(fc.string({ maxLength: 6 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 3 }) }),
    fc.record({ type: fc.constantFrom("note", "tool_call", "message", "pause", "bad type", ""), data: fc.dictionary(fc.string({ maxLength: 6 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 3 }) }),
    fc.record({ label: fc.string({ maxLength: 10 }), data: fc.dictionary(fc.string({ maxLength: 6 }), fc.integer(), { maxKeys: 2 }) }),
    fc.record({ reason: fc.string({ maxLength: 10 }) }),
    fc.record({ error: fc.string({ maxLength: 10 }) }),
    fc.record({ result: fc.jsonValue({ maxDepth: 2 }) }),
    fc.record({ version: fc.integer({ min: 0, max: 40 }) }),
    fc.record({ name: fc.string({ maxLength: 12 }) }),
    fc.record({ agent_id: fc.constantFrom("fuzzer", "keeper", "other"), session_type: fc.constantFrom("task", "batch") }),
    fc.record({ older_than_days: fc.oneof(fc.integer({ min: -1, max: 3 }), fc.double()) }),
    fc.record({ tool: fc.string({ maxLength: 6 }), args: fc.jsonValue({ maxDepth: 1 }) }),
    fc.record({ labels: fc.dictionary(fc.string({ maxLength: 6 }), fc.oneof(fc.string({ maxLength: 6 }), fc.constant(null)), { maxKeys: 2 }) }),
  )
  .map((o) => JSON.stringify(o));
const body = fc.oneof(
  { weight: 8, arbitrary: plausibleBody },
  { weight: 3, arbitrary: jsonBody },
  { weight: 1, arbitrary: fc.json({ maxDepth: 4 }) },
  { weight: 1, arbitrary: fc.string({ maxLength: 60 }) },
  { weight: 1, arbitrary: fc.constantFrom("", "{", '{"status":', "[1,2", "null", "true", '{"a":1}{"b":2}', '{"__proto__":{"x":1}}', '{"constructor":{"prototype":{"x":1}}}', "a=1&b=2&a=3", "\u0000\u0001") },
  { weight: 1, arbitrary: fc.integer({ min: 17, max: 40 }).map((kb) => JSON.stringify({ context: { big: "x".repeat(kb * 1024) } })) },
);
const contentType = fc.constantFrom(
  undefined, "application/json", "application/json", "application/json", "application/x-www-form-urlencoded", "application/merge-patch+json",
  "application/vnd.sessiond+json", "text/plain", "application/octet-stream", "multipart/form-data; boundary=x", "application/json; charset=utf-16",
  "garbage", "application/", ";;;", "application/json; charset=",
);
const auth = fc.constantFrom("admin", "admin", "admin", "admin", "admin", "admin", "agent", "agent", "reader", "none", "garbage", "basic");
const etagHeader = fc.oneof(fc.constantFrom(undefined, undefined, undefined, "*", 'W/"1"', '"2"', "3", 'W/"abc"', "W/3", ",", 'W/"1", W/"2"', '"99999999999999999999"'), fc.string({ maxLength: 12 }));

const randomRequest = fc.record({
  method: fc.constantFrom("GET", "GET", "POST", "POST", "PATCH", "PATCH", "PUT", "DELETE", "HEAD", "OPTIONS"),
  path,
  query,
  body: fc.option(body, { freq: 3 }),
  contentType,
  auth,
  ifMatch: etagHeader,
  ifNoneMatch: etagHeader,
});

// Well-formed requests on real routes with plausible bodies: they reach the engine and drive
// the targets through legal and illegal transitions, stale versions, merges and checkpoints.
const target = fc.constantFrom(...["x"]).chain(() => fc.constantFrom(...targets));
const routeRequest = fc
  .oneof(
    fc.tuple(fc.constant("PATCH"), target.map((t) => `/sessions/${t}`)),
    fc.tuple(fc.constant("POST"), fc.tuple(target, fc.constantFrom("pause", "resume", "complete", "fail", "crash", "recover", "iterations", "tool-calls", "events", "checkpoints")).map(([t, a]) => `/sessions/${t}/${a}`)),
    fc.tuple(fc.constant("POST"), fc.tuple(target, cid, fc.constantFrom("restore", "fork")).map(([t, c, a]) => `/sessions/${t}/checkpoints/${c}/${a}`)),
    fc.tuple(fc.constant("GET"), fc.tuple(target, fc.constantFrom("", "/events", "/checkpoints", "/metrics", "/state", "/artifacts")).map(([t, a]) => `/sessions/${t}${a}`)),
    fc.tuple(fc.constantFrom("GET", "POST"), fc.constantFrom("/sessions/", "/stats", "/sessions/recover")),
    fc.tuple(fc.constantFrom("PUT", "GET", "DELETE"), fc.tuple(target, category, artifactPath).map(([t, c, p]) => `/sessions/${t}/artifacts/${c}/${p}`)),
  )
  .chain(([method, routePath]) =>
    fc.record({
      method: fc.constant(method),
      path: fc.constant(routePath),
      query,
      body: fc.option(plausibleBody, { freq: 6 }),
      contentType: fc.constantFrom("application/json", "application/json", "application/x-www-form-urlencoded", "application/merge-patch+json", undefined),
      auth: fc.constantFrom("admin", "admin", "admin", "agent"),
      ifMatch: fc.constantFrom(undefined, undefined, undefined, 'W/"3"', '"5"', "*"),
      ifNoneMatch: fc.constantFrom(undefined, undefined, 'W/"2"'),
    }),
  );

const request = fc.oneof(randomRequest, routeRequest);

describe("random and malformed requests", () => {
  it(`answers ${MIN_DELIVERED}+ of them without a single 5xx, then still serves, with its data intact`, async () => {
    let delivered = 0;
    const statuses = new Map<number, number>();
    await fc.assert(
      fc.asyncProperty(request, async (r) => {
        const headers: Record<string, string> = {};
        if (r.contentType !== undefined) headers["content-type"] = r.contentType;
        if (r.auth === "admin") headers.authorization = `Bearer ${server.token}`;
        else if (r.auth === "agent") headers.authorization = `Bearer ${AGENT_TOKEN}`;
        else if (r.auth === "reader") headers.authorization = `Bearer ${READER_TOKEN}`;
        else if (r.auth === "garbage") headers.authorization = "Bearer \u00ff\u0000nope";
        else if (r.auth === "basic") headers.authorization = "Basic YTpi";
        if (r.ifMatch !== undefined) headers["if-match"] = r.ifMatch;
        if (r.ifNoneMatch !== undefined) headers["if-none-match"] = r.ifNoneMatch;
        let res;
        try {
          res = await server.app.inject({ method: r.method as "GET", url: r.path + r.query, headers, ...(r.body !== null && r.method !== "GET" && r.method !== "HEAD" ? { payload: r.body } : {}) });
        } catch (err) {
          // light-my-request refuses some headers or URLs before they reach the server (a client-side
          // error, e.g. an invalid header character): not a request the server saw.
          if (/Invalid|invalid|ERR_/.test(String(err))) return;
          throw err;
        }
        delivered++;
        statuses.set(res.statusCode, (statuses.get(res.statusCode) ?? 0) + 1);
        if (res.statusCode >= 500) throw new Error(`${r.method} ${r.path}${r.query} → ${res.statusCode} ${res.body}`);
        if (res.statusCode >= 400 && r.method !== "HEAD") {
          const parsed = JSON.parse(res.body);
          expect(Object.keys(parsed)).toEqual(["error"]);
          expect(typeof parsed.error.code).toBe("string");
          expect(typeof parsed.error.message).toBe("string");
        }
      }),
      { numRuns: RUNS, seed: Number(process.env.FUZZ_SEED ?? 20261123) },
    );
    console.log(`fuzz: ${delivered} requests delivered; statuses ${JSON.stringify(Object.fromEntries([...statuses].sort((a, b) => a[0] - b[0])))}`);
    expect(delivered).toBeGreaterThanOrEqual(MIN_DELIVERED);
    // A spread of outcomes, not 6000 of the same 404.
    expect([...statuses.keys()].filter((s) => s < 300).length).toBeGreaterThanOrEqual(2);
    expect([...statuses.keys()].filter((s) => s >= 400).length).toBeGreaterThanOrEqual(6);

    // Still serving.
    expect((await server.json({ method: "GET", url: "/healthz" })).status).toBe(200);
    expect((await server.json({ method: "GET", url: "/readyz" })).status).toBe(200);
    const fresh = await server.json({ method: "POST", url: "/sessions/", body: { context: { after: "fuzz" } } });
    expect(fresh.status).toBe(201);
    expect((await server.json({ method: "GET", url: `/sessions/${fresh.body.id}` })).body.context).toEqual({ after: "fuzz" });

    // What the fuzzer did not know about is exactly as it was, files included.
    for (const keeper of keepers) {
      expect(await snapshot(keeper.id)).toEqual(keeper);
      const file = await server.request({ method: "GET", url: `/sessions/${keeper.id}/artifacts/files/keep.txt` });
      expect(file.body).toMatch(/^keep \d$/);
    }

    // What it hammered is consistent: gap-free history whose replay gives the session's state.
    await server.manager.flush();
    for (const id of targets.filter((_, i) => i % 2 === 0)) {
      const got = await server.json({ method: "GET", url: `/sessions/${id}` });
      if (got.status === 404) continue;
      const session = got.body;
      const events = (await server.json({ method: "GET", url: `/sessions/${id}/events?limit=10000` })).body as { seq: number }[];
      expect(events.map((e) => e.seq)).toEqual(Array.from({ length: session.last_seq }, (_, i) => i + 1));
      const state = (await server.json({ method: "GET", url: `/sessions/${id}/state?seq=${session.last_seq}` })).body;
      expect(state).toEqual({ seq: session.last_seq, context: session.context, status: session.status, iterations: session.iterations });
    }
  }, 240_000);
});
