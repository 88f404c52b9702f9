import { existsSync } from "node:fs";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type TestServer, startServer } from "./harness.js";

let server: TestServer;
beforeEach(async () => {
  server = await startServer();
});
afterEach(async () => {
  await server.close();
});

const create = async (body: Record<string, unknown> = {}) => {
  const res = await server.json({ method: "POST", url: "/sessions", body });
  expect(res.status).toBe(201);
  return res.body;
};

describe("the session resource", () => {
  it("answers with and without the trailing slash", async () => {
    const a = await server.json({ method: "POST", url: "/sessions/", body: {} });
    const b = await server.json({ method: "POST", url: "/sessions", body: {} });
    expect([a.status, b.status]).toEqual([201, 201]);
    expect((await server.json({ method: "GET", url: "/sessions" })).body).toHaveLength(2);
    expect((await server.json({ method: "GET", url: "/sessions/" })).body).toHaveLength(2);
  });

  it("creates a session from an empty body with defaults", async () => {
    const res = await server.json({ method: "POST", url: "/sessions/" });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ kind: "agent", status: "active", context: {}, version: 1, session_type: null, iterations: 0 });
  });

  it("finds a session by its name as well as its id", async () => {
    const s = await create({ name: "build-42", mode: "developer" });
    const byName = await server.json({ method: "GET", url: "/sessions/build-42" });
    expect(byName.body.id).toBe(s.id);
    const patched = await server.json({ method: "PATCH", url: "/sessions/build-42", body: { task: "ship it" } });
    expect(patched.body.task).toBe("ship it");
    const paused = await server.json({ method: "POST", url: "/sessions/build-42/pause" });
    expect(paused.body.status).toBe("paused");
  });

  it("answers 404 in the error shape for an unknown session", async () => {
    const res = await server.json({ method: "GET", url: "/sessions/does-not-exist" });
    expect(res.status).toBe(404);
    expect(res.body).toEqual({ error: { code: "not_found", message: "session does-not-exist not found" } });
  });

  it("refuses unknown fields, naming them", async () => {
    const res = await server.json({ method: "POST", url: "/sessions/", body: { agent_id: "a", colour: "blue" } });
    expect(res.status).toBe(400);
    expect(res.body.error).toMatchObject({ code: "validation", field: "colour", message: "invalid colour: unknown field" });
    // A field a session has but a create does not take says how it is set instead.
    const status = await server.json({ method: "POST", url: "/sessions/", body: { agent_id: "a", status: "exploded" } });
    expect(status.status).toBe(400);
    expect(status.body.error).toMatchObject({ code: "validation", field: "status", message: expect.stringMatching(/^invalid status: not set at creation: a session starts active/) });
    const s = await create();
    const patch = await server.json({ method: "PATCH", url: `/sessions/${s.id}`, body: { statuss: "paused" } });
    expect(patch.status).toBe(400);
    expect(patch.body.error.field).toBe("statuss");
  });

  it("refuses a query parameter on a write route that takes none, naming it", async () => {
    const s = await create();
    const res = await server.json({ method: "POST", url: `/sessions/${s.id}/events?x=1`, body: { type: "note", data: {} } });
    expect(res.status).toBe(400);
    expect(res.body.error).toMatchObject({ code: "validation", field: "x", message: "invalid x: unknown field" });
    expect((await server.json({ method: "POST", url: `/sessions/${s.id}/events`, body: { type: "note", data: {} } })).status).toBe(201);
  });

  it("refuses wrong types, naming the field, and coerces nothing in bodies", async () => {
    const res = await server.json({ method: "POST", url: "/sessions/", body: { max_iterations: "5" } });
    expect(res.status).toBe(400);
    expect(res.body.error).toMatchObject({ code: "validation", field: "max_iterations" });
    const nested = await server.json({ method: "POST", url: "/sessions/", body: { labels: { env: 3 } } });
    expect(nested.status).toBe(400);
    expect(nested.body.error.field).toBe("labels.env");
  });

  it("refuses session_type and type that disagree", async () => {
    const res = await server.json({ method: "POST", url: "/sessions/", body: { type: "task", session_type: "batch" } });
    expect(res.status).toBe(400);
    expect(res.body.error.field).toBe("session_type");
  });

  it("answers 409 naming both states for an illegal transition", async () => {
    const s = await create();
    await server.json({ method: "PATCH", url: `/sessions/${s.id}`, body: { status: "completed" } });
    const res = await server.json({ method: "PATCH", url: `/sessions/${s.id}`, body: { status: "paused" } });
    expect(res.status).toBe(409);
    expect(res.body.error).toMatchObject({ code: "invalid_transition", field: "status" });
    expect(res.body.error.message).toContain("completed");
    expect(res.body.error.message).toContain("paused");
  });

  it("answers 409 when a name is taken", async () => {
    await create({ name: "taken" });
    const res = await server.json({ method: "POST", url: "/sessions/", body: { name: "taken" } });
    expect(res.status).toBe(409);
    expect(res.body.error).toMatchObject({ code: "conflict", field: "name" });
  });

  it("refuses a body over the limit with 413", async () => {
    await server.close();
    server = await startServer({ bodyLimitBytes: 1024 });
    const res = await server.json({ method: "POST", url: "/sessions/", body: { context: { big: "x".repeat(2000) } } });
    expect(res.status).toBe(413);
    expect(res.body.error).toMatchObject({ code: "body_too_large", field: "body" });
  });

  it("refuses a context over maxContextBytes with 413 naming context", async () => {
    await server.close();
    server = await startServer({ maxContextBytes: 100 });
    const res = await server.json({ method: "POST", url: "/sessions/", body: { context: { big: "x".repeat(200) } } });
    expect(res.status).toBe(413);
    expect(res.body.error).toMatchObject({ code: "too_large", field: "context" });
  });

  it("refuses unsupported content types with 415", async () => {
    const res = await server.json({ method: "POST", url: "/sessions/", body: "agent_id: x", headers: { "content-type": "text/yaml" } });
    expect(res.status).toBe(415);
    expect(res.body.error.code).toBe("unsupported_media_type");
    const plain = await server.json({ method: "POST", url: "/sessions/", body: "{}", headers: { "content-type": "text/plain" } });
    expect(plain.status).toBe(415);
  });

  it("answers malformed JSON with 400 naming the body", async () => {
    for (const contentType of ["application/json", "application/x-www-form-urlencoded"]) {
      const res = await server.json({ method: "POST", url: "/sessions/", body: '{"agent_id": ', headers: { "content-type": contentType } });
      expect(res.status).toBe(400);
      expect(res.body.error).toMatchObject({ code: "validation", field: "body" });
    }
  });

  it("refuses prototype poisoning in JSON bodies", async () => {
    const res = await server.json({ method: "POST", url: "/sessions/", body: '{"context": {"__proto__": {"admin": true}}}', headers: { "content-type": "application/json" } });
    expect(res.status).toBe(400);
  });

  it("reads a real form body as fields", async () => {
    const res = await server.json({ method: "POST", url: "/sessions/", body: "agent_id=a1&session_type=task", headers: { "content-type": "application/x-www-form-urlencoded" } });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ agent_id: "a1", type: "task" });
  });

  it("deletes a session with its history", async () => {
    const s = await create();
    await server.json({ method: "POST", url: `/sessions/${s.id}/events`, body: { type: "note" } });
    expect((await server.request({ method: "DELETE", url: `/sessions/${s.id}` })).statusCode).toBe(204);
    expect((await server.json({ method: "GET", url: `/sessions/${s.id}/events` })).status).toBe(404);
  });

  it("moves the workspace when a session is renamed", async () => {
    const s = await create({ name: "before" });
    await server.request({ method: "PUT", url: "/sessions/before/artifacts/files/a.txt", body: "hi", headers: { "content-type": "text/plain" } });
    const res = await server.json({ method: "PATCH", url: "/sessions/before", body: { name: "after" } });
    expect(res.body.name).toBe("after");
    expect(existsSync(join(server.home, "workspaces", "before"))).toBe(false);
    const file = await server.request({ method: "GET", url: `/sessions/${s.id}/artifacts/files/a.txt` });
    expect(file.body).toBe("hi");
  });
});

