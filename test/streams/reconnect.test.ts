/**
 * A standard SSE client (the npm `eventsource` package, which follows the WHATWG EventSource
 * rules) through a TCP proxy that drops its connection mid-stream: it reconnects with the URL it
 * was opened with plus `Last-Event-ID`, and must get every message once, in order — so the header
 * has to win over the URL's starting point (docs/streams.md, "Where the stream starts").
 */
import { EventSource } from "eventsource";
import { Agent, Response, fetch } from "undici";
import { describe, expect, it, vi } from "vitest";
import { DropProxy } from "./drop-proxy.js";
import { type LiveServer, SseClient, outputBytes, perTest } from "./harness.js";

vi.setConfig({ testTimeout: 60_000 });

const { cleanups, server } = perTest();

/** Bytes into a message frame at which to cut: past `id: ` and into the message itself. */
const MID_MESSAGE = 20;
/** The reconnection delay the clients are told (instead of their default 3 s, waited out at every drop). */
const RETRY_MS = 50;

/**
 * The answer with its stream led by a `retry:` line, as a server sets its clients' reconnection
 * delay (WHATWG EventSource): when the client reconnects is not under test, how it does is, and
 * that stays the same — one request per drop, with the URL and Last-Event-ID it chooses.
 */
function withRetry(answer: Response): Response {
  if (!answer.body) return answer;
  const head = new TextEncoder().encode(`retry: ${RETRY_MS}\n`);
  const { readable, writable } = new TransformStream<Uint8Array, Uint8Array>({ start: (controller) => controller.enqueue(head) });
  // A drop errors the answer's body, and so the stream the client reads, as it did unwrapped.
  answer.body.pipeTo(writable).catch(() => {});
  return new Response(readable, { status: answer.status, statusText: answer.statusText, headers: answer.headers });
}

/** An `eventsource` client with the admin token, recording what it receives and each request it makes. */
class Tail {
  readonly source: EventSource;
  /** Messages of the types asked for, in arrival order. */
  readonly messages: { type: string; id: string; data: any }[] = [];
  /** Each connection attempt: the URL and the Last-Event-ID it carried. */
  readonly requests: { url: string; lastEventId: string | undefined }[] = [];
  readies = 0;
  private readonly agent = new Agent();
  private waiters: (() => void)[] = [];

  constructor(url: string, token: string, types: readonly string[]) {
    this.source = new EventSource(url, {
      fetch: async (input, init) => {
        this.requests.push({ url: String(input), lastEventId: init.headers["Last-Event-ID"] });
        // eventsource v4 takes the fetch to use: here, the one that adds the bearer token.
        return withRetry(await fetch(input, { ...init, headers: { ...init.headers, authorization: `Bearer ${token}` }, dispatcher: this.agent }));
      },
    });
    for (const type of types) {
      this.source.addEventListener(type, (e) => {
        this.messages.push({ type, id: e.lastEventId, data: JSON.parse(e.data) });
        this.wake();
      });
    }
    this.source.addEventListener("ready", () => {
      this.readies++;
      this.wake();
    });
  }

  async until(check: (tail: Tail) => boolean): Promise<void> {
    while (!check(this)) {
      if (this.source.readyState === this.source.CLOSED) throw new Error(`the client gave up: ${JSON.stringify(this.requests)}`);
      await new Promise<void>((r) => this.waiters.push(r));
    }
  }

  /** The id of the last message received. */
  lastId(): string {
    return this.messages.at(-1)!.id;
  }

  async close(): Promise<void> {
    this.source.close();
    await this.agent.destroy();
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }
}

async function setup(flags: Record<string, unknown> = {}): Promise<{ s: LiveServer; proxy: DropProxy; tail: (path: string, types?: string[]) => Tail }> {
  const s = await server(flags);
  const proxy = await DropProxy.start(s.url);
  cleanups.push(() => proxy.close());
  const tail = (path: string, types = ["event"]) => {
    const t = new Tail(proxy.url + path, s.token, types);
    cleanups.push(() => t.close());
    return t;
  };
  return { s, proxy, tail };
}

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

/**
 * Drops the client's connection (mid-message after `cut`, or at once), writes while it cannot
 * reach the server, then lets it back in; resolves once it has reconnected and caught up to `until`.
 */
