/**
 * The cap on streams one token holds open at once (config `maxStreamsPerPrincipal`,
 * docs/streams.md "Limits"): SSE and WebSocket streams on /feed, /sessions/{id}/stream and
 * /sessions/{id}/attach count together, per token; one more is refused with 429 before it starts;
 * a stream that ends gives its place back; the Unix socket (the operator) is not counted.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it, vi } from "vitest";
import { createUnixSocketServer } from "../../src/server/unix-socket.js";
import { type LiveServer, SseClient, WsClient, perTest } from "./harness.js";

vi.setConfig({ testTimeout: 60_000 });

const AGENT = "agent-token-0123456789-abcdefghij";
const OTHER = "other-agent-token-0123456789-abcdefgh";

const { cleanups, server } = perTest({
  maxStreamsPerPrincipal: 3,
  enableSessions: true,
  tokens: [
    { token: AGENT, role: "agent", agent_id: "a1" },
    { token: OTHER, role: "agent", agent_id: "a2" },
  ],
});

function ws(s: LiveServer, path: string, token: string | undefined): WsClient {
  const c = new WsClient(s.url + path, token);
  cleanups.push(() => c.close());
  return c;
}

function sse(s: LiveServer, path: string, token: string): SseClient {
  const c = new SseClient(s.url + path, token);
  cleanups.push(() => c.close());
  return c;
}

const ready = (c: SseClient) => c.until((events) => events.some((e) => e.event === "ready"));

function expectCapError(error: any): void {
  expect(error).toEqual({ code: "rate_limited", message: "this token already has 3 streams open (maxStreamsPerPrincipal); close one first" });
}

describe("maxStreamsPerPrincipal", () => {
  it("refuses a token's fourth stream, SSE or WebSocket, with 429 rate_limited naming the cap, while another token still streams", async () => {
    const s = await server();
    const { body: session } = await s.json("POST", "/sessions", { agent_id: "a1" }, AGENT);
    const feedSse = sse(s, "/feed", AGENT);
    const streamWs = ws(s, `/sessions/${session.id}/stream`, AGENT);
    const feedWs = ws(s, "/feed", AGENT);
    await ready(feedSse);
    await Promise.all([streamWs.opened, feedWs.opened]);

    const overWs = ws(s, "/feed", AGENT);
    await expect(overWs.opened).rejects.toThrow();
    expect(overWs.unexpectedStatus).toBe(429);
    expectCapError(overWs.unexpectedBody.error);

    const overSse = sse(s, `/sessions/${session.id}/stream`, AGENT);
    await overSse.started();
    expect(overSse.status).toBe(429);
    expectCapError(overSse.errorBody.error);

    const other = [sse(s, "/feed", OTHER), sse(s, "/feed", OTHER)];
    await Promise.all(other.map(ready));
    const otherWs = ws(s, "/feed", OTHER);
    await otherWs.opened;

    // The held streams still work.
    await s.json("POST", `/sessions/${session.id}/events`, { type: "note", data: { n: 1 } }, AGENT);
    await feedSse.until((events) => events.some((e) => e.event === "event" && e.data.event_type === "note"));
    await streamWs.until((c) => c.messages.some((m) => m.type === "event" && m.event_type === "note"));
  });

  it("counts attach, and accepts a new stream once one of the token's streams closed", async () => {
    // Agents may run (and so attach to) shells only when execRoles says so.
    const s = await server({ execRoles: ["admin", "agent"] });
    const { status, body: shell } = await s.json("POST", "/sessions", { kind: "shell", agent_id: "a1" }, AGENT);
    expect(status).toBe(201);
    cleanups.push(async () => void (await s.json("POST", `/sessions/${shell.id}/stop`)));
    const attach = ws(s, `/sessions/${shell.id}/attach`, AGENT);
    const feed = sse(s, "/feed", AGENT);
    const stream = ws(s, `/sessions/${shell.id}/stream`, AGENT);
    await Promise.all([attach.opened, stream.opened, ready(feed)]);

    const refused = ws(s, `/sessions/${shell.id}/attach`, AGENT);
    await expect(refused.opened).rejects.toThrow();
    expect(refused.unexpectedStatus).toBe(429);
    expectCapError(refused.unexpectedBody.error);

    await attach.close();
    // The server sees the close a moment after the client does: retry until the place is free.
    let again: WsClient;
    for (;;) {
      again = ws(s, `/sessions/${shell.id}/attach`, AGENT);
      const opened = await again.opened.then(() => true, () => false);
      if (opened) break;
      expect(again.unexpectedStatus).toBe(429);
      await new Promise((r) => setTimeout(r, 20));
    }

    await feed.close();
    for (;;) {
      const next = sse(s, "/feed", AGENT);
      await next.started();
      if (next.status === 200) break;
      expect(next.status).toBe(429);
      await next.close();
      await new Promise((r) => setTimeout(r, 20));
    }
  });

  it("gives the place back when a claimed stream is refused for another reason", async () => {
    const s = await server();
    for (let i = 0; i < 4; i++) {
      const missing = await s.json("GET", "/sessions/nope/stream", undefined, AGENT);
      expect(missing.status).toBe(404);
    }
    const streams = [sse(s, "/feed", AGENT), sse(s, "/feed", AGENT), sse(s, "/feed", AGENT)];
    await Promise.all(streams.map(ready));
  });

  it("does not count streams on the Unix socket (the operator)", async () => {
    const s = await server();
    const dir = mkdtempSync(join(tmpdir(), "sessiond-quota-"));
    const path = join(dir, "s.sock");
    const unix = createUnixSocketServer(s.app);
    await new Promise<void>((resolve) => unix.listen(path, resolve));
    cleanups.push(async () => {
      await new Promise((resolve) => unix.close(resolve));
      rmSync(dir, { recursive: true, force: true });
    });
    const local = [0, 1, 2, 3, 4].map(() => new WsClient(`ws+unix://${path}:/feed`, undefined));
    for (const c of local) cleanups.push(() => c.close());
    await Promise.all(local.map((c) => c.opened));
  });

  it("has no cap at 0", async () => {
    const s = await server({ maxStreamsPerPrincipal: 0 });
    const streams = [0, 1, 2, 3, 4].map(() => ws(s, "/feed", AGENT));
    await Promise.all(streams.map((c) => c.opened));
  });
});
