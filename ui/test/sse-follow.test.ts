import { afterEach, describe, expect, it, vi } from "vitest";
import { followSse, isFinalEnd } from "../src/api/sse.js";

/** An SSE answer whose body is `text`, then closed. */
const sse = (text: string) => new Response(text, { status: 200, headers: { "content-type": "text/event-stream" } });

/** fetch answering each call with the next of `answers` (the last one again after that), recording the calls. */
function fakeFetch(...answers: (() => Response | Promise<Response>)[]) {
  const calls: { url: string; headers: Record<string, string> }[] = [];
  const fetch = vi.fn(async (url: string, init: RequestInit) => {
    calls.push({ url, headers: { ...(init.headers as Record<string, string>) } });
    const answer = answers[Math.min(calls.length, answers.length) - 1]!;
    return answer();
  });
  vi.stubGlobal("fetch", fetch);
  return calls;
}

/** A body that stays open until the test stops the follower. */
const openForever = () => new Response(new ReadableStream({ start() {} }), { status: 200 });

afterEach(() => vi.unstubAllGlobals());

describe("following an SSE route", () => {
  it("tells a final end (the session deleted) from one to take up again (the server shutting down)", () => {
    expect(isFinalEnd({ type: "end", reason: "session_deleted" })).toBe(true);
    expect(isFinalEnd({ type: "end", reason: "shutting_down" })).toBe(false);
    expect(isFinalEnd({ type: "end", reason: "internal_error" })).toBe(false);
    expect(isFinalEnd(null)).toBe(false);
  });

  it("reconnects after the server ends the stream for a shutdown, resuming from the last id it was sent", async () => {
    const calls = fakeFetch(
      () => sse('id: 41\nevent: event\ndata: {"pos":41}\n\nevent: end\ndata: {"type":"end","reason":"shutting_down"}\n\n'),
      () => sse('event: ready\nid: 41\ndata: {"type":"ready","cursor":"41"}\n\nid: 42\nevent: event\ndata: {"pos":42}\n\n'),
      openForever,
    );
    const seen: string[] = [];
    const retries: number[] = [];
    const closed: unknown[] = [];
    const stop = followSse("/feed", {
      onMessage: (type, data) => seen.push(`${type}:${JSON.stringify(data)}`),
      onRetry: (_err, delay) => retries.push(delay),
      onClose: (reason) => closed.push(reason),
    });
    try {
      await vi.waitFor(() => expect(seen).toContain('event:{"pos":42}'), { timeout: 5_000 });
      expect(closed).toEqual([]);
      // The same backoff as after a drop: its first delay.
      expect(retries[0]).toBe(500);
      expect(calls[0]!.headers["last-event-id"]).toBeUndefined();
      expect(calls[1]!.headers["last-event-id"]).toBe("41");
    } finally {
      stop();
    }
  });

  it("stops for good when the session is deleted, and says so once", async () => {
    const calls = fakeFetch(() => sse('event: end\ndata: {"type":"end","reason":"session_deleted"}\n\n'));
    const closed: unknown[] = [];
    const stop = followSse("/sessions/x/stream", { onMessage: () => {}, onClose: (reason) => closed.push(reason) });
    await vi.waitFor(() => expect(closed).toEqual([{ type: "end", reason: "session_deleted" }]));
    await new Promise((resolve) => setTimeout(resolve, 700));
    expect(calls).toHaveLength(1);
    stop();
  });
});
