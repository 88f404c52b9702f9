/**
 * WebSocket pings (src/server/websocket-pings.ts): answered with a pong while the client reads,
 * and a client that pings and reads nothing is closed before the pongs pile up in the server.
 */
import { describe, expect, it, vi } from "vitest";
import { type LiveServer, WsClient, perTest } from "./harness.js";

vi.setConfig({ testTimeout: 60_000 });

const { cleanups, server } = perTest({ enableSessions: true, feedMaxBufferedBytes: 64 * 1024, attachObserverMaxBufferedBytes: 64 * 1024 });

function feed(s: LiveServer): WsClient {
  const c = new WsClient(`${s.url}/feed`, s.token);
  cleanups.push(() => c.close());
  return c;
}

describe("frames sent after the server closed a socket", () => {
  it("drop a feed client that goes on sending frames after the close it was sent, reading nothing", async () => {
    const s = await server();
    const c = feed(s);
    await c.opened;
    c.socket.pause();
    // Without the drop, ws would wait its close timeout (30 s) for this client's close frame,
    // parsing every frame it sends meanwhile.
    const giveUp = Date.now() + 20_000;
    while (c.closeCode === undefined && Date.now() < giveUp) {
      for (let i = 0; i < 200; i++) c.socket.send("x");
      await new Promise((r) => setTimeout(r, 5));
    }
    // Closed at all: without the drop, the loop gives up first. The code is the 1003 it was sent
    // when its close frame is read before the connection ends, or 1006 when the drop reaches it
    // as a reset (the server's kernel still held this client's unread frames), which discards
    // what the client had not read yet.
    expect([1003, 1006]).toContain(c.closeCode);
  });
});

describe("WebSocket pings", () => {
  it("answers a ping with a pong carrying its data", async () => {
    const s = await server();
    const c = feed(s);
    await c.opened;
    const pong = new Promise<Buffer>((resolve) => c.socket.once("pong", resolve));
    c.socket.ping(Buffer.from("are you there"));
    expect((await pong).toString()).toBe("are you there");
  });

  it("closes a client that pings and reads nothing before the pongs pile up", async () => {
    const s = await server();
    const c = feed(s);
    await c.opened;
    c.socket.pause();
    // More pongs than the kernel's socket buffers hold (several MB on loopback) must queue in the server.
    const pings = 200_000;
    const payload = Buffer.alloc(125, "p");
    for (let i = 0; i < pings && c.closeCode === undefined; i++) {
      c.socket.ping(payload);
      if (i % 2000 === 0) await new Promise((r) => setImmediate(r));
    }
    c.socket.resume();
    await c.closed();
    // Closed at once, without a close frame: the pongs it did not read went with the connection.
    expect(c.closeCode).toBe(1006);
    const other = feed(s);
    await other.opened;
  });
});
