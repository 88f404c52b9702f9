import { describe, expect, it, vi } from "vitest";
import { type LiveServer, SseClient, WsClient, outputBytes, perTest } from "./harness.js";

vi.setConfig({ testTimeout: 60_000 });

const { cleanups, server } = perTest({ enableSessions: true });

function sse(s: LiveServer, path: string, headers: Record<string, string> = {}): SseClient {
  const c = new SseClient(s.url + path, s.token, headers);
  cleanups.push(() => c.close());
  return c;
}

function ws(s: LiveServer, path: string, token: string | undefined = s.token): WsClient {
  const c = new WsClient(s.url + path, token);
  cleanups.push(() => c.close());
  return c;
}

const eventsOf = (c: SseClient) => c.events.filter((e) => e.event === "event").map((e) => e.data);

describe("GET /sessions/{id}/stream over SSE", () => {
  it("replays the events after after_seq, says ready, then sends live ones with a resumable id", async () => {
    const s = await server();
    const { body: session } = await s.json("POST", "/sessions", { mode: "dev" });
    for (let i = 0; i < 3; i++) await s.json("POST", `/sessions/${session.id}/events`, { type: "note", data: { i } });
    const c = sse(s, `/sessions/${session.id}/stream?after_seq=1`);
    await c.until((evs) => evs.some((e) => e.event === "ready"));
    expect(eventsOf(c).map((e) => e.seq)).toEqual([2, 3, 4]);
    expect(eventsOf(c)[0]).toMatchObject({ type: "event", session_id: session.id, event_type: "note", data: { i: 0 } });
    await s.json("POST", `/sessions/${session.id}/events`, { type: "note", data: { i: 3 } });
    await c.until(() => eventsOf(c).length === 4);
    const last = c.events.filter((e) => e.event === "event").at(-1)!;
    expect(last.data.seq).toBe(5);
    expect(last.id).toBe("5:0");
    await c.close();

    // Reconnecting with Last-Event-ID gives exactly what came after it.
    await s.json("POST", `/sessions/${session.id}/events`, { type: "note", data: { i: 4 } });
    const again = sse(s, `/sessions/${session.id}/stream`, { "last-event-id": last.id! });
    await again.until((evs) => evs.some((e) => e.event === "ready"));
    expect(eventsOf(again).map((e) => e.seq)).toEqual([6]);
  });

  it("filters by event type and leaves output out with output=0", async () => {
    const s = await server();
    const { body: session } = await s.json("POST", "/sessions", {});
    await s.json("POST", `/sessions/${session.id}/events`, { type: "note", data: {} });
    await s.json("POST", `/sessions/${session.id}/events`, { type: "tool_call", data: { tool: "x" } });
    const c = sse(s, `/sessions/${session.id}/stream?after_seq=0&types=tool_call,note&output=0`);
    await c.until((evs) => evs.some((e) => e.event === "ready"));
    expect(eventsOf(c).map((e) => e.event_type)).toEqual(["note", "tool_call"]);
    // `type`, as the feed and the event list name the filter, is the same.
    const named = sse(s, `/sessions/${session.id}/stream?after_seq=0&type=note&output=0`);
    await named.until((evs) => evs.some((e) => e.event === "ready"));
    expect(eventsOf(named).map((e) => e.event_type)).toEqual(["note"]);
  });

  it("answers an unknown session with 404, a bad parameter with 400 naming it, an after_seq past the end with 416", async () => {
    const s = await server();
    const missing = sse(s, "/sessions/nope/stream");
    await missing.started();
    expect(missing.status).toBe(404);
    const { body: session } = await s.json("POST", "/sessions", {});
    const bad = sse(s, `/sessions/${session.id}/stream?after_seq=x`);
    await bad.started();
    expect(bad.status).toBe(400);
    expect(bad.errorBody.error.field).toBe("after_seq");
    // A parameter the stream does not take (a misspelt filter) is refused, not silently ignored;
    // on the feed too, whose filter is `type`.
    for (const [url, field] of [
      [`/sessions/${session.id}/stream?after_seq=0&typo=exec`, "typo"],
      [`/sessions/${session.id}/stream?after=0`, "after"],
      [`/feed?after=0&types=complete`, "types"],
      [`/sessions/${session.id}/stream?type=exec&types=exec`, "type"],
    ]) {
      const refused = sse(s, url!);
      await refused.started();
      expect(refused.status, url).toBe(400);
      expect(refused.errorBody.error.field, url).toBe(field);
    }
    // An empty exec_id (an unset shell variable in a pasted URL) is not read as no exec_id.
    const empty = sse(s, `/sessions/${session.id}/stream?exec_id=&offset=0`);
    await empty.started();
    expect(empty.status).toBe(400);
    expect(empty.errorBody.error.field).toBe("exec_id");
    const past = sse(s, `/sessions/${session.id}/stream?after_seq=99`);
    await past.started();
    expect(past.status).toBe(416);
    expect(past.errorBody.error).toMatchObject({ code: "range_not_satisfiable", field: "after_seq" });
    expect(past.errorBody.error.message).toContain("0–1");
  });

  it("hides another agent's session from an agent token (404)", async () => {
    const s = await server({ tokens: [{ token: "agent-token-0123456789-abcdefghij", role: "agent", agent_id: "a1" }] });
    const { body: theirs } = await s.json("POST", "/sessions", { agent_id: "a2" });
    const c = new SseClient(`${s.url}/sessions/${theirs.id}/stream`, "agent-token-0123456789-abcdefghij");
    cleanups.push(() => c.close());
    await c.started();
    expect(c.status).toBe(404);
  });
});