describe("optimistic concurrency", () => {
  it("sends a weak ETag of the version and answers 304 to If-None-Match", async () => {
    const s = await create();
    const res = await server.request({ method: "GET", url: `/sessions/${s.id}` });
    expect(res.headers.etag).toBe('W/"1"');
    const again = await server.request({ method: "GET", url: `/sessions/${s.id}`, headers: { "if-none-match": 'W/"1"' } });
    expect(again.statusCode).toBe(304);
    expect(again.body).toBe("");
    await server.json({ method: "PATCH", url: `/sessions/${s.id}`, body: { task: "t" } });
    const changed = await server.request({ method: "GET", url: `/sessions/${s.id}`, headers: { "if-none-match": 'W/"1"' } });
    expect(changed.statusCode).toBe(200);
    expect(changed.headers.etag).toBe('W/"2"');
  });

  it("applies a PATCH whose If-Match is current and refuses a stale one with 412", async () => {
    const s = await create();
    const ok = await server.json({ method: "PATCH", url: `/sessions/${s.id}`, body: { task: "a" }, headers: { "if-match": 'W/"1"' } });
    expect(ok.status).toBe(200);
    expect(ok.headers.etag).toBe('W/"2"');
    const stale = await server.json({ method: "PATCH", url: `/sessions/${s.id}`, body: { task: "b" }, headers: { "if-match": 'W/"1"' } });
    expect(stale.status).toBe(412);
    expect(stale.body.error).toMatchObject({ code: "version_conflict", field: "version" });
    expect((await server.json({ method: "GET", url: `/sessions/${s.id}` })).body.task).toBe("a");
  });

  it("accepts a version in the body as If-Match does", async () => {
    const s = await create();
    const stale = await server.json({ method: "PATCH", url: `/sessions/${s.id}`, body: { task: "b", version: 7 } });
    expect(stale.status).toBe(412);
    const ok = await server.json({ method: "PATCH", url: `/sessions/${s.id}`, body: { task: "b", version: 1 } });
    expect(ok.status).toBe(200);
  });

  it("checks If-Match on lifecycle actions and DELETE", async () => {
    const s = await create();
    const stale = await server.json({ method: "POST", url: `/sessions/${s.id}/pause`, headers: { "if-match": '"9"' } });
    expect(stale.status).toBe(412);
    const ok = await server.json({ method: "POST", url: `/sessions/${s.id}/pause`, headers: { "if-match": '"1"' } });
    expect(ok.status).toBe(200);
    const del = await server.request({ method: "DELETE", url: `/sessions/${s.id}`, headers: { "if-match": 'W/"1"' } });
    expect(del.statusCode).toBe(412);
    expect((await server.request({ method: "DELETE", url: `/sessions/${s.id}`, headers: { "if-match": 'W/"2"' } })).statusCode).toBe(204);
  });

  it("accepts If-Match * and lists of tags, and refuses a malformed header with 400", async () => {
    const s = await create();
    expect((await server.json({ method: "PATCH", url: `/sessions/${s.id}`, body: { task: "x" }, headers: { "if-match": "*" } })).status).toBe(200);
    expect((await server.json({ method: "PATCH", url: `/sessions/${s.id}`, body: { task: "y" }, headers: { "if-match": 'W/"1", W/"2"' } })).status).toBe(200);
    expect((await server.json({ method: "PATCH", url: `/sessions/${s.id}`, body: { task: "z" }, headers: { "if-match": 'W/"1", W/"2"' } })).status).toBe(412);
    const bad = await server.json({ method: "PATCH", url: `/sessions/${s.id}`, body: { task: "z" }, headers: { "if-match": "W/3" } });
    expect(bad.status).toBe(400);
    expect(bad.body.error.field).toBe("If-Match");
  });

  it("merges metadata under concurrent merge patches without losing either", async () => {
    const s = await create({ metadata: {} });
    await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        server.json({ method: "PATCH", url: `/sessions/${s.id}`, body: JSON.stringify({ metadata: { [`k${i}`]: i } }), headers: { "content-type": "application/merge-patch+json" } }),
      ),
    );
    const res = await server.json({ method: "GET", url: `/sessions/${s.id}` });
    expect(Object.keys(res.body.metadata).sort()).toEqual(Array.from({ length: 10 }, (_, i) => `k${i}`).sort());
  });
});

