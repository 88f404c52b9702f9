import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { LightMyRequestResponse } from "fastify";
import { afterEach, describe, expect, it } from "vitest";
import { adoptLegacyWorkspaces } from "../../src/drivers/workspace.js";
import { type TestServer, startServer } from "./harness.js";

const strongToken = () => randomBytes(32).toString("base64url");
const AGENT_A = strongToken();
const AGENT_B = strongToken();
const USER_U1 = strongToken();
const READER = strongToken();
// A fresh copy per use: resolveConfig freezes what it is given.
const tokens = () => [
  { token: AGENT_A, role: "agent", agent_id: "agent-a", name: "agent-a" },
  { token: AGENT_B, role: "agent", agent_id: "agent-b", name: "agent-b" },
  { token: USER_U1, role: "agent", user_id: "u1", name: "user-u1" },
  { token: READER, role: "reader", name: "reader" },
];

let server: TestServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

/** A server where agents may also use the exec routes, so those answer by the session, not by the role. */
async function serve(): Promise<TestServer> {
  server = await startServer({ tokens: tokens(), execRoles: ["admin", "agent"] });
  return server;
}

async function create(s: TestServer, token: string, body: Record<string, unknown>) {
  const res = await s.json({ method: "POST", url: "/sessions/", body, token });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body as { id: string; name: string; agent_id: string | null; version: number };
}

/** What a client can tell of an answer: status, every header but the date, and the body with `ref` written as <ref>. */
function seen(res: LightMyRequestResponse, ref: string) {
  const { date: _date, "content-length": _length, ...headers } = res.headers;
  return { status: res.statusCode, headers, body: res.body.split(JSON.stringify(ref).slice(1, -1)).join("<ref>") };
}

