/**
 * The SDK's feed iterators (SSE over undici) against a real server on a loopback port: the
 * per-session stream, the global feed, exec output, and resuming after the server cuts a slow
 * consumer off — no gap, no duplicate.
 */
import type { Server } from "node:http";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { createUnixSocketServer } from "../../src/server/index.js";
import { type FeedMessage, type SessiondClient, type SessionStreamMessage, createClient } from "sessiond/client";
import { type TestServer, startServer } from "../server/harness.js";
import { connectClient } from "./support/connect.js";
import { waitFor } from "../events/support/wait.js";

/** Reads from an iterator until `done` says so (or it ends), returning what it read. */
async function take<T>(iterator: AsyncIterator<T>, done: (seen: T[]) => boolean): Promise<T[]> {
  const seen: T[] = [];
  while (!done(seen)) {
    const next = await iterator.next();
    if (next.done) break;
    seen.push(next.value);
  }
  return seen;
}

describe("sessiond/client streams", () => {
  let server: TestServer | undefined;
  let client: SessiondClient | undefined;

  let socketServer: Server | undefined;

  afterEach(async () => {
    await client?.close();
    if (socketServer) await new Promise<void>((resolve) => socketServer!.close(() => resolve()));
    await server?.close();
    client = undefined;
    server = undefined;
    socketServer = undefined;
  });

  async function connect(flags: Record<string, unknown> = {}): Promise<SessiondClient> {
    server = await startServer(flags);
    client = await connectClient(server);
    return client;
  }

  it("follows a session: the recorded backlog, ready, then live events, and closes when the loop breaks", async () => {
    const c = await connect();
    const s = await c.sessions.createSession({ name: "followed" });
    await c.sessions.appendEvent(s.id, "note", { n: 1 });
    const stream = c.streams.session(s.id, { after_seq: 0, output: false });
    const backlog = await take(stream, (seen) => seen.at(-1)?.type === "ready");
    expect(backlog.map((m) => (m.type === "event" ? `${m.seq}:${m.event_type}` : m.type))).toEqual(["1:start", "2:note", "ready"]);

    await c.sessions.appendEvent(s.id, "note", { n: 2 });
    await c.sessions.pause(s.id, "lunch");
    const live = await take(stream, (seen) => seen.length === 2);
    expect(live).toEqual([
      { type: "event", session_id: s.id, seq: 3, ts: expect.any(String), event_type: "note", data: { n: 2 } },
      expect.objectContaining({ type: "event", seq: 4, event_type: "pause" }),
    ]);
    await stream.return(undefined);
    expect((await stream.next()).done).toBe(true);
  });

  it("follows the global feed filtered by type, and resumes from a position without gap or duplicate", async () => {
    const c = await connect();
    const feed = c.streams.feed({ types: ["complete", "error"] });
    await take(feed, (seen) => seen.at(-1)?.type === "ready");
    const a = await c.sessions.createSession({ agent_id: "agent-a" });
    const b = await c.sessions.createSession({ agent_id: "agent-b" });
    await c.sessions.appendEvent(a.id, "note");
    await c.sessions.complete(a.id, "ok");
    await c.sessions.fail(b.id, "broke");
    const got = (await take(feed, (seen) => seen.length === 2)) as Extract<FeedMessage, { type: "event" }>[];
    await feed.return(undefined);
    expect(got.map((m) => [m.session_id, m.event_type, m.agent_id, m.kind])).toEqual([
      [a.id, "complete", "agent-a", "agent"],
      [b.id, "error", "agent-b", "agent"],
    ]);

    // Resume after the first: exactly the second, then what comes next.
    const resumed = c.streams.feed({ types: ["complete", "error"], after: got[0]!.pos });
    const c2 = await c.sessions.createSession({});
    await c.sessions.complete(c2.id);
    const rest = (await take(resumed, (seen) => seen.filter((m) => m.type === "event").length === 2)).filter((m) => m.type === "event") as Extract<FeedMessage, { type: "event" }>[];
    await resumed.return(undefined);
    expect(rest.map((m) => m.session_id)).toEqual([b.id, c2.id]);
    expect(rest[0]!.pos).toBeGreaterThan(got[0]!.pos);
  });

  it("resumes by itself after the server cuts it off as a slow consumer: every event once, in order", async () => {
    const c = await connect({ feedMaxBufferedBytes: 64 * 1024 });
    const s = await c.sessions.createSession({ name: "flood" });
    const resuming = c.streams.session(s.id, { after_seq: 0, output: false, reconnectBaseMs: 5 });
    const plain = c.streams.session(s.id, { after_seq: 0, output: false, reconnect: false });
    await take(resuming, (seen) => seen.at(-1)?.type === "ready");
    await take(plain, (seen) => seen.at(-1)?.type === "ready");

    // Neither reads while 12 MB of events are written: far past the buffer cap and the socket buffers.
    const filler = "x".repeat(8 * 1024);
    const total = 1500;
    for (let i = 0; i < total; i += 100) {
      await Promise.all(Array.from({ length: 100 }, (_, j) => c.sessions.appendEvent(s.id, "bulk", { i: i + j, filler })));
    }

    const lastSeq = 1 + total;
    const seen = await take(resuming, (m) => {
      const last = m.at(-1);
      return last?.type === "event" && last.seq === lastSeq;
    });
    const seqs = seen.filter((m): m is Extract<SessionStreamMessage, { type: "event" }> => m.type === "event").map((m) => m.seq);
    expect(seqs).toEqual(Array.from({ length: total }, (_, i) => i + 2));

    // Without reconnecting, the same flood ends in a cutoff message naming where to resume.
    const cut = await take(plain, (m) => m.at(-1)?.type === "cutoff");
    const last = cut.at(-1)!;
    expect(last).toMatchObject({ type: "cutoff", reason: "slow_consumer", cursor: expect.stringMatching(/^\d+:\d+$/) });
    expect((await plain.next()).done).toBe(true);
    await resuming.return(undefined);
  });

  it("streams one exec's output, live until it ends, from an offset, and after it ended", async () => {
    const c = await connect({ enableSessions: true });
    const shell = await c.sessions.createSession({ kind: "shell", name: "streamed-shell" });
    try {
      const running = c.sessions.exec(shell.id, "for i in 1 2 3 4 5; do echo line$i; sleep 0.05; done");
      const execId = await waitFor("the exec to start", () => server!.app.sessiond.live.list().find((i) => i.session_id === shell.id)?.running_exec_id);
      let live = "";
      for await (const chunk of c.streams.execOutput(shell.id, execId)) live += chunk.bytes.toString();
      const result = await running;
      expect(result.exec_id).toBe(execId);
      expect(live).toBe(result.stdout);
      expect(live).toBe("line1\nline2\nline3\nline4\nline5\n");

      // After it ended: what is left from byte 6 on, then the iterator finishes by itself.
      let rest = "";
      for await (const chunk of c.streams.execOutput(shell.id, execId, { offset: 6 })) {
        expect(chunk.stream).toBe("stdout");
        rest += chunk.bytes.toString();
      }
      expect(rest).toBe("line2\nline3\nline4\nline5\n");
    } finally {
      await c.sessions.stop(shell.id);
    }
  });

  it("keeps every other request flowing while feeds are open, over the Unix socket and over TCP", async () => {
    const tcp = await connect();
    const socketPath = join(server!.home, "sessiond.sock");
    socketServer = createUnixSocketServer(server!.app);
    await new Promise<void>((resolve) => socketServer!.listen(socketPath, resolve));
    const overSocket = createClient({ socketPath });
    for (const c of [overSocket, tcp]) {
      const s = await c.sessions.createSession({});
      // More feeds than the TCP pool has connections, and on the socket more than its one.
      const feeds = Array.from({ length: 20 }, () => c.streams.session(s.id, { output: false }));
      for (const feed of feeds) await take(feed, (seen) => seen.at(-1)?.type === "ready");
      await c.sessions.appendEvent(s.id, "note", { n: 1 });
      for (const feed of feeds) expect((await take(feed, (seen) => seen.length === 1))[0]).toMatchObject({ type: "event", event_type: "note" });
      // Closing the client ends its feeds.
      await c.close();
      for (const feed of feeds) expect((await feed.next()).done).toBe(true);
    }
  });

  it("refuses an unknown session with not_found before streaming, and gives up on a server that is gone", async () => {
    const c = await connect();
    await expect(take(c.streams.session("no-such-session"), () => false)).rejects.toMatchObject({ code: "not_found", status: 404 });
    const feed = c.streams.feed({ reconnectBaseMs: 1, reconnectMaxMs: 5, reconnectAttempts: 2 });
    await take(feed, (seen) => seen.at(-1)?.type === "ready");
    await server!.close();
    await expect(take(feed, () => false)).rejects.toMatchObject({ code: "server_unreachable", message: expect.stringContaining("2 reconnect attempts") });
  });
});
