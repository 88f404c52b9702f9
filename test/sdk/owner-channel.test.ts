import { Server, type Socket, connect, createServer } from "node:net";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { JsonObject } from "../../src/core/index.js";
import { SessionManager } from "../../src/engine/index.js";
import { ChannelError, OwnerChannelClient } from "../../src/sdk/owner-rpc/client.js";
import { type OwnerChannel, type OwnerChannelLimits, serveOwnerChannel } from "../../src/sdk/owner-rpc/server.js";
import { LineReader, type OwnerReply } from "../../src/sdk/owner-rpc/wire.js";
import { openSqliteStore } from "../../src/store/index.js";
import { tempHome } from "../helpers/temp-home.js";

/** Channels a test opens besides the one every test has; closed after it. */
const others: OwnerChannel[] = [];

/** The owner's write channel on a real Unix socket, against a real engine on a SQLite file. */
describe("the owner's write channel", () => {
  let home: ReturnType<typeof tempHome>;
  let manager: SessionManager;
  let channel: OwnerChannel;
  let client: OwnerChannelClient;
  const MAX_LINE = 2 * 1024 * 1024;
  const LIMITS: OwnerChannelLimits = { bodyLimitBytes: MAX_LINE, ownerMaxConnections: 8, ownerMaxCallsInFlight: 4, ownerMaxBufferedBytes: 64 * 1024 * 1024 };

  beforeEach(async () => {
    home = tempHome();
    manager = new SessionManager({ store: openSqliteStore(home.config), config: home.config });
    channel = await serveOwnerChannel(manager, join(home.home, "owner.sock"), LIMITS);
    client = new OwnerChannelClient(join(home.home, "owner.sock"), Number.POSITIVE_INFINITY);
  });
  afterEach(async () => {
    client.close();
    await channel.close();
    for (const other of others.splice(0)) await other.close();
    await manager.close();
    home.remove();
  });

  it("makes the engine call of each op and answers with what it returned", async () => {
    const created = (await client.call("create", { input: { task: "t", mode: "m" } }, 5000)) as { id: string; version: number };
    const event = (await client.call("appendEvent", { ref: created.id, type: "note", data: { a: 1 } }, 5000)) as { seq: number };
    expect(event.seq).toBe(2);
    await client.call("mergeContext", { ref: created.id, patch: { step: 1 } }, 5000);
    await client.call("pause", { ref: created.id }, 5000);
    const stored = manager.getSync(created.id);
    expect(stored).toMatchObject({ status: "paused", context: { step: 1 } });
    // An argument left out is undefined, not null: a pause without a reason records none.
    expect(manager.listEventsSync(created.id, { types: ["pause"] }).at(-1)?.data).not.toHaveProperty("reason", null);
  });

  it("gives back the engine's refusals as the errors they are, field and all", async () => {
    await expect(client.call("pause", { ref: "no-such-session" }, 5000)).rejects.toMatchObject({ code: "not_found", status: 404 });
    const s = (await client.call("create", { input: {} }, 5000)) as { id: string };
    await client.call("complete", { ref: s.id }, 5000);
    await expect(client.call("pause", { ref: s.id }, 5000)).rejects.toMatchObject({ code: "invalid_transition", status: 409 });
    await expect(client.call("appendEvent", { ref: s.id, type: "", data: {} }, 5000)).rejects.toMatchObject({ code: "validation", field: "type" });
  });

  it("closes a connection that sends a malformed, unknown or oversized request, and goes on serving others", async () => {
    for (const bad of ["not json\n", `${JSON.stringify({ id: 1, op: "deleteEverything", args: {} })}\n`, `${"x".repeat(MAX_LINE + 10)}`]) {
      const socket = connect(join(home.home, "owner.sock"));
      await new Promise((resolve) => socket.once("connect", resolve));
      const closed = new Promise((resolve) => socket.once("close", resolve));
      socket.on("error", () => undefined);
      socket.write(bad);
      await closed;
    }
    expect(await client.call("create", { input: {} }, 5000)).toHaveProperty("id");
  });

  it("tells a call that never left from one the owner went away with and one it never answered", async () => {
    const nowhere = new OwnerChannelClient(join(home.home, "nobody.sock"), Number.POSITIVE_INFINITY);
    await expect(nowhere.call("create", { input: {} }, 5000)).rejects.toSatisfy((err) => err instanceof ChannelError && err.failure.kind === "not_sent");
    // An owner that reads the call, then dies without answering; and one that never answers.
    const path = join(home.home, "silent.sock");
    let dieOnRead = true;
    const silent = createServer((socket) => socket.once("data", () => dieOnRead && socket.destroy()));
    await new Promise<void>((resolve) => silent.listen(path, resolve));
    try {
      const peer = new OwnerChannelClient(path, Number.POSITIVE_INFINITY);
      await expect(peer.call("create", { input: {} }, 5000)).rejects.toSatisfy((err) => err instanceof ChannelError && err.failure.kind === "lost");
      dieOnRead = false;
      await expect(peer.call("create", { input: {} }, 200)).rejects.toSatisfy((err) => err instanceof ChannelError && err.failure.kind === "timed_out");
      peer.close();
    } finally {
      silent.close();
    }
  });

  it("decodes each line whole, a character whose bytes two chunks split included, and counts a line's limit in bytes", () => {
    const bytes = Buffer.from('{"text":"naïve € 😀"}\n{"b":1}\n');
    for (let cut = 1; cut < bytes.length; cut++) {
      const reader = new LineReader(100);
      expect([...reader.push(bytes.subarray(0, cut)), ...reader.push(bytes.subarray(cut))]).toEqual(['{"text":"naïve € 😀"}', '{"b":1}']);
    }
    // Five characters, six bytes; and a whole line over the limit in one chunk.
    expect(() => new LineReader(5).push(Buffer.from("héllo"))).toThrow(/over 5 bytes/);
    expect(() => new LineReader(5).push(Buffer.from("123456\n"))).toThrow(/over 5 bytes/);
  });

  it("stores exactly a request whose bytes arrive one at a time", async () => {
    const s = (await client.call("create", { input: {} }, 5000)) as { id: string };
    const text = "naïve € 😀 日本語";
    const path = join(home.home, "bytes.sock");
    const { server } = await serveCapturing(manager, path, LIMITS);
    const ownerSide = new Promise<Socket>((resolve) => server.once("connection", resolve));
    const socket = await open(path);
    const received = await ownerSide;
    const request = Buffer.from(`${JSON.stringify({ id: 1, op: "appendEvent", args: { ref: s.id, type: "note", data: { text } } })}\n`);
    // Each byte is read by the owner before the next is sent: one chunk each.
    for (const byte of request) {
      const read = new Promise((resolve) => received.once("data", resolve));
      socket.write(Buffer.of(byte));
      await read;
    }
    expect(await replies(socket, 1)).toMatchObject([{ id: 1, result: { type: "note", data: { text } } }]);
    expect(manager.listEventsSync(s.id, { types: ["note"] }).at(-1)?.data).toEqual({ text });
    socket.destroy();
  });

  it("carries a large non-ASCII context to the engine and back exactly", async () => {
    const s = (await client.call("create", { input: {} }, 5000)) as { id: string };
    const text = `${"€".repeat(300_000)}😀`;
    const merged = (await client.call("mergeContext", { ref: s.id, patch: { text } }, 30_000)) as { context: JsonObject };
    // Compared as booleans: a failure would otherwise print the 900 kB both ways.
    expect(merged.context.text === text).toBe(true);
    expect(manager.getSync(s.id).context.text === text).toBe(true);
  });

  it("reads no more calls from a client that leaves its answers unread than it may have in flight, and goes on serving others", async () => {
    const counted = counting(manager, "updateContext");
    const path = join(home.home, "counted.sock");
    others.push(await serveOwnerChannel(counted.manager, path, LIMITS));
    const s = (await client.call("create", { input: {} }, 5000)) as { id: string };
    // Each answer is the whole session: larger than what the sockets' buffers take between them.
    await manager.updateContext(s.id, { big: "x".repeat(800_000) });
    const idle = await open(path);
    idle.pause();
    const CALLS = 20;
    idle.write(Array.from({ length: CALLS }, (_, i) => `${JSON.stringify({ id: i + 1, op: "mergeContext", args: { ref: s.id, patch: { n: i } } })}\n`).join(""));
    await counted.reached(LIMITS.ownerMaxCallsInFlight);
    const other = new OwnerChannelClient(path, Number.POSITIVE_INFINITY);
    for (let i = 0; i < 3; i++) await other.call("appendEvent", { ref: s.id, type: "note", data: { i } }, 5000);
    other.close();
    expect(counted.count).toBe(LIMITS.ownerMaxCallsInFlight);
    // Once it reads, the rest are made and answered.
    idle.resume();
    const answers = await replies(idle, CALLS);
    expect(answers.map((a) => ("result" in a ? a.id : a.error)).sort((a, b) => Number(a) - Number(b))).toEqual(Array.from({ length: CALLS }, (_, i) => i + 1));
    expect(counted.count).toBe(CALLS);
    idle.destroy();
  });

  it("closes a connection whose unread answers outgrow ownerMaxBufferedBytes, and goes on serving others", async () => {
    const path = join(home.home, "small.sock");
    const { server } = await serveCapturing(manager, path, { ...LIMITS, ownerMaxBufferedBytes: 1024 * 1024 });
    const s = (await client.call("create", { input: {} }, 5000)) as { id: string };
    await manager.updateContext(s.id, { big: "x".repeat(800_000) });
    const ownerSide = new Promise<Socket>((resolve) => server.once("connection", resolve));
    const idle = await open(path);
    idle.pause();
    const closedByOwner = ownerSide.then((socket) => new Promise((resolve) => socket.once("close", resolve)));
    idle.write(Array.from({ length: 4 }, (_, i) => `${JSON.stringify({ id: i + 1, op: "mergeContext", args: { ref: s.id, patch: { n: i } } })}\n`).join(""));
    await closedByOwner;
    const other = new OwnerChannelClient(path, Number.POSITIVE_INFINITY);
    expect(await other.call("appendEvent", { ref: s.id, type: "note", data: {} }, 5000)).toHaveProperty("type", "note");
    other.close();
    idle.destroy();
  });

  it("closes connections past ownerMaxConnections as they arrive, and goes on serving those it holds", async () => {
    const path = join(home.home, "owner.sock");
    const held = Array.from({ length: LIMITS.ownerMaxConnections }, () => new OwnerChannelClient(path, Number.POSITIVE_INFINITY));
    for (const peer of held) await peer.call("create", { input: {} }, 5000);
    const extra = connect(path);
    extra.on("error", () => undefined);
    await new Promise((resolve) => extra.once("close", resolve));
    for (const peer of held) expect(await peer.call("create", { input: {} }, 5000)).toHaveProperty("id");
    for (const peer of held) peer.close();
  });

  it("goes on serving after an error on its listening socket or on one connection", async () => {
    const path = join(home.home, "errors.sock");
    const { server } = await serveCapturing(manager, path, LIMITS);
    const ownerSide = new Promise<Socket>((resolve) => server.once("connection", resolve));
    const peer = await open(path);
    const closed = new Promise((resolve) => peer.once("close", resolve));
    (await ownerSide).emit("error", Object.assign(new Error("read ECONNRESET"), { code: "ECONNRESET" }));
    await closed;
    // A failed accept (the process out of file descriptors) is reported on the listening socket.
    server.emit("error", Object.assign(new Error("accept EMFILE"), { code: "EMFILE", syscall: "accept" }));
    const next = new OwnerChannelClient(path, Number.POSITIVE_INFINITY);
    expect(await next.call("create", { input: {} }, 5000)).toHaveProperty("id");
    next.close();
  });

  it("refuses arguments of the wrong type as validation errors naming the field, and writes nothing", async () => {
    const s = (await client.call("create", { input: {} }, 5000)) as { id: string; version: number };
    const webhook = { id: "w1", url: "https://example.com/hook", events: [], secret: null, created_at: new Date().toISOString() };
    const refused: [string, object, string][] = [
      ["pause", { ref: 123 }, "ref"],
      ["pause", { ref: [s.id] }, "ref"],
      ["pause", { ref: s.id, reason: { why: "x" } }, "reason"],
      ["resume", { ref: s.id, expected_version: 1 }, "expected_version"],
      ["fail", { ref: s.id, error: { message: "boom" } }, "error"],
      ["appendEvent", { ref: s.id, type: 5, data: {} }, "type"],
      ["appendEvent", { ref: s.id, type: "note", data: [1] }, "data"],
      ["incrementIteration", { ref: s.id, data: "x" }, "data"],
      ["mergeContext", { ref: s.id, patch: "x" }, "patch"],
      ["mergeContext", { ref: s.id }, "patch"],
      ["recordToolCall", { ref: s.id, tool: ["bash"] }, "tool"],
      ["recordToolCall", { ref: s.id, tool: "bash", outcome: { error: { name: 1, message: "m" } } }, "outcome.error.name"],
      ["create", { input: [] }, "input"],
      ["cleanup", { olderThanDays: "7" }, "olderThanDays"],
      ["putWebhook", { webhook: { ...webhook, secret: 5 } }, "webhook.secret"],
      ["putWebhook", { webhook: { ...webhook, events: "start" } }, "webhook.events"],
      ["putWebhook", { webhook: { ...webhook, url: "https://example.com/\u0000" } }, "webhook.url"],
      ["createCheckpoint", { ref: s.id, label: 7 }, "label"],
      ["createCheckpoint", { ref: s.id, data: "x" }, "data"],
    ];
    for (const [op, args, field] of refused) {
      await expect(client.call(op as "pause", args as never, 5000), `${op} ${JSON.stringify(args)}`).rejects.toMatchObject({ code: "validation", field });
    }
    expect(manager.getSync(s.id)).toMatchObject({ status: "active", version: s.version });
    expect(await manager.listWebhooks()).toEqual([]);
  });

  it("creates a checkpoint for a process that does not own the data dir", async () => {
    const s = (await client.call("create", { input: {} }, 5000)) as { id: string };
    await client.call("mergeContext", { ref: s.id, patch: { step: 1 } }, 5000);
    const checkpoint = (await client.call("createCheckpoint", { ref: s.id, label: "before-refactor", data: { files: ["a.ts"] } }, 5000)) as { id: string };
    expect(checkpoint).toMatchObject({ session_id: s.id, label: "before-refactor", data: { files: ["a.ts"] }, state: { context: { step: 1 } } });
    // Label and data may be left out.
    expect(await client.call("createCheckpoint", { ref: s.id }, 5000)).toMatchObject({ label: null, data: {} });
    expect((await manager.listCheckpoints(s.id)).map((c) => c.label)).toEqual(["before-refactor", null]);
    await expect(client.call("createCheckpoint", { ref: "no-such-session" }, 5000)).rejects.toMatchObject({ code: "not_found" });
  });
});

