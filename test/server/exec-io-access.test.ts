import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { SseClient, WsClient } from "../streams/harness.js";
import { type TestServer, startServer } from "./harness.js";

vi.setConfig({ testTimeout: 60_000 });

/**
 * Who reads a live session's exec input and output — one rule (docs/api.md, "What a token may
 * read") on every route that shows them: admin and the owning agent yes (whatever execRoles says
 * of agents), another agent 404 as for anything of another agent, a reader only when execRoles
 * lists reader — otherwise exec events come cut (`redacted: true`) and the routes that are nothing
 * but exec I/O answer 403.
 */

const OWNER = "io-owner-agent-token-0123456789-abcdefgh";
const OTHER = "io-other-agent-token-0123456789-abcdefgh";
const READER = "io-reader-token-0123456789-abcdefghijkl";
const tokens = [
  { token: OWNER, role: "agent", agent_id: "a1" },
  { token: OTHER, role: "agent", agent_id: "a2" },
  { token: READER, role: "reader" },
];

/** In the exec's input only. */
const INPUT_SECRET = "in-secret-456";
/** In the exec's output only (the input computes it). */
const OUTPUT_SECRET = "out-secret-123";

let s: TestServer;
let url: string;
let id: string;
let execId: string;
let execSeq: number;

beforeAll(async () => {
  // execRoles is the default (admin only): the owning agent may not run commands, yet reads them.
  s = await startServer({ tokens, enableSessions: true });
  await s.app.listen({ host: "127.0.0.1", port: 0 });
  url = `http://127.0.0.1:${(s.app.server.address() as AddressInfo).port}`;
  const started = await s.json({ method: "POST", url: "/sessions/", body: { kind: "shell", agent_id: "a1" } });
  expect(started.status).toBe(201);
  id = started.body.id;
  const exec = await s.json({ method: "POST", url: `/sessions/${id}/exec`, body: { input: `X=${INPUT_SECRET}; echo out-secret-$((100+23))` } });
  expect(exec.body.stdout).toBe(`${OUTPUT_SECRET}\n`);
  execId = exec.body.exec_id;
  execSeq = exec.body.seq;
});

afterAll(async () => {
  await s.app.sessiond.live.stop(id).catch(() => {});
  await s.close();
});

const leaks = (value: unknown) => {
  const text = JSON.stringify(value);
  return text.includes(INPUT_SECRET) || text.includes(OUTPUT_SECRET);
};

describe("GET /sessions/{id}/events", () => {
  it("gives the owning agent the exec's input and output, even though execRoles does not let it run commands", async () => {
    const res = await s.json({ method: "GET", url: `/sessions/${id}/events?type=exec`, token: OWNER });
    expect(res.status).toBe(200);
    expect(res.body[0].data).toMatchObject({ exec_id: execId, input: `X=${INPUT_SECRET}; echo out-secret-$((100+23))`, stdout: `${OUTPUT_SECRET}\n` });
  });

  it("answers another agent 404", async () => {
    const res = await s.json({ method: "GET", url: `/sessions/${id}/events`, token: OTHER });
    expect(res.status).toBe(404);
    expect(leaks(res.body)).toBe(false);
  });

  it("gives a reader the exec event with its input and output cut, its seq and outcome kept", async () => {
    const res = await s.json({ method: "GET", url: `/sessions/${id}/events`, token: READER });
    expect(res.status).toBe(200);
    expect(leaks(res.body)).toBe(false);
    const exec = res.body.find((e: { type: string }) => e.type === "exec");
    expect(exec.seq).toBe(execSeq);
    expect(exec.data).toMatchObject({ exec_id: execId, status: "ok", exit_code: 0, redacted: true });
    expect(Object.keys(exec.data).sort()).toEqual(["duration_ms", "exec_id", "exit_code", "redacted", "started_at", "status", "truncated"]);
    // Events that are not exec I/O come whole, and the seqs have no gap.
    expect(res.body.map((e: { seq: number }) => e.seq)).toEqual(res.body.map((_: unknown, i: number) => i + 1));
  });
});