describe("listing", () => {
  it("pages with a cursor in X-Next-Cursor and a Link header until the last page", async () => {
    for (let i = 0; i < 7; i++) await create({ context: { i } });
    const seen: number[] = [];
    let url = "/sessions/?limit=3";
    for (let pages = 0; pages < 5; pages++) {
      const res = await server.json({ method: "GET", url });
      seen.push(...res.body.map((s: { context: { i: number } }) => s.context.i));
      const next = res.headers["x-next-cursor"] as string | undefined;
      if (!next) break;
      // The Link header is the next page's URL: the query as sent, with the new cursor.
      const link = /^<([^>]+)>; rel="next"$/.exec(res.headers.link as string);
      expect(link?.[1]).toBe(`/sessions/?limit=3&cursor=${encodeURIComponent(next)}`);
      url = link![1]!;
    }
    expect(seen).toEqual([6, 5, 4, 3, 2, 1, 0]);
  });

  it("refuses a cursor it did not make with 400 naming cursor", async () => {
    const res = await server.json({ method: "GET", url: "/sessions/?cursor=bm90LWEtY3Vyc29y" });
    expect(res.status).toBe(400);
    expect(res.body.error.field).toBe("cursor");
  });

  it("filters by kind, type (or session_type), mode, user, channel and labels", async () => {
    await create({ type: "task", mode: "dev", user_id: "u1", channel_id: "c1", labels: { env: "prod", team: "a" } });
    await create({ type: "batch", mode: "dev", user_id: "u2", labels: { env: "dev" } });
    const ids = async (query: string) => (await server.json({ method: "GET", url: `/sessions/?${query}` })).body.length;
    expect(await ids("type=task")).toBe(1);
    expect(await ids("session_type=batch")).toBe(1);
    expect(await ids("mode=dev")).toBe(2);
    expect(await ids("user_id=u2")).toBe(1);
    expect(await ids("channel_id=c1")).toBe(1);
    expect(await ids("label=env:prod")).toBe(1);
    expect(await ids("label=env:prod&label=team:b")).toBe(0);
    expect(await ids("kind=agent")).toBe(2);
    const bad = await server.json({ method: "GET", url: "/sessions/?label=noseparator" });
    expect(bad.status).toBe(400);
    expect(bad.body.error.field).toBe("label");
    expect(bad.body.error.message).toContain("expected key:value");
  });

  /** Follows the Link header from `url` to the last page; every session's name, in order. */
  const namesThroughLinks = async (url: string): Promise<string[]> => {
    const names: string[] = [];
    let next: string | undefined = url;
    while (next) {
      const res: { status: number; body: { name: string }[]; headers: Record<string, unknown> } = await server.json({ method: "GET", url: next });
      expect(res.status).toBe(200);
      names.push(...res.body.map((s) => s.name));
      next = /^<([^>]+)>; rel="next"$/.exec((res.headers.link as string | undefined) ?? "")?.[1];
    }
    return names;
  };

  it("sorts by the key and order asked for, page after page through the Link header, ties broken by creation", async () => {
    const specs = [
      { name: "delta", iterations: 2 },
      { name: "Alpha", iterations: 0 },
      { name: "charlie", iterations: 2 },
      { name: "bravo", iterations: 1 },
      { name: "echo", iterations: 2 },
    ];
    for (const spec of specs) {
      const s = await create({ name: spec.name, agent_id: "sorting" });
      for (let i = 0; i < spec.iterations; i++) await server.json({ method: "POST", url: `/sessions/${s.id}/iterations`, body: {} });
    }
    const byName = ["Alpha", "bravo", "charlie", "delta", "echo"]; // code point order: capitals first
    expect(await namesThroughLinks("/sessions/?agent_id=sorting&sort=name&order=asc&limit=2")).toEqual(byName);
    expect(await namesThroughLinks("/sessions/?agent_id=sorting&sort=name&limit=2")).toEqual([...byName].reverse());
    // Ties (iterations 2) go newest first descending, oldest first ascending.
    expect(await namesThroughLinks("/sessions/?agent_id=sorting&sort=iterations&order=desc&limit=2")).toEqual(["echo", "charlie", "delta", "bravo", "Alpha"]);
    expect(await namesThroughLinks("/sessions/?agent_id=sorting&sort=iterations&order=asc&limit=2")).toEqual(["Alpha", "bravo", "delta", "charlie", "echo"]);
    expect(await namesThroughLinks("/sessions/?agent_id=sorting&order=asc&limit=2")).toEqual(specs.map((s) => s.name));
    // The session with the newest activity first: the iterations moved it.
    expect((await namesThroughLinks("/sessions/?agent_id=sorting&sort=last_activity_at&limit=2"))[0]).toBe("echo");
  });

  it("searches names and tasks with q, in any case, with % and _ as plain text, beside the other filters", async () => {
    await create({ name: "Nightly-Build", task: "compile", labels: { env: "prod" } });
    await create({ name: "lint", task: "the BUILD's linter", labels: { env: "dev" } });
    await create({ name: "percent", task: "100% done" });
    await create({ name: "plain", task: "1000 done" });
    const paused = await create({ name: "paused-build", task: null, labels: { env: "prod" } });
    await server.json({ method: "POST", url: `/sessions/${paused.id}/pause`, body: {} });
    const names = async (query: string) => (await namesThroughLinks(`/sessions/?${query}&sort=name&order=asc`)).join(",");
    expect(await names("q=build")).toBe("Nightly-Build,lint,paused-build");
    expect(await names("q=BUILD&status=active")).toBe("Nightly-Build,lint");
    expect(await names("q=build&status=paused&label=env:prod")).toBe("paused-build");
    expect(await names(`q=${encodeURIComponent("100%")}`)).toBe("percent");
    expect(await names("q=_")).toBe("");
    const stats = await server.json({ method: "GET", url: "/stats?q=build" });
    expect(stats.body.total).toBe(3);
  });

  it("refuses a bad sort, order, q or cursor with 400 naming the field", async () => {
    for (let i = 0; i < 3; i++) await create();
    const byName = await server.json({ method: "GET", url: "/sessions/?sort=name&order=asc&limit=1" });
    const cursor = encodeURIComponent(byName.headers["x-next-cursor"] as string);
    for (const [query, field, message] of [
      ["sort=colour", "sort", "expected one of created_at, last_activity_at, updated_at, name, status, kind, agent_id, iterations"],
      ["order=up", "order", "expected one of desc, asc"],
      [`q=${"x".repeat(201)}`, "q", "200"],
      [`sort=name&cursor=${cursor}`, "cursor", "sorted by name asc"],
      [`cursor=${cursor}`, "cursor", "sorted by name asc"],
      [`cursor=${"A".repeat(4097)}`, "cursor", ""],
    ] as const) {
      const res = await server.json({ method: "GET", url: `/sessions/?${query}` });
      expect(res.status, query).toBe(400);
      expect(res.body.error.field, query).toBe(field);
      expect(res.body.error.message, query).toContain(message);
    }
    expect((await server.json({ method: "GET", url: `/sessions/?sort=name&order=asc&cursor=${cursor}` })).body).toHaveLength(2);
  });

  it("documents q, sort and order in /openapi.json", async () => {
    const spec = (await server.json({ method: "GET", url: "/openapi.json", token: null })).body;
    const parameters = spec.paths["/sessions"].get.parameters as { name: string; description?: string; schema: { anyOf?: { enum: string[] }[] } }[];
    const param = (name: string) => parameters.find((p) => p.name === name)!;
    expect(param("q").description).toContain("the first 1024 characters of the task");
    expect(param("sort").description).toContain("ties are broken by created_at");
    expect(param("sort").schema.anyOf!.flatMap((s) => s.enum)).toEqual(["created_at", "last_activity_at", "updated_at", "name", "status", "kind", "agent_id", "iterations"]);
    expect(param("order").schema.anyOf!.flatMap((s) => s.enum)).toEqual(["desc", "asc"]);
    expect(spec.paths["/stats"].get.parameters.some((p: { name: string }) => p.name === "q")).toBe(true);
  });

  it("refuses a limit out of range and unknown query parameters, naming them", async () => {
    for (const [query, field] of [
      ["limit=0", "limit"],
      ["limit=1001", "limit"],
      ["limit=ten", "limit"],
      ["colour=blue", "colour"],
    ]) {
      const res = await server.json({ method: "GET", url: `/sessions/?${query}` });
      expect(res.status).toBe(400);
      expect(res.body.error.field).toBe(field);
    }
  });
});