describe("GET /sessions/{id}/stream over WebSocket", () => {
  it("sends exec output chunks with offsets and the exec event, one JSON message per line", async () => {
    const s = await server();
    const { body: session } = await s.json("POST", "/sessions", { kind: "shell" });
    const c = ws(s, `/sessions/${session.id}/stream`);
    await c.opened;
    await c.until((cl) => cl.messages.some((m) => m.type === "ready"));
    const { body: result } = await s.json("POST", `/sessions/${session.id}/exec`, { input: "printf 'hello\\nworld\\n'" });
    await c.until((cl) => cl.messages.some((m) => m.type === "event" && m.event_type === "exec"));
    const chunks = c.messages.filter((m) => m.type === "output");
    expect(chunks.length).toBeGreaterThan(0);
    expect(chunks.every((m) => m.exec_id === result.exec_id && m.stream === "stdout")).toBe(true);
    let expected = 0;
    for (const m of chunks) {
      expect(m.offset).toBe(expected);
      expected += outputBytes(m).length;
    }
    expect(Buffer.concat(chunks.map(outputBytes)).toString()).toBe("hello\nworld\n");
    const execEvent = c.messages.find((m) => m.type === "event" && m.event_type === "exec");
    expect(execEvent.data.exec_id).toBe(result.exec_id);
    // The exec's end comes after all of its output.
    expect(c.messages.indexOf(execEvent)).toBeGreaterThan(c.messages.lastIndexOf(chunks.at(-1)));
  });

  it("resumes an exec from a byte offset with exactly the rest, and refuses an offset past the end with 416 naming the range", async () => {
    const s = await server();
    const { body: session } = await s.json("POST", "/sessions", { kind: "shell" });
    const { body: result } = await s.json("POST", `/sessions/${session.id}/exec`, { input: "printf 'abcdefghij'; printf '\\377\\376' " });
    const c = ws(s, `/sessions/${session.id}/stream?exec_id=${result.exec_id}&offset=3`);
    await c.opened;
    await c.until((cl) => cl.messages.some((m) => m.type === "ready"));
    const rest = Buffer.concat(c.messages.filter((m) => m.type === "output").map(outputBytes));
    expect(rest).toEqual(Buffer.concat([Buffer.from("defghij"), Buffer.from([0xff, 0xfe])]));
    expect(c.messages.find((m) => m.type === "output").offset).toBe(3);

    const past = ws(s, `/sessions/${session.id}/stream?exec_id=${result.exec_id}&offset=13`);
    await expect(past.opened).rejects.toThrow();
    expect(past.unexpectedStatus).toBe(416);
    expect(past.unexpectedBody.error).toMatchObject({ code: "range_not_satisfiable", field: "offset" });
    expect(past.unexpectedBody.error.message).toContain("0–12");
  });

  it("closes a client that sends a frame on the read-only stream with 1003 and a reason, leaving other clients open", async () => {
    const s = await server();
    const { body: session } = await s.json("POST", "/sessions", {});
    const rude = ws(s, `/sessions/${session.id}/stream`);
    const polite = ws(s, `/sessions/${session.id}/stream`);
    await Promise.all([rude.opened, polite.opened]);
    rude.socket.send("garbage{");
    await rude.closed();
    expect(rude.closeCode).toBe(1003);
    expect(rude.closeReason).toContain("bad_frame");
    await s.json("POST", `/sessions/${session.id}/events`, { type: "note", data: {} });
    await polite.until((cl) => cl.messages.some((m) => m.type === "event" && m.event_type === "note"));
  });

  it("ends the stream with 1000 session_deleted when the session is deleted", async () => {
    const s = await server();
    const { body: session } = await s.json("POST", "/sessions", {});
    const c = ws(s, `/sessions/${session.id}/stream`);
    await c.opened;
    await s.json("DELETE", `/sessions/${session.id}`);
    await c.closed();
    expect(c.closeCode).toBe(1000);
    expect(c.closeReason).toBe("session_deleted");
  });
});