describe("session names, one namespace per agent_id", () => {
  it("lets agent B create and rename to names agent A holds, and leaves A's sessions as they were", async () => {
    const s = await serve();
    const aBuild = await create(s, AGENT_A, { name: "build", context: { owner: "a" } });
    const aDeploy = await create(s, AGENT_A, { name: "deploy" });
    const before = await Promise.all([aBuild, aDeploy].map(async (x) => (await s.json({ method: "GET", url: `/sessions/${x.id}` })).body));

    const bBuild = await create(s, AGENT_B, { name: "build", context: { owner: "b" } });
    expect(bBuild).toMatchObject({ name: "build", agent_id: "agent-b" });
    const bTemp = await create(s, AGENT_B, { name: "temp" });
    const renamed = await s.json({ method: "PATCH", url: `/sessions/${bTemp.id}`, body: { name: "deploy" }, token: AGENT_B });
    expect(renamed.status).toBe(200);
    expect(renamed.body.name).toBe("deploy");

    const after = await Promise.all([aBuild, aDeploy].map(async (x) => (await s.json({ method: "GET", url: `/sessions/${x.id}` })).body));
    expect(after).toEqual(before);
    // Each agent's bare name is its own session.
    expect((await s.json({ method: "GET", url: "/sessions/build", token: AGENT_A })).body.context).toEqual({ owner: "a" });
    expect((await s.json({ method: "GET", url: "/sessions/build", token: AGENT_B })).body.context).toEqual({ owner: "b" });
    expect((await s.json({ method: "GET", url: "/sessions/deploy", token: AGENT_B })).body.id).toBe(bTemp.id);
    // Within one agent a name is still taken, and saying so tells the agent only of its own session.
    const twice = await s.json({ method: "POST", url: "/sessions/", body: { name: "build" }, token: AGENT_B });
    expect(twice.status).toBe(409);
    expect(twice.body.error).toMatchObject({ code: "conflict", field: "name" });
  });

  it("answers agent B's probes of agent A's names and ids exactly as it answers for sessions that do not exist", async () => {
    const s = await serve();
    const secret = await create(s, AGENT_A, { name: "secret" });
    await create(s, AGENT_A, { name: "build" });
    await create(s, AGENT_B, { name: "build" });
    const cp = (await s.json({ method: "POST", url: `/sessions/${secret.id}/checkpoints`, body: {}, token: AGENT_A })).body;
    const before = (await s.json({ method: "GET", url: `/sessions/${secret.id}`, token: AGENT_A })).body;
    const probes = [secret.id, "secret", "agent-a/secret", "agent-a/build"];
    const missing = ["0190c0de-0000-7000-8000-000000000000", "no-such-name", "agent-a/no-such-name", "agent-b/secret"];
    const routes: [string, (ref: string) => string, unknown?][] = [
      ["GET", (r) => `/sessions/${r}`],
      ["PATCH", (r) => `/sessions/${r}`, { context: { x: 1 } }],
      ["DELETE", (r) => `/sessions/${r}`],
      ["GET", (r) => `/sessions/${r}/events`],
      ["POST", (r) => `/sessions/${r}/events`, { type: "note" }],
      ["GET", (r) => `/sessions/${r}/metrics`],
      ["GET", (r) => `/sessions/${r}/state`],
      ["POST", (r) => `/sessions/${r}/pause`, {}],
      ["POST", (r) => `/sessions/${r}/resume`, {}],
      ["POST", (r) => `/sessions/${r}/recover`, {}],
      ["POST", (r) => `/sessions/${r}/iterations`, {}],
      ["GET", (r) => `/sessions/${r}/checkpoints`],
      ["GET", (r) => `/sessions/${r}/checkpoints/${cp.id}`],
      ["POST", (r) => `/sessions/${r}/checkpoints/${cp.id}/fork`, {}],
      ["GET", (r) => `/sessions/${r}/artifacts`],
      ["PUT", (r) => `/sessions/${r}/artifacts/files/x.txt`, "data"],
      ["POST", (r) => `/sessions/${r}/checkpoints/${cp.id}/restore`, {}],
      ["POST", (r) => `/sessions/${r}/exec`, { input: "id" }],
      ["POST", (r) => `/sessions/${r}/stop`, {}],
      ["GET", (r) => `/sessions/${r}/processes`],
      ["POST", (r) => `/session/${r}/exec`, { input: "id" }],
      ["POST", (r) => `/session/${r}/stop`, {}],
      ["GET", (r) => `/session/${r}/logs`],
      ["GET", (r) => `/sessions/${r}/stream`],
      ["GET", (r) => `/sessions/${r}/attach`],
      ["GET", (r) => `/feed?session=${r}`],
    ];
    for (const [method, url, body] of routes) {
      const answer = async (ref: string) => {
        const res = await s.request({ method: method as "GET", url: url(encodeURIComponent(ref)), token: AGENT_B, ...(body !== undefined ? { body } : {}) });
        return seen(res, ref);
      };
      const expected = await answer(missing[0]!);
      expect(expected.status, `${method} ${url("<ref>")}`).toBe(404);
      for (const ref of [...missing, ...probes]) expect(await answer(ref), `${method} ${url(ref)}`).toEqual(expected);
    }
    expect((await s.json({ method: "GET", url: `/sessions/${secret.id}`, token: AGENT_A })).body).toEqual(before);
  });

  it("refuses an agent token's chosen id alike whether or not a session has it", async () => {
    const s = await serve();
    const a = await create(s, AGENT_A, { name: "mine" });
    const taken = await s.request({ method: "POST", url: "/sessions/", body: { id: a.id }, token: AGENT_B });
    const free = await s.request({ method: "POST", url: "/sessions/", body: { id: "0190c0de-0000-7000-8000-00000000abcd" }, token: AGENT_B });
    expect(taken.statusCode).toBe(403);
    expect(JSON.parse(taken.body).error).toMatchObject({ code: "forbidden", field: "id" });
    expect(seen(taken, a.id)).toEqual(seen(free, "0190c0de-0000-7000-8000-00000000abcd"));
    expect((await s.json({ method: "POST", url: "/sessions/", body: { id: "chosen-by-admin" } })).status).toBe(201);
  });

  it("lets an admin address a session as agent_id/name (the slash as %2F) and /name for one without an agent_id", async () => {
    const s = await serve();
    const a = await create(s, AGENT_A, { name: "build" });
    const b = await create(s, AGENT_B, { name: "build" });
    const none = await create(s, s.token, { name: "build" });
    const team = await create(s, s.token, { name: "build", agent_id: "team/x" });
    for (const [url, id] of [
      ["/sessions/agent-a%2Fbuild", a.id],
      ["/sessions/agent-b%2fbuild", b.id],
      ["/sessions/%2Fbuild", none.id],
      ["/sessions/team%2Fx%2Fbuild", team.id],
    ] as const) {
      const res = await s.json({ method: "GET", url });
      expect(res.status, url).toBe(200);
      expect(res.body.id, url).toBe(id);
    }
    const patched = await s.json({ method: "POST", url: "/sessions/agent-b%2Fbuild/events", body: { type: "note", data: { n: 1 } } });
    expect(patched.status).toBe(201);
    expect((await s.json({ method: "GET", url: `/sessions/${b.id}/events?type=note` })).body).toHaveLength(1);
    expect((await s.json({ method: "GET", url: `/sessions/${a.id}/events?type=note` })).body).toHaveLength(0);
    expect((await s.json({ method: "GET", url: "/sessions/agent-c%2Fbuild" })).status).toBe(404);
    // An agent may use the qualified form for its own sessions.
    expect((await s.json({ method: "GET", url: "/sessions/agent-a%2Fbuild", token: AGENT_A })).body.id).toBe(a.id);
  });

  it("resolves an admin's or reader's bare name held once, and answers one held by several agents with 409 ambiguous_name naming agent_id/name forms", async () => {
    const s = await serve();
    const only = await create(s, AGENT_A, { name: "solo" });
    await create(s, AGENT_A, { name: "build" });
    await create(s, AGENT_B, { name: "build" });
    for (const token of [s.token, READER]) {
      expect((await s.json({ method: "GET", url: "/sessions/solo", token })).body.id).toBe(only.id);
      const res = await s.json({ method: "GET", url: "/sessions/build", token });
      expect(res.status).toBe(409);
      expect(res.body).toEqual({
        error: { code: "ambiguous_name", message: "2 sessions are named build: address one by its id or as agent_id/name (agent-a/build, agent-b/build)" },
      });
    }
    expect((await s.json({ method: "PATCH", url: "/sessions/build", body: { task: "which?" } })).body.error.code).toBe("ambiguous_name");
  });

  it("lists, for a token bound to a user_id, only that user's sessions among the holders of an ambiguous name", async () => {
    const s = await serve();
    await create(s, USER_U1, { name: "shared", agent_id: "any-1" });
    await create(s, USER_U1, { name: "shared", agent_id: "any-2" });
    await create(s, s.token, { name: "shared", agent_id: "any-3", user_id: "u2" });
    const res = await s.json({ method: "GET", url: "/sessions/shared", token: USER_U1 });
    expect(res.status).toBe(409);
    expect(res.body.error.message).toBe("2 sessions are named shared: address one by its id or as agent_id/name (any-1/shared, any-2/shared)");
    expect((await s.json({ method: "GET", url: "/sessions/any-2%2Fshared", token: USER_U1 })).body.agent_id).toBe("any-2");
    expect((await s.json({ method: "GET", url: "/sessions/any-3%2Fshared", token: USER_U1 })).status).toBe(404);
  });
});

