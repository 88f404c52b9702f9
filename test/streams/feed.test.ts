import { describe, expect, it, vi } from "vitest";
import { type LiveServer, SseClient, WsClient, perTest } from "./harness.js";

vi.setConfig({ testTimeout: 60_000 });

const AGENT = "agent-token-0123456789-abcdefghij";
const READER = "reader-token-0123456789-abcdefghij";

const { cleanups, server } = perTest({ tokens: [{ token: AGENT, role: "agent", agent_id: "a1" }, { token: READER, role: "reader" }] });

function ws(s: LiveServer, path: string, token = s.token): WsClient {
  const c = new WsClient(s.url + path, token);
  cleanups.push(() => c.close());
  return c;
}

const events = (c: WsClient) => c.messages.filter((m) => m.type === "event");

describe("GET /feed", () => {
  it("sends every session's events live with increasing global positions and the owner fields", async () => {
    const s = await server();
    const c = ws(s, "/feed");
    await c.opened;
    await c.until((cl) => cl.messages.some((m) => m.type === "ready"));
    const { body: a } = await s.json("POST", "/sessions", { agent_id: "a1" });
    const { body: b } = await s.json("POST", "/sessions", { agent_id: "a2", kind: "agent" });
    await s.json("POST", `/sessions/${a.id}/events`, { type: "note", data: { n: 1 } });
    await c.until((cl) => events(cl).length === 3);
    const got = events(c);
    expect(got.map((m) => [m.session_id, m.event_type])).toEqual([
      [a.id, "start"],
      [b.id, "start"],
      [a.id, "note"],
    ]);
    expect(got[1]).toMatchObject({ kind: "agent", agent_id: "a2", seq: 1 });
    expect(got[0].pos).toBeLessThan(got[1].pos);
    expect(got[1].pos).toBeLessThan(got[2].pos);
  });

  it("filters by session, event type, kind and agent_id", async () => {
    const s = await server({ enableSessions: true });
    const { body: a } = await s.json("POST", "/sessions", { agent_id: "a1", name: "alpha" });
    const { body: b } = await s.json("POST", "/sessions", { agent_id: "a2" });
    const bySession = ws(s, "/feed?session=alpha&after=0");
    const byType = ws(s, "/feed?type=note&after=0");
    const byAgent = ws(s, "/feed?agent_id=a2&after=0");
    const byKind = ws(s, "/feed?kind=shell&after=0");
    await Promise.all([bySession, byType, byAgent, byKind].map((c) => c.opened));
    await s.json("POST", `/sessions/${a.id}/events`, { type: "note", data: {} });
    await s.json("POST", `/sessions/${b.id}/events`, { type: "other", data: {} });
    const { body: shell } = await s.json("POST", "/sessions", { kind: "shell" });
    await byKind.until((cl) => events(cl).length >= 1);
    await bySession.until((cl) => events(cl).length === 2);
    await byType.until((cl) => events(cl).length === 1);
    await byAgent.until((cl) => events(cl).length === 2);
    expect(events(bySession).every((m) => m.session_id === a.id)).toBe(true);
    expect(events(byType).map((m) => m.session_id)).toEqual([a.id]);
    expect(events(byAgent).map((m) => m.event_type)).toEqual(["start", "other"]);
    expect(events(byKind).every((m) => m.session_id === shell.id && m.kind === "shell")).toBe(true);
    await s.json("POST", `/sessions/${shell.id}/stop`);
  });

  it("gives an agent token only its own sessions' events", async () => {
    const s = await server();
    const c = ws(s, "/feed?after=0", AGENT);
    await c.opened;
    const { body: mine } = await s.json("POST", "/sessions", { agent_id: "a1" });
    await s.json("POST", "/sessions", { agent_id: "a2" });
    await s.json("POST", `/sessions/${mine.id}/events`, { type: "done", data: {} });
    await c.until((cl) => events(cl).some((m) => m.event_type === "done"));
    expect(events(c).every((m) => m.session_id === mine.id)).toBe(true);
    expect(events(c)).toHaveLength(2);
  });

  it("tells of deleted sessions only when asked (deletions=1), and an agent token only of its own", async () => {
    const s = await server();
    const asked = ws(s, "/feed?deletions=1");
    const plain = ws(s, "/feed");
    const agent = ws(s, "/feed?deletions=1", AGENT);
    for (const c of [asked, plain, agent]) {
      await c.opened;
      await c.until((cl) => cl.messages.some((m) => m.type === "ready"));
    }
    const { body: mine } = await s.json("POST", "/sessions", { agent_id: "a1", kind: "agent" });
    const { body: other } = await s.json("POST", "/sessions", { agent_id: "a2" });
    expect((await s.json("DELETE", `/sessions/${other.id}`)).status).toBe(204);
    expect((await s.json("DELETE", `/sessions/${mine.id}`)).status).toBe(204);
    const deleted = (c: WsClient) => c.messages.filter((m) => m.type === "deleted");
    await asked.until((cl) => deleted(cl).length === 2);
    expect(deleted(asked)).toEqual([
      expect.objectContaining({ session_id: other.id, agent_id: "a2" }),
      expect.objectContaining({ session_id: mine.id, agent_id: "a1", kind: "agent" }),
    ]);
    await agent.until((cl) => deleted(cl).length === 1);
    expect(deleted(agent).map((m) => m.session_id)).toEqual([mine.id]);
    // The plain feed saw both starts, and no deletion after them.
    await plain.until((cl) => events(cl).length === 2);
    expect(deleted(plain)).toEqual([]);
  });

  it("resumes after a position with everything after it, no gap and no duplicate, while writes go on", async () => {
    const s = await server();
    const { body: a } = await s.json("POST", "/sessions", {});
    for (let i = 0; i < 20; i++) await s.manager.appendEvent(a.id, "note", { i });
    const first = ws(s, "/feed?after=0");
    await first.opened;
    await first.until((cl) => cl.messages.some((m) => m.type === "ready"));
    const seen = events(first);
    expect(seen.map((m) => m.seq)).toEqual(Array.from({ length: 21 }, (_, i) => i + 1));
    const cut = seen[9].pos;
    await first.close();

    // Resume from the 10th while writers keep appending: the backlog, then live, each once.
    const writing = (async () => {
      for (let i = 20; i < 220; i++) await s.manager.appendEvent(a.id, "note", { i });
    })();
    const resumed = ws(s, `/feed?after=${cut}`);
    await resumed.opened;
    await writing;
    await resumed.until((cl) => events(cl).length === 211);
    const seqs = events(resumed).map((m) => m.seq);
    expect(seqs).toEqual(Array.from({ length: 211 }, (_, i) => i + 11));
  });

  it("resumes an SSE feed from Last-Event-ID", async () => {
    const s = await server();
    const { body: a } = await s.json("POST", "/sessions", {});
    await s.manager.appendEvent(a.id, "note", {});
    const c = new SseClient(`${s.url}/feed?after=0`, s.token);
    cleanups.push(() => c.close());
    await c.until((evs) => evs.some((e) => e.event === "ready"));
    const start = c.events.find((e) => e.event === "event")!;
    expect(start.id).toBe(String(start.data.pos));
    await c.close();
    const again = new SseClient(`${s.url}/feed`, s.token, { "last-event-id": start.id! });
    cleanups.push(() => again.close());
    await again.until((evs) => evs.some((e) => e.event === "ready"));
    expect(again.events.filter((e) => e.event === "event").map((e) => e.data.seq)).toEqual([2]);
  });

  it("cuts off a subscriber that stops reading, with 4008 slow_consumer and its cursor, without holding up writers or other subscribers", async () => {
    const s = await server({ feedMaxBufferedBytes: 64 * 1024 });
    const { body: a } = await s.json("POST", "/sessions", {});
    const slow = ws(s, "/feed");
    const fast = ws(s, "/feed");
    await Promise.all([slow.opened, fast.opened]);
    await slow.until((cl) => cl.messages.some((m) => m.type === "ready"));
    await fast.until((cl) => cl.messages.some((m) => m.type === "ready"));
    slow.socket.pause();
    const big = "x".repeat(8 * 1024);
    const total = 2000;
    // Every write is answered although one subscriber reads nothing.
    for (let i = 0; i < total; i++) await s.manager.appendEvent(a.id, "note", { i, big });
    await fast.until((cl) => events(cl).length === total);
    slow.socket.resume();
    await slow.closed();
    expect(slow.closeCode).toBe(4008);
    expect(slow.closeReason).toMatch(/^slow_consumer cursor=\d+$/);
    const got = events(slow);
    expect(got.length).toBeLessThan(total);
    const cursor = Number(slow.closeReason.split("=")[1]);
    expect(cursor).toBe(got.length ? got.at(-1).pos : cursor);

    // It resumes from its cursor and gets the rest, each once.
    const back = ws(s, `/feed?after=${cursor}`);
    await back.opened;
    await back.until((cl) => cl.messages.some((m) => m.type === "ready"));
    const all = [...got, ...events(back)].map((m) => m.data.i);
    expect(all).toEqual(Array.from({ length: total }, (_, i) => i));
  });

  it("ends an SSE subscriber that stops reading with a final cutoff event naming its cursor; it resumes from there", async () => {
    const s = await server({ feedMaxBufferedBytes: 64 * 1024 });
    const { body: a } = await s.json("POST", "/sessions", {});
    const slow = new SseClient(`${s.url}/feed?type=note`, s.token);
    cleanups.push(() => slow.close());
    await slow.until((evs) => evs.some((e) => e.event === "ready"));
    slow.pause();
    const big = "x".repeat(8 * 1024);
    const total = 2000;
    for (let i = 0; i < total; i++) await s.manager.appendEvent(a.id, "note", { i, big });
    slow.resume();
    await slow.until((evs) => evs.some((e) => e.event === "cutoff"));
    const cutoff = slow.events.find((e) => e.event === "cutoff")!;
    expect(cutoff.data).toMatchObject({ type: "cutoff", reason: "slow_consumer" });
    const got = slow.events.filter((e) => e.event === "event");
    expect(got.length).toBeLessThan(total);
    expect(cutoff.data.cursor).toBe(got.length ? got.at(-1)!.id : cutoff.data.cursor);
    expect(slow.events.at(-1)!.event).toBe("cutoff");

    const back = new SseClient(`${s.url}/feed?type=note`, s.token, { "last-event-id": cutoff.data.cursor });
    cleanups.push(() => back.close());
    await back.until((evs) => evs.some((e) => e.event === "ready"));
    const all = [...got, ...back.events.filter((e) => e.event === "event")].map((e) => e.data.data.i);
    expect(all).toEqual(Array.from({ length: total }, (_, i) => i));
  });
});