describe("GET /session/{id}/logs", () => {
  it("gives the owning agent the execs (execRoles does not list agent), another agent 404, a reader 403", async () => {
    const mine = await s.json({ method: "GET", url: `/session/${id}/logs`, token: OWNER });
    expect(mine.status).toBe(200);
    expect(mine.body[0]).toMatchObject({ exec_id: execId, stdout: `${OUTPUT_SECRET}\n` });
    const other = await s.json({ method: "GET", url: `/session/${id}/logs`, token: OTHER });
    expect(other.status).toBe(404);
    const reader = await s.json({ method: "GET", url: `/session/${id}/logs`, token: READER });
    expect(reader.status).toBe(403);
    expect(reader.body.error.code).toBe("forbidden");
    expect(leaks([other.body, reader.body])).toBe(false);
  });

  it("still refuses the routes that run or control sessions to roles execRoles does not list", async () => {
    expect((await s.json({ method: "GET", url: "/session/list", token: OWNER })).status).toBe(403);
    expect((await s.json({ method: "POST", url: `/sessions/${id}/exec`, token: OWNER, body: { input: "true" } })).status).toBe(403);
    expect((await s.json({ method: "GET", url: `/sessions/${id}/processes`, token: OWNER })).status).toBe(403);
  });
});

describe("GET /sessions/{id}/execs/{exec_id}", () => {
  it("gives the owning agent the result, another agent 404, a reader 403", async () => {
    const mine = await s.json({ method: "GET", url: `/sessions/${id}/execs/${execId}`, token: OWNER });
    expect(mine.status).toBe(200);
    expect(mine.body).toMatchObject({ exec_id: execId, state: "finished", result: { stdout: `${OUTPUT_SECRET}\n` } });
    expect((await s.json({ method: "GET", url: `/sessions/${id}/execs/${execId}`, token: OTHER })).status).toBe(404);
    const reader = await s.json({ method: "GET", url: `/sessions/${id}/execs/${execId}`, token: READER });
    expect(reader.status).toBe(403);
    expect(leaks(reader.body)).toBe(false);
  });
});

describe("GET /sessions/{id}/stream", () => {
  const ready = (c: SseClient) => c.until((events) => events.some((e) => e.data.type === "ready"));

  it("gives the owning agent the exec event whole and the output chunks", async () => {
    const c = new SseClient(`${url}/sessions/${id}/stream?after_seq=0&after_pos=0`, OWNER);
    try {
      await ready(c);
      const exec = c.events.find((e) => e.data.type === "event" && e.data.event_type === "exec");
      expect(exec?.data.data.stdout).toBe(`${OUTPUT_SECRET}\n`);
      const output = c.events.filter((e) => e.data.type === "output").map((e) => e.data.data).join("");
      expect(output).toContain(OUTPUT_SECRET);
    } finally {
      await c.close();
    }
  });

  it("gives a reader the exec event cut and no output", async () => {
    const c = new SseClient(`${url}/sessions/${id}/stream?after_seq=0&after_pos=0`, READER);
    try {
      await ready(c);
      expect(c.status).toBe(200);
      const exec = c.events.find((e) => e.data.type === "event" && e.data.event_type === "exec");
      expect(exec?.data.data).toMatchObject({ exec_id: execId, status: "ok", redacted: true });
      expect(c.events.some((e) => e.data.type === "output")).toBe(false);
      expect(leaks(c.events)).toBe(false);
    } finally {
      await c.close();
    }
  });

  it("answers a reader asking for output 403, and another agent 404", async () => {
    for (const query of ["output=1", `exec_id=${execId}`]) {
      const c = new SseClient(`${url}/sessions/${id}/stream?${query}`, READER);
      await c.started();
      expect(c.status, query).toBe(403);
      await c.close();
    }
    const other = new SseClient(`${url}/sessions/${id}/stream?output=0`, OTHER);
    await other.started();
    expect(other.status).toBe(404);
    await other.close();
  });
});