async function dropAndWrite(proxy: DropProxy, t: Tail, cut: "mid-message" | "now", write: () => Promise<void>, caughtUp: (t: Tail) => boolean): Promise<void> {
  const before = proxy.accepted;
  const readies = t.readies;
  proxy.hold();
  if (cut === "now") proxy.cut();
  else proxy.cutAfter(MID_MESSAGE);
  await write();
  await proxy.until((p) => p.openConnections === 0 && p.accepted > before);
  proxy.release();
  await t.until((tail) => tail.readies > readies && caughtUp(tail));
}

describe("an EventSource client whose connection drops mid-stream", () => {
  it("resumes a stream opened live from where it started — nothing from before it opened — when it drops before its first message", async () => {
    const { s, proxy, tail } = await setup({ enableSessions: true });
    const { body: session } = await s.json("POST", "/sessions", { kind: "shell" });
    const run = async (word: string) => expect((await s.json("POST", `/sessions/${session.id}/exec`, { input: `echo ${word}` })).status).toBe(200);
    await run("before");
    const t = tail(`/sessions/${session.id}/stream`, ["event", "output"]);
    await t.until((c) => c.readies === 1);
    const execs = (c: Tail) => c.messages.filter((m) => m.type === "event" && m.data.event_type === "exec").map((m) => m.data.data.input);
    // Dropped with only `ready` received: its id is all the client has to resume from.
    await dropAndWrite(proxy, t, "now", async () => run("away"), (c) => execs(c).length === 1);
    await run("back");
    await t.until((c) => execs(c).length === 2);
    expect(execs(t)).toEqual(["echo away", "echo back"]);
    const output = Buffer.concat(t.messages.filter((m) => m.type === "output").map((m) => outputBytes(m.data))).toString();
    expect(output).not.toContain("before");
    expect(output).toMatch(/away[\s\S]*back/);
    const [seq, pos] = t.requests[1]!.lastEventId!.split(":").map(Number);
    expect(seq).toBeGreaterThan(1);
    expect(pos).toBeGreaterThan(0);
  });

  it("gets every event of a per-session stream opened with after_seq=0 exactly once, in order, across two drops", async () => {
    const { s, proxy, tail } = await setup();
    const { body: session } = await s.json("POST", "/sessions", {});
    const note = async (i: number) => expect((await s.json("POST", `/sessions/${session.id}/events`, { type: "note", data: { i } })).status).toBe(201);
    const seqs = (t: Tail) => t.messages.map((m) => m.data.seq);
    for (let i = 2; i <= 4; i++) await note(i);
    const url = `/sessions/${session.id}/stream?after_seq=0`;
    const t = tail(url);
    await t.until((c) => c.readies === 1 && seqs(c).length === 4);
    expect(t.lastId()).toBe("4:0");

    // Cut in the middle of event 5's frame: the client drops the partial message, so its
    // Last-Event-ID is still 4; events 6 and 7 are written while it is away.
    await dropAndWrite(proxy, t, "mid-message", async () => {
      for (let i = 5; i <= 7; i++) await note(i);
    }, (c) => seqs(c).at(-1) === 7);
    await note(8);
    await t.until((c) => seqs(c).at(-1) === 8);

    // Cut between messages, on demand.
    await dropAndWrite(proxy, t, "now", async () => {
      for (let i = 9; i <= 10; i++) await note(i);
    }, (c) => seqs(c).at(-1) === 10);
    await note(11);
    await t.until((c) => seqs(c).at(-1) === 11);

    expect(seqs(t)).toEqual(range(1, 11));
    expect(t.messages.map((m) => m.id)).toEqual(range(1, 11).map((seq) => `${seq}:0`));
    expect(t.messages.slice(1).map((m) => m.data.data.i)).toEqual(range(2, 11));
    // It reconnected as a browser does: the URL it was opened with, plus where it stopped.
    expect(t.requests).toEqual([
      { url: proxy.url + url, lastEventId: undefined },
      { url: proxy.url + url, lastEventId: "4:0" },
      { url: proxy.url + url, lastEventId: "8:0" },
    ]);
  });

  it("gets every event of the feed opened with after=0 exactly once, in order, across two drops", async () => {
    const { s, proxy, tail } = await setup();
    const { body: a } = await s.json("POST", "/sessions", {});
    const { body: b } = await s.json("POST", "/sessions", {});
    let n = 0;
    // Alternating between two sessions: the feed's order is the server's append order.
    const note = async () => {
      const session = n++ % 2 === 0 ? a : b;
      expect((await s.json("POST", `/sessions/${session.id}/events`, { type: "note", data: { n } })).status).toBe(201);
    };
    const positions = (t: Tail) => t.messages.map((m) => m.data.pos);
    await note();
    await note();
    const url = "/feed?after=0";
    const t = tail(url);
    await t.until((c) => c.readies === 1 && c.messages.length === 4);

    await dropAndWrite(proxy, t, "mid-message", async () => {
      for (let i = 0; i < 3; i++) await note();
    }, (c) => c.messages.length >= 7);
    const firstResume = t.requests[1]!.lastEventId;
    await note();
    await t.until((c) => c.messages.length >= 8);
    await dropAndWrite(proxy, t, "now", async () => {
      for (let i = 0; i < 2; i++) await note();
    }, (c) => c.messages.length >= 10);
    await note();
    await t.until((c) => c.messages.length >= 11);

    // Two start events, then the notes; positions are 1… on a fresh server.
    expect(positions(t)).toEqual(range(1, 11));
    expect(t.messages.map((m) => m.id)).toEqual(range(1, 11).map(String));
    expect(t.messages.slice(2).map((m) => m.data.data.n)).toEqual(range(1, 9));
    const perSession = (id: string) => t.messages.filter((m) => m.data.session_id === id).map((m) => m.data.seq);
    expect(perSession(a.id)).toEqual(range(1, 6));
    expect(perSession(b.id)).toEqual(range(1, 5));
    expect(firstResume).toBe("4");
    expect(t.requests.map((r) => r.url)).toEqual([proxy.url + url, proxy.url + url, proxy.url + url]);
    expect(t.requests[2]!.lastEventId).toBe("8");
  });

  it("gets a shell's events and output opened with after_seq=0&after_pos=0 exactly once, in order, across a drop", async () => {
    const { s, proxy, tail } = await setup({ enableSessions: true });
    const { body: session } = await s.json("POST", "/sessions", { kind: "shell" });
    const run = async (word: string) => expect((await s.json("POST", `/sessions/${session.id}/exec`, { input: `echo ${word}` })).status).toBe(200);
    await run("one");
    const t = tail(`/sessions/${session.id}/stream?after_seq=0&after_pos=0`, ["event", "output"]);
    const execs = (c: Tail) => c.messages.filter((m) => m.type === "event" && m.data.event_type === "exec").length;
    await t.until((c) => c.readies === 1 && execs(c) === 1);
    await dropAndWrite(proxy, t, "mid-message", async () => {
      await run("two");
      await run("three");
    }, (c) => execs(c) === 3);
    await run("four");
    await t.until((c) => execs(c) === 4);

    const events = t.messages.filter((m) => m.type === "event").map((m) => m.data.seq);
    expect(events).toEqual(range(1, events.length));
    const output = t.messages.filter((m) => m.type === "output");
    const pos = output.map((m) => m.data.pos);
    expect(pos).toEqual([...new Set(pos)].sort((x, y) => x - y));
    expect(Buffer.concat(output.map((m) => outputBytes(m.data))).toString()).toBe("one\ntwo\nthree\nfour\n");
  });
});