describe("workspaces of sessions that share a name", () => {
  const put = (s: TestServer, ref: string, path: string, text: string, token: string) =>
    s.request({ method: "PUT", url: `/sessions/${encodeURIComponent(ref)}/artifacts/files/${path}`, body: text, headers: { "content-type": "application/octet-stream" }, token });
  const get = (s: TestServer, ref: string, path: string, token: string) =>
    s.request({ method: "GET", url: `/sessions/${encodeURIComponent(ref)}/artifacts/files/${path}`, token });

  it("gives two agents' sessions of one name a folder each: neither reads, lists nor overwrites the other's files", async () => {
    const s = await serve();
    await create(s, AGENT_A, { name: "build" });
    await create(s, AGENT_B, { name: "build" });
    expect((await put(s, "build", "notes.txt", "a's notes", AGENT_A)).statusCode).toBe(201);
    expect((await get(s, "build", "notes.txt", AGENT_B)).statusCode).toBe(404);
    expect((await s.json({ method: "GET", url: "/sessions/build/artifacts", token: AGENT_B })).body).toEqual([]);
    expect((await put(s, "build", "notes.txt", "b's notes", AGENT_B)).statusCode).toBe(201);
    expect((await get(s, "build", "notes.txt", AGENT_A)).body).toBe("a's notes");
    expect((await get(s, "agent-b/build", "notes.txt", s.token)).body).toBe("b's notes");
  });

  it("moves an agent's workspace out of the folder of its bare name, where it was kept before names were per agent_id", async () => {
    const s = await serve();
    const old = await create(s, AGENT_A, { name: "legacy" });
    const files = join(s.home, "workspaces", "legacy", "files");
    mkdirSync(files, { recursive: true });
    writeFileSync(join(files, "old.txt"), "kept");
    expect(await adoptLegacyWorkspaces(s.config, (name) => s.manager.find(name))).toBe(1);
    expect(existsSync(join(s.home, "workspaces", "legacy"))).toBe(false);
    expect((await get(s, "legacy", "old.txt", AGENT_A)).body).toBe("kept");
    // A session of that name without an agent_id starts with an empty workspace.
    await create(s, s.token, { name: "legacy" });
    expect((await s.json({ method: "GET", url: "/sessions/%2Flegacy/artifacts" })).body).toEqual([]);
    expect((await get(s, `agent-a/legacy`, "old.txt", s.token)).body).toBe("kept");
    expect(old.agent_id).toBe("agent-a");
    // Once done, a start does not look again.
    expect(await adoptLegacyWorkspaces(s.config, () => Promise.reject(new Error("not asked")))).toBe(0);
  });
});
