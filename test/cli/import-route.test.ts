import { afterEach, describe, expect, it } from "vitest";
import { type TestServer, startServer } from "../server/harness.js";

const AGENT_TOKEN = "agent-a-token-0123456789-abcdefghij";

let server: TestServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

const body = (id: string, events = [
  { seq: 1, ts: "2025-01-01T00:00:00.000Z", type: "start", data: {} },
  { seq: 2, ts: "2025-01-01T00:01:00.000Z", type: "note", data: { n: 1 } },
]) => ({ session: { id, name: `n-${id}`, status: "paused", iterations: 3, created_at: "2025-01-01T00:00:00.000Z", version: 7 }, events });

describe("POST /import/sessions", () => {
  it("stores a session with its history as it was, then leaves it alone on a second import (201, then 200)", async () => {
    server = await startServer();
    const first = await server.json({ method: "POST", url: "/import/sessions", body: body("old-1") });
    expect(first).toMatchObject({ status: 201, body: { id: "old-1", name: "n-old-1", imported: true } });
    await server.json({ method: "POST", url: "/sessions/old-1/events", body: { type: "later", data: {} } });
    const second = await server.json({ method: "POST", url: "/import/sessions", body: body("old-1", []) });
    expect(second).toMatchObject({ status: 200, body: { imported: false } });
    const s = await server.json({ method: "GET", url: "/sessions/old-1" });
    expect(s.body).toMatchObject({ status: "paused", iterations: 3, created_at: "2025-01-01T00:00:00.000Z", last_seq: 3, version: 7 });
    const events = await server.json({ method: "GET", url: "/sessions/old-1/events" });
    expect(events.body.map((e: { seq: number; ts: string }) => [e.seq, e.ts.slice(0, 4)])).toEqual([
      [1, "2025"],
      [2, "2025"],
      [3, "2026"],
    ]);
  });

  it("refuses a gap in the seqs naming the event, and a name another session has", async () => {
    server = await startServer();
    const gap = await server.json({ method: "POST", url: "/import/sessions", body: body("old-2", [{ seq: 2, ts: "2025-01-01T00:00:00.000Z", type: "start", data: {} }]) });
    expect(gap).toMatchObject({ status: 400, body: { error: { code: "validation", field: "events.0.seq" } } });
    await server.json({ method: "POST", url: "/sessions/", body: { name: "n-old-3" } });
    const taken = await server.json({ method: "POST", url: "/import/sessions", body: body("old-3") });
    expect(taken).toMatchObject({ status: 409, body: { error: { code: "conflict", field: "name" } } });
    expect((await server.json({ method: "GET", url: "/sessions/old-2" })).status).toBe(404);
  });

  it("is for admins only", async () => {
    server = await startServer({ tokens: [{ token: AGENT_TOKEN, role: "agent", agent_id: "agent-a", name: "agent-a" }] });
    const res = await server.json({ method: "POST", url: "/import/sessions", body: body("old-4"), token: AGENT_TOKEN });
    expect(res).toMatchObject({ status: 403, body: { error: { code: "forbidden" } } });
  });
});