describe("identical concurrent lists", () => {
  it("share one store read, and a list sent after an acknowledged write still sees it", async () => {
    for (let i = 0; i < 5; i++) await create();
    let reads = 0;
    const list = server.manager.list.bind(server.manager);
    server.manager.list = (...args) => {
      reads++;
      return list(...args);
    };
    const pages = await Promise.all(Array.from({ length: 20 }, () => server.request({ method: "GET", url: "/sessions/?limit=50" })));
    expect(new Set(pages.map((p) => p.body)).size).toBe(1);
    expect(JSON.parse(pages[0]!.body)).toHaveLength(5);
    expect(reads).toBeLessThan(20);

    const inFlight = server.request({ method: "GET", url: "/sessions/?limit=50" });
    const created = await create({ name: "late" });
    const after = await server.json({ method: "GET", url: "/sessions/?limit=50" });
    expect(after.body.map((s: { id: string }) => s.id)).toContain(created.id);
    await inFlight;
  });
});

describe("a search over more sessions than listScanRows", () => {
  const AGENT_TOKEN = "agent-token-search-0123456789abcdefghijklm";
  let scanned: TestServer;
  beforeEach(async () => {
    scanned = await startServer({ listScanRows: 4, tokens: [{ token: AGENT_TOKEN, role: "agent", agent_id: "searcher" }] });
  });
  afterEach(async () => {
    await scanned.close();
  });

  /** Every page of `url` as an agent token sees it, through the Link headers: each page's names. */
  const pagesThroughLinks = async (url: string): Promise<string[][]> => {
    const pages: string[][] = [];
    let next: string | undefined = url;
    while (next) {
      const res: { status: number; body: { name: string }[]; headers: Record<string, unknown> } = await scanned.json({ method: "GET", url: next, token: AGENT_TOKEN });
      expect(res.status).toBe(200);
      pages.push(res.body.map((s) => s.name));
      next = /^<([^>]+)>; rel="next"$/.exec((res.headers.link as string | undefined) ?? "")?.[1];
    }
    return pages;
  };

  it("answers short pages, empty ones too, each with the next, until every match is listed once", async () => {
    const names: string[] = [];
    for (let i = 0; i < 14; i++) {
      const name = `job-${String(i).padStart(2, "0")}`;
      names.push(name);
      const res = await scanned.json({ method: "POST", url: "/sessions/", token: AGENT_TOKEN, body: { name, task: i % 5 === 0 ? "Deploy TO prod" : "lint" } });
      expect(res.status).toBe(201);
    }
    // Another agent's matches are not this token's, and take no part in its pages.
    for (let i = 0; i < 6; i++) await scanned.json({ method: "POST", url: "/sessions/", body: { agent_id: "other", task: "deploy" } });
    const matching = names.filter((_, i) => i % 5 === 0);

    const newest = await pagesThroughLinks("/sessions/?q=deploy&limit=2");
    expect(newest.flat()).toEqual([...matching].reverse());
    // 14 sessions, 4 examined a page: 4 pages, some of them short or empty.
    expect(newest).toHaveLength(4);
    expect(newest.some((page) => page.length === 0)).toBe(true);
    const byName = await pagesThroughLinks("/sessions/?q=DEPLOY&sort=name&order=asc&limit=1");
    expect(byName.flat()).toEqual(matching);
  });

  it("counts a search only over as many sessions, refusing it with 400 naming q beyond them", async () => {
    for (let i = 0; i < 6; i++) await scanned.json({ method: "POST", url: "/sessions/", token: AGENT_TOKEN, body: { task: i < 3 ? "deploy" : "lint", labels: { batch: i < 3 ? "a" : "b" } } });
    const refused = await scanned.json({ method: "GET", url: "/stats?q=deploy", token: AGENT_TOKEN });
    expect(refused.status).toBe(400);
    expect(refused.body.error).toMatchObject({ code: "validation", field: "q" });
    expect(refused.body.error.message).toContain("listScanRows");
    const narrowed = await scanned.json({ method: "GET", url: "/stats?q=deploy&label=batch:a", token: AGENT_TOKEN });
    expect(narrowed.status).toBe(200);
    expect(narrowed.body.total).toBe(3);
    expect((await scanned.json({ method: "GET", url: "/stats", token: AGENT_TOKEN })).body.total).toBe(6);
  });

  it("lists every status of every kind, in order, as one merged listing", async () => {
    const created: string[] = [];
    for (let i = 0; i < 5; i++) created.push((await scanned.json({ method: "POST", url: "/sessions/", token: AGENT_TOKEN, body: { name: `any-${i}` } })).body.name);
    const statuses = ["active", "paused", "completed", "failed", "timeout", "crashed"].map((s) => `status=${s}`).join("&");
    const kinds = ["agent", "shell", "python", "typescript", "llm"].map((k) => `kind=${k}`).join("&");
    expect((await pagesThroughLinks(`/sessions/?${statuses}&${kinds}&limit=2`)).flat()).toEqual([...created].reverse());
  });
});