/** A raw connection to a channel, for what OwnerChannelClient never sends. */
async function open(path: string): Promise<Socket> {
  const socket = connect(path);
  socket.on("error", () => undefined);
  await new Promise((resolve) => socket.once("connect", resolve));
  return socket;
}

/** The next `count` answers on a raw connection (one that was paused must be resumed first). */
function replies(socket: Socket, count: number): Promise<OwnerReply[]> {
  const reader = new LineReader(Number.POSITIVE_INFINITY);
  const got: OwnerReply[] = [];
  return new Promise((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      for (const line of reader.push(chunk)) got.push(JSON.parse(line) as OwnerReply);
      if (got.length < count) return;
      socket.off("data", onData);
      resolve(got);
    };
    socket.on("data", onData);
    socket.once("close", () => reject(new Error(`closed after ${got.length} of ${count} answers`)));
  });
}

/** The engine, counting the calls the channel makes of one of its methods. */
function counting(manager: SessionManager, method: keyof SessionManager) {
  let count = 0;
  const waiting: { count: number; resolve: () => void }[] = [];
  const proxy = new Proxy(manager, {
    get(target, key) {
      const value = Reflect.get(target, key, target) as unknown;
      if (typeof value !== "function") return value;
      const bound = (value as (...args: unknown[]) => unknown).bind(target);
      if (key !== method) return bound;
      return (...args: unknown[]) => {
        count++;
        for (const w of waiting) if (count >= w.count) w.resolve();
        return bound(...args);
      };
    },
  });
  return {
    manager: proxy,
    get count() {
      return count;
    },
    reached: (n: number) => new Promise<void>((resolve) => (count >= n ? resolve() : waiting.push({ count: n, resolve }))),
  };
}

/** A channel as serveOwnerChannel opens it, with the net.Server it listens on. */
async function serveCapturing(manager: SessionManager, path: string, limits: OwnerChannelLimits): Promise<{ channel: OwnerChannel; server: Server }> {
  const listen = vi.spyOn(Server.prototype, "listen");
  try {
    const channel = await serveOwnerChannel(manager, path, limits);
    others.push(channel);
    return { channel, server: listen.mock.contexts[0] as Server };
  } finally {
    listen.mockRestore();
  }
}