describe("Last-Event-ID", () => {
  const sse = (s: LiveServer, path: string, lastEventId: string) => {
    const c = new SseClient(s.url + path, s.token, { "last-event-id": lastEventId });
    cleanups.push(() => c.close());
    return c;
  };
  const refused = async (c: SseClient) => {
    await c.started();
    return { status: c.status, code: c.errorBody?.error.code, field: c.errorBody?.error.field };
  };

  it("is refused with 400 naming Last-Event-ID when malformed, whatever the URL says", async () => {
    const s = await server();
    const { body: session } = await s.json("POST", "/sessions", {});
    const bad = { status: 400, code: "validation", field: "Last-Event-ID" };
    expect(await refused(sse(s, `/sessions/${session.id}/stream`, "soon"))).toEqual(bad);
    expect(await refused(sse(s, `/sessions/${session.id}/stream?after_seq=0`, "1:"))).toEqual(bad);
    expect(await refused(sse(s, `/sessions/${session.id}/stream?cursor=1:0`, "-1:0"))).toEqual(bad);
    expect(await refused(sse(s, "/feed", "soon"))).toEqual(bad);
    expect(await refused(sse(s, "/feed?after=0", "1.5"))).toEqual(bad);
    // The URL is checked too, and names its own parameter.
    expect(await refused(sse(s, `/sessions/${session.id}/stream?after_seq=x`, "1:0"))).toMatchObject({ status: 400, field: "after_seq" });
    expect(await refused(sse(s, "/feed?after=x", "1"))).toMatchObject({ status: 400, field: "after" });
  });

  it("is refused with 400 naming Last-Event-ID when it is the other kind of stream's id", async () => {
    const s = await server();
    const { body: session } = await s.json("POST", "/sessions", {});
    await s.json("POST", `/sessions/${session.id}/events`, { type: "note", data: {} });
    const bad = { status: 400, code: "validation", field: "Last-Event-ID" };
    // A feed position on a per-session stream, and a per-session cursor on the feed.
    expect(await refused(sse(s, `/sessions/${session.id}/stream?after_seq=0`, "2"))).toEqual(bad);
    expect(await refused(sse(s, "/feed?after=0", "2:0"))).toEqual(bad);
  });

  it("past the session's last event is a 416 naming Last-Event-ID and the valid range", async () => {
    const s = await server();
    const { body: session } = await s.json("POST", "/sessions", {});
    const c = sse(s, `/sessions/${session.id}/stream?after_seq=0`, "9:0");
    await c.started();
    expect(c.status).toBe(416);
    expect(c.errorBody.error).toMatchObject({ code: "range_not_satisfiable", field: "Last-Event-ID" });
    expect(c.errorBody.error.message).toContain("0–1");
  });

  it("wins over the URL's after_seq and cursor, and an empty one counts as none", async () => {
    const s = await server();
    const { body: session } = await s.json("POST", "/sessions", {});
    for (let i = 0; i < 3; i++) await s.json("POST", `/sessions/${session.id}/events`, { type: "note", data: { i } });
    const seqsFrom = async (path: string, lastEventId: string) => {
      const c = sse(s, path, lastEventId);
      await c.until((evs) => evs.some((e) => e.event === "ready"));
      return c.events.filter((e) => e.event === "event").map((e) => e.data.seq);
    };
    expect(await seqsFrom(`/sessions/${session.id}/stream?after_seq=0`, "3:0")).toEqual([4]);
    expect(await seqsFrom(`/sessions/${session.id}/stream?after_seq=3`, "1:0")).toEqual([2, 3, 4]);
    expect(await seqsFrom(`/sessions/${session.id}/stream?cursor=0:0`, "2:0")).toEqual([3, 4]);
    expect(await seqsFrom(`/sessions/${session.id}/stream?after_seq=2`, "")).toEqual([3, 4]);
  });

  it("keeps exec_id + offset on a stream: reconnecting before the exec's output gives that output from the offset, once", async () => {
    const s = await server({ enableSessions: true });
    const { body: session } = await s.json("POST", "/sessions", { kind: "shell" });
    const { body: result } = await s.json("POST", `/sessions/${session.id}/exec`, { input: "printf 'abcdefghij'" });
    const path = `/sessions/${session.id}/stream?after_seq=0&exec_id=${result.exec_id}&offset=3`;
    const first = new SseClient(s.url + path, s.token);
    cleanups.push(() => first.close());
    await first.until((evs) => evs.some((e) => e.event === "ready"));
    // Events are replayed before output: the last event's id is where a client cut off before
    // the exec's output would resume from.
    const lastEvent = first.events.filter((e) => e.event === "event").at(-1)!;
    const again = sse(s, path, lastEvent.id!);
    await again.until((evs) => evs.some((e) => e.event === "ready"));
    expect(again.events.filter((e) => e.event === "event")).toEqual([]);
    const output = again.events.filter((e) => e.event === "output").map((e) => e.data);
    expect(Buffer.concat(output.map(outputBytes)).toString()).toBe("defghij");
    expect(output[0].offset).toBe(3);
  });
});