describe("GET /feed", () => {
  const readyFeed = async (token: string) => {
    const c = new SseClient(`${url}/feed?after=0`, token);
    await c.until((events) => events.some((e) => e.data.type === "ready"));
    await c.close();
    return c.events.filter((e) => e.data.type === "event" && e.data.session_id === id);
  };

  it("gives the owning agent the exec event whole, a reader the exec event cut, another agent none of the session's events", async () => {
    const mine = await readyFeed(OWNER);
    expect(mine.find((e) => e.data.event_type === "exec")?.data.data.stdout).toBe(`${OUTPUT_SECRET}\n`);
    const reader = await readyFeed(READER);
    expect(reader.find((e) => e.data.event_type === "exec")?.data.data).toMatchObject({ exec_id: execId, redacted: true });
    expect(leaks(reader)).toBe(false);
    expect(await readyFeed(OTHER)).toEqual([]);
  });
});

describe("GET /sessions/{id}/attach", () => {
  it("lets the owning agent watch the terminal (never drive, as execRoles does not list agent), refuses a reader 403 and another agent 404", async () => {
    const mine = new WsClient(`${url}/sessions/${id}/attach`, OWNER);
    try {
      await mine.opened;
      await mine.until((c) => c.messages.some((m) => m.type === "hello"));
      expect(mine.messages.find((m) => m.type === "hello").role).toBe("observer");
      await mine.until((c) => Buffer.concat(c.binary).toString("utf8").includes(OUTPUT_SECRET));
    } finally {
      await mine.close();
    }
    for (const [token, status] of [[READER, 403], [OTHER, 404]] as const) {
      const c = new WsClient(`${url}/sessions/${id}/attach`, token);
      await c.opened.catch(() => {});
      expect(c.unexpectedStatus).toBe(status);
      expect(leaks(c.unexpectedBody)).toBe(false);
      await c.close();
    }
  });
});

describe("an llm session's conversation", () => {
  it("is exec input and output: a reader gets its message events without their content; an agent session's own messages come whole", async () => {
    const llm = await s.manager.create({ kind: "llm", agent_id: "a1" });
    await s.manager.appendEvent(llm.id, "message", { role: "user", content: INPUT_SECRET });
    await s.manager.appendEvent(llm.id, "message", { role: "assistant", content: OUTPUT_SECRET, model: "m", finish_reason: "stop" });
    const reader = await s.json({ method: "GET", url: `/sessions/${llm.id}/events?type=message`, token: READER });
    expect(reader.body.map((e: { data: unknown }) => e.data)).toEqual([
      { role: "user", redacted: true },
      { role: "assistant", model: "m", finish_reason: "stop", redacted: true },
    ]);
    const owner = await s.json({ method: "GET", url: `/sessions/${llm.id}/events?type=message`, token: OWNER });
    expect(owner.body.map((e: { data: { content: string } }) => e.data.content)).toEqual([INPUT_SECRET, OUTPUT_SECRET]);

    const agent = await s.manager.create({ kind: "agent" });
    await s.manager.appendEvent(agent.id, "message", { role: "user", content: "hello" });
    const plain = await s.json({ method: "GET", url: `/sessions/${agent.id}/events?type=message`, token: READER });
    expect(plain.body[0].data).toEqual({ role: "user", content: "hello" });
  });
});

describe("a server whose execRoles lists reader", () => {
  it("gives reader tokens exec input and output on every route", async () => {
    const open = await startServer({ tokens, enableSessions: true, execRoles: ["admin", "reader"] });
    try {
      const shell = await open.manager.create({ kind: "shell" });
      await open.manager.appendEvent(shell.id, "exec", { exec_id: "e1", input: INPUT_SECRET, stdout: OUTPUT_SECRET, stderr: "", exit_code: 0, status: "ok", started_at: new Date().toISOString(), duration_ms: 1, truncated: false });
      const events = await open.json({ method: "GET", url: `/sessions/${shell.id}/events?type=exec`, token: READER });
      expect(events.body[0].data).toMatchObject({ input: INPUT_SECRET, stdout: OUTPUT_SECRET });
      const logs = await open.json({ method: "GET", url: `/session/${shell.id}/logs`, token: READER });
      expect(logs.status).toBe(200);
      expect(logs.body[0]).toMatchObject({ exec_id: "e1", stdout: OUTPUT_SECRET });
    } finally {
      await open.close();
    }
  });
});
