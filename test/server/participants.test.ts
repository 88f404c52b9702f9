/**
 * Seed 002's participants over HTTP, on a real server on a loopback port: set at create, added
 * when an agent token writes and when anyone attaches to a live shell, each once, shown by
 * GET /sessions/{id}.
 */
import { describe, expect, it, vi } from "vitest";
import { WsClient, perTest } from "../streams/harness.js";

vi.setConfig({ testTimeout: 60_000 });

const AGENT = "claude-joel-token-0123456789-abcdefghij";
const USER = "joel-user-token-0123456789-abcdefghijk";
const READER = "ana-reader-token-0123456789-abcdefghij";
const tokens = [
  { token: AGENT, role: "agent", agent_id: "claude", user_id: "joel" },
  { token: USER, role: "agent", user_id: "joel", name: "joel-phone" },
  { token: READER, role: "reader", name: "ana-laptop" },
];

const { cleanups, server } = perTest({ tokens });

type Who = { kind: string; id: string; joined_at: string };
const who = (participants: Who[]) => participants.map((p) => `${p.kind}:${p.id}`);

describe("participants", () => {
  it("lists those a create names, then the creating agent token's agent and user, and names the session after the user", async () => {
    const s = await server();
    const created = await s.json("POST", "/sessions", { mode: "developer", participants: [{ kind: "persona", id: "reviewer" }] }, AGENT);
    expect(created.status).toBe(201);
    expect(created.body.name).toMatch(/^human-joel-\d{4}-\d{2}-\d{2}-[0-9a-f]{8}$/);
    const { body } = await s.json("GET", `/sessions/${created.body.id}`);
    expect(who(body.participants)).toEqual(["persona:reviewer", "ai:claude", "human:joel"]);
    for (const p of body.participants) expect(p.joined_at).toBe(body.created_at);

    const refused = await s.json("POST", "/sessions", { participants: [{ kind: "robot", id: "r2" }] });
    expect(refused.status).toBe(400);
    expect(refused.body.error).toMatchObject({ code: "validation", field: "participants.0.kind" });
    const openapi = await s.json("GET", "/openapi.json");
    expect(Object.keys(openapi.body.components.schemas.Session.properties)).toContain("participants");
  });

  it("adds an agent token the first time it writes, once, without moving the ETag; reads and admin writes add nobody", async () => {
    const s = await server();
    const created = await s.json("POST", "/sessions", { agent_id: "claude" });
    const id = created.body.id as string;
    expect(who(created.body.participants)).toEqual(["ai:claude"]);
    // The session comes to be for joel after it started: his token may see it from now on.
    expect((await s.json("PATCH", `/sessions/${id}`, { user_id: "joel", task: "admin write" })).status).toBe(200);
    expect((await s.json("GET", `/sessions/${id}`, undefined, USER)).status).toBe(200);
    expect((await s.json("GET", `/sessions/${id}`, undefined, READER)).status).toBe(200);
    const before = await s.json("GET", `/sessions/${id}`);
    expect(who(before.body.participants)).toEqual(["ai:claude"]);

    const first = await s.json("POST", `/sessions/${id}/events`, { type: "note", data: { n: 1 } }, USER);
    expect(first.status).toBe(201);
    const after = await s.json("GET", `/sessions/${id}`);
    expect(who(after.body.participants)).toEqual(["ai:claude", "human:joel"]);
    expect(after.body.version).toBe(before.body.version);

    // A write that names the version it read still passes: the join did not move it.
    const checked = await s.json("POST", `/sessions/${id}/events`, { type: "note", data: { n: 2 }, version: before.body.version }, USER);
    expect(checked.status).toBe(201);
    await s.json("POST", `/sessions/${id}/tool-calls`, { tool: "bash", args: {} }, AGENT);
    const last = await s.json("GET", `/sessions/${id}`);
    expect(who(last.body.participants)).toEqual(["ai:claude", "human:joel"]);
    expect(last.body.participants[1].joined_at).toBe(after.body.participants[1].joined_at);
  });

  it("adds whoever attaches to a live shell, driver or observer, once: an agent token as its agent and user, others by their token's name", async () => {
    const s = await server({ enableSessions: true, execRoles: ["admin", "agent", "reader"] });
    const created = await s.json("POST", "/sessions", { kind: "shell" });
    expect(created.status).toBe(201);
    const id = created.body.id as string;
    expect(created.body.participants).toEqual([]);

    const attach = async (token: string, query = "") => {
      const c = new WsClient(`${s.url}/sessions/${id}/attach${query}`, token);
      cleanups.push(() => c.close());
      await c.opened;
      return c;
    };
    await attach(s.token);
    await attach(READER, "?role=observer");
    await attach(s.token, "?role=observer");
    const { body } = await s.json("GET", `/sessions/${id}`);
    expect(who(body.participants)).toEqual(["human:admin", "human:ana-laptop"]);
    expect(body.version).toBe(created.body.version);

    const mine = await s.json("POST", "/sessions", { kind: "shell" }, AGENT);
    expect(mine.status).toBe(201);
    const c = new WsClient(`${s.url}/sessions/${mine.body.id}/attach`, AGENT);
    cleanups.push(() => c.close());
    await c.opened;
    const agentShell = await s.json("GET", `/sessions/${mine.body.id}`);
    expect(who(agentShell.body.participants)).toEqual(["ai:claude", "human:joel"]);
  });
});
