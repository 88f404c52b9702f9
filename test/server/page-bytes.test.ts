import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type SessiondClient, createClient } from "../../src/sdk/client/index.js";
import { type TestServer, startServer } from "./harness.js";

/**
 * Pages cut at maxPageBytes: sessions with large tasks and large events come a few per page, each
 * page naming the next, so that nothing is lost or sent twice and no page is larger than the
 * budget (beyond its one first item).
 */
const BUDGET = 8_000;

let server: TestServer;
let client: SessiondClient;
beforeAll(async () => {
  server = await startServer({ maxPageBytes: BUDGET });
  await server.app.listen({ host: "127.0.0.1", port: 0 });
  const address = server.app.server.address();
  if (!address || typeof address === "string") throw new Error("no TCP address");
  client = createClient({ baseUrl: `http://127.0.0.1:${address.port}`, token: server.token, home: server.home });
});
afterAll(async () => {
  await client?.close();
  await server.close();
});

/** Follows `x-next-cursor` from `url` to the end; every page's body length and items. */
async function allPages(url: string): Promise<{ pages: Array<{ bytes: number; ids: string[] }>; ids: string[] }> {
  const pages: Array<{ bytes: number; ids: string[] }> = [];
  let next: string | undefined = url;
  while (next !== undefined) {
    const res = await server.request({ method: "GET", url: next });
    expect(res.statusCode).toBe(200);
    const items = res.json() as Array<{ id?: string; seq?: number }>;
    pages.push({ bytes: Buffer.byteLength(res.body), ids: items.map((item) => String(item.id ?? item.seq)) });
    const cursor = res.headers["x-next-cursor"];
    next = typeof cursor === "string" ? `${url}${url.includes("?") ? "&" : "?"}cursor=${encodeURIComponent(cursor)}` : undefined;
  }
  return { pages, ids: pages.flatMap((p) => p.ids) };
}

describe("pages cut at maxPageBytes", () => {
  it("lists sessions with large tasks a few per page, each within the budget, all of them once", async () => {
    const created: string[] = [];
    for (let i = 0; i < 12; i++) {
      const res = await server.json({ method: "POST", url: "/sessions/", body: { agent_id: "big-tasks", task: `${i} ${"t".repeat(2_000)}` } });
      created.push(res.body.id);
    }
    const { pages, ids } = await allPages("/sessions/?agent_id=big-tasks&limit=50");
    expect(pages.length).toBeGreaterThan(2);
    for (const page of pages) expect(page.bytes).toBeLessThanOrEqual(BUDGET);
    expect(ids).toEqual([...created].reverse());
  });

  it("cuts a page listed in another order and goes on after the last session sent, in that order", async () => {
    const names = Array.from({ length: 10 }, (_, i) => `cut-${String((i * 7) % 10).padStart(2, "0")}`);
    for (const name of names) await server.json({ method: "POST", url: "/sessions/", body: { name, agent_id: "big-sorted", task: "t".repeat(2_000) } });
    const { pages, ids } = await allPages("/sessions/?agent_id=big-sorted&sort=name&order=asc&limit=50");
    expect(pages.length).toBeGreaterThan(2);
    const byId = new Map<string, string>();
    for await (const s of client.sessions.iterateSessions({ agent_id: "big-sorted" })) byId.set(s.id, s.name);
    expect(ids.map((id) => byId.get(id))).toEqual([...names].sort());
  });

  it("sends a session larger than the budget alone on its page, and goes on after it", async () => {
    const small = await server.json({ method: "POST", url: "/sessions/", body: { agent_id: "one-huge" } });
    const huge = await server.json({ method: "POST", url: "/sessions/", body: { agent_id: "one-huge", task: "h".repeat(3 * BUDGET) } });
    const { pages, ids } = await allPages("/sessions/?agent_id=one-huge");
    expect(pages.map((p) => p.ids)).toEqual([[huge.body.id], [small.body.id]]);
    expect(ids).toHaveLength(2);
  });

  it("pages events of a few kilobytes each by the budget, in seq order, none twice", async () => {
    const session = await server.json({ method: "POST", url: "/sessions/", body: {} });
    for (let i = 0; i < 10; i++) {
      const res = await server.request({ method: "POST", url: `/sessions/${session.body.id}/events`, body: { type: "note", data: { i, text: "e".repeat(3_000) } } });
      expect(res.statusCode).toBe(201);
    }
    const { pages, ids } = await allPages(`/sessions/${session.body.id}/events?limit=100`);
    expect(pages.length).toBeGreaterThan(2);
    for (const page of pages) expect(page.bytes).toBeLessThanOrEqual(BUDGET);
    expect(ids.map(Number)).toEqual(Array.from({ length: 11 }, (_, i) => i + 1));
  });

  it("gives the SDK's listEventsUpTo every event up to its limit across cut pages, fewer only at the end", async () => {
    const session = await client.sessions.createSession({});
    for (let i = 0; i < 8; i++) await client.sessions.appendEvent(session.id, "note", { i, text: "s".repeat(3_000) });
    expect((await client.sessions.listEvents(session.id, { limit: 6 })).items.length).toBeLessThan(6);
    const six = await client.sessions.listEventsUpTo(session.id, { limit: 6 });
    expect(six.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5, 6]);
    const newest = await client.sessions.listEventsUpTo(session.id, { order: "desc", types: ["note"], limit: 100 });
    expect(newest.map((e) => e.seq)).toEqual([9, 8, 7, 6, 5, 4, 3, 2]);
  });

  it("sends a large event as its store holds it: the same JSON as any other event", async () => {
    const session = (await server.json({ method: "POST", url: "/sessions/", body: { agent_id: "large-events" } })).body;
    const data = { parts: Array.from({ length: 4000 }, (_, i) => ({ i })) };
    await server.json({ method: "POST", url: `/sessions/${session.id}/events`, body: { type: "note", data } });
    const res = await server.request({ method: "GET", url: `/sessions/${session.id}/events?type=note` });
    const [event] = res.json() as Array<{ seq: number; ts: string; type: string; data: unknown }>;
    expect(event).toEqual({ seq: 2, ts: expect.any(String), type: "note", data });
    expect(Object.keys(event!)).toEqual(["seq", "ts", "type", "data"]);
  });
});
