import { afterEach, describe, expect, it } from "vitest";
import { type TestServer, startServer } from "./harness.js";

/**
 * `runtime_metadata` is the server's record of a session's process (pid + pid_starttime, which the
 * orphan sweep acts on; sandbox_uid, the owner of files the server writes; mode_options, re-applied
 * on recovery): no token but the admin writes it over the API.
 */

const AGENT = "rtmeta-agent-token-0123456789-abcdefghij";
const READER = "rtmeta-reader-token-0123456789-abcdefghij";
const tokens = () => [
  { token: AGENT, role: "agent", agent_id: "a1" },
  { token: READER, role: "reader" },
];

/** What a forged record would carry: a host process to kill, a uid to own files, an interpreter to run. */
const FORGED = { pid: 1, pid_starttime: 12345, sandbox_uid: 0, mode_options: { interpreter: "/bin/sh" } };
const RECORD = { cwd: "/work", pid: 4242, pid_starttime: 777, sandbox_uid: 60001 };

let server: TestServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

async function agentSession(s: TestServer) {
  return s.manager.create({ name: "rt-owned", kind: "agent", agent_id: "a1", runtime_metadata: RECORD });
}

describe("runtime_metadata over the API", () => {
  it("refuses an agent token's PATCH of it with 403 naming the field, in every body type, and changes nothing", async () => {
    const s = (server = await startServer({ tokens: tokens() }));
    const before = await agentSession(s);
    const bodies: [string, Record<string, string>, string][] = [
      ["plain JSON", { "content-type": "application/json" }, JSON.stringify({ runtime_metadata: FORGED })],
      ["JSON text as a form", { "content-type": "application/x-www-form-urlencoded" }, JSON.stringify({ runtime_metadata: FORGED })],
      ["merge patch", { "content-type": "application/merge-patch+json" }, JSON.stringify({ runtime_metadata: FORGED })],
      // With other fields beside it, none of them is applied either.
      ["merge patch with other fields", { "content-type": "application/merge-patch+json" }, JSON.stringify({ task: "t", runtime_metadata: { pid: 1 } })],
      ["an empty object", { "content-type": "application/json" }, JSON.stringify({ task: "t", runtime_metadata: {} })],
    ];
    for (const [what, headers, body] of bodies) {
      const res = await s.json({ method: "PATCH", url: `/sessions/${before.id}`, token: AGENT, headers, body });
      expect(res.status, what).toBe(403);
      expect(res.body.error.code, what).toBe("forbidden");
      expect(res.body.error.field, what).toBe("runtime_metadata");
    }
    const after = await s.manager.get(before.id);
    expect(after.runtime_metadata).toEqual(RECORD);
    expect(after.task).toBe(before.task);
    expect(after.version).toBe(before.version);
  });

  it("still lets an agent token PATCH its session's other fields", async () => {
    const s = (server = await startServer({ tokens: tokens() }));
    const { id } = await agentSession(s);
    const res = await s.json({ method: "PATCH", url: `/sessions/${id}`, token: AGENT, body: { task: "mine", metadata: { note: 1 } } });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ task: "mine", metadata: { note: 1 }, runtime_metadata: RECORD });
  });

  it("refuses it at create from an agent token, for a record and a live session alike, creating nothing", async () => {
    const s = (server = await startServer({ tokens: tokens() }));
    for (const body of [{ name: "forged", runtime_metadata: FORGED }, { name: "forged-shell", kind: "shell", runtime_metadata: FORGED }]) {
      const res = await s.json({ method: "POST", url: "/sessions/", token: AGENT, body });
      expect(res.status, body.name).toBe(403);
      expect(res.body.error.code, body.name).toBe("forbidden");
      expect(res.body.error.field, body.name).toBe("runtime_metadata");
    }
    expect((await s.manager.list({})).items).toHaveLength(0);
  });

  it("refuses a reader token too (it may only read)", async () => {
    const s = (server = await startServer({ tokens: tokens() }));
    const { id } = await agentSession(s);
    const res = await s.json({ method: "PATCH", url: `/sessions/${id}`, token: READER, body: { runtime_metadata: FORGED } });
    expect(res.status).toBe(403);
    expect((await s.manager.get(id)).runtime_metadata).toEqual(RECORD);
  });

  it("lets the admin set it at create and replace it with a plain PATCH", async () => {
    const s = (server = await startServer({ tokens: tokens() }));
    const created = await s.json({ method: "POST", url: "/sessions/", body: { name: "admin-made", runtime_metadata: { cwd: "/a", restarts: 0 } } });
    expect(created.status).toBe(201);
    expect(created.body.runtime_metadata).toEqual({ cwd: "/a", restarts: 0 });
    const replaced = await s.json({ method: "PATCH", url: `/sessions/${created.body.id}`, body: { runtime_metadata: { cwd: "/b" } } });
    expect(replaced.status).toBe(200);
    expect(replaced.body.runtime_metadata).toEqual({ cwd: "/b" });
  });

  it("merges an admin's merge patch of it into what is there (null deletes a key), as for metadata", async () => {
    const s = (server = await startServer({ tokens: tokens() }));
    const { id, version } = await agentSession(s);
    const res = await s.json({
      method: "PATCH",
      url: `/sessions/${id}`,
      headers: { "content-type": "application/merge-patch+json" },
      body: JSON.stringify({ runtime_metadata: { cwd: "/elsewhere", sandbox_uid: null, nested: { a: 1 } } }),
    });
    expect(res.status).toBe(200);
    const expected = { cwd: "/elsewhere", pid: 4242, pid_starttime: 777, nested: { a: 1 } };
    expect(res.body.runtime_metadata).toEqual(expected);
    expect(res.body.version).toBe(version + 1);
    // A second patch (with a charset parameter) merges into the nested object too.
    const again = await s.json({
      method: "PATCH",
      url: `/sessions/${id}`,
      headers: { "content-type": "application/merge-patch+json; charset=utf-8" },
      body: JSON.stringify({ runtime_metadata: { nested: { b: 2 } } }),
    });
    expect(again.body.runtime_metadata).toEqual({ ...expected, nested: { a: 1, b: 2 } });
    expect((await s.manager.get(id)).runtime_metadata).toEqual({ ...expected, nested: { a: 1, b: 2 } });
  });
});
