import { describe, expect, it, vi } from "vitest";
import { type LiveServer, WsClient, perTest } from "./harness.js";

vi.setConfig({ testTimeout: 60_000 });

const READER = "reader-token-0123456789-abcdefghij";

const { cleanups, server } = perTest({ enableSessions: true, tokens: [{ token: READER, role: "reader" }] });

function attach(s: LiveServer, id: string, query = "", token = s.token): WsClient {
  const c = new WsClient(`${s.url}/sessions/${id}/attach${query}`, token);
  cleanups.push(() => c.close());
  return c;
}

const screen = (c: WsClient) => Buffer.concat(c.binary).toString("utf8");
const hello = (c: WsClient) => c.messages.find((m) => m.type === "hello");

/** A driver and an observer attached to `id`, the driver greeted. */
async function driverAndViewer(s: LiveServer, id: string): Promise<{ driver: WsClient; viewer: WsClient }> {
  const driver = attach(s, id);
  const viewer = attach(s, id, "?role=observer");
  await Promise.all([driver.opened, viewer.opened]);
  await driver.until((c) => hello(c) !== undefined);
  return { driver, viewer };
}

async function shell(s: LiveServer): Promise<string> {
  const { status, body } = await s.json("POST", "/sessions", { kind: "shell" });
  expect(status).toBe(201);
  return body.id as string;
}

describe("WebSocket /sessions/{id}/attach", () => {
  it("lets the driver type and both the driver and a second viewer see the terminal; the observer may not type", async () => {
    const s = await server();
    const id = await shell(s);
    const driver = attach(s, id);
    await driver.opened;
    await driver.until((c) => hello(c) !== undefined);
    expect(hello(driver)).toMatchObject({ type: "hello", role: "driver" });
    const viewer = attach(s, id);
    await viewer.opened;
    await viewer.until((c) => hello(c) !== undefined);
    expect(hello(viewer).role).toBe("observer");

    driver.socket.send(Buffer.from("echo attach-$((40+2))\r"));
    await driver.until((c) => screen(c).includes("attach-42"));
    await viewer.until((c) => screen(c).includes("attach-42"));

    viewer.socket.send(Buffer.from("echo nope\r"));
    await viewer.until((c) => c.messages.some((m) => m.type === "error"));
    expect(viewer.messages.find((m) => m.type === "error")).toMatchObject({ code: "forbidden", status: 403 });
  });

  it("hands the wheel over on takeover, and refuses takeover to role=observer joins and reader tokens with 403", async () => {
    // Readers may watch a terminal only when execRoles lists them; even then they never drive.
    const s = await server({ execRoles: ["admin", "reader"] });
    const id = await shell(s);
    const first = attach(s, id);
    await first.opened;
    await first.until((c) => hello(c)?.role === "driver");
    const second = attach(s, id);
    const watcher = attach(s, id, "?role=observer");
    const reader = attach(s, id, "", READER);
    await Promise.all([second.opened, watcher.opened, reader.opened]);
    await reader.until((c) => hello(c) !== undefined);
    expect(hello(reader).role).toBe("observer");

    second.socket.send(JSON.stringify({ type: "takeover" }));
    await second.until((c) => c.messages.some((m) => m.type === "role" && m.role === "driver"));
    await first.until((c) => c.messages.some((m) => m.type === "role" && m.role === "observer"));
    second.socket.send(Buffer.from("echo second-$((1+1))\r"));
    await first.until((c) => screen(c).includes("second-2"));

    for (const c of [watcher, reader]) {
      c.socket.send(JSON.stringify({ type: "takeover" }));
      await c.until((cl) => cl.messages.some((m) => m.type === "error"));
      expect(c.messages.find((m) => m.type === "error")).toMatchObject({ code: "forbidden", status: 403 });
    }

    // When the driver leaves, the longest-connected client that may drive takes over.
    await second.close();
    await first.until((c) => c.messages.filter((m) => m.type === "role").at(-1)?.role === "driver");
  });

  it("gives a late joiner the recent output first, from before anyone attached, then live output", async () => {
    const s = await server();
    const id = await shell(s);
    await s.json("POST", `/sessions/${id}/exec`, { input: "echo before-anyone-attached" });
    const late = attach(s, id);
    await late.opened;
    await late.until((c) => screen(c).includes("before-anyone-attached"));
    const h = hello(late);
    expect(h.offset).toBe(0);
    expect(h.end).toBeGreaterThan(0);
    await s.json("POST", `/sessions/${id}/exec`, { input: "echo after-$((2*3))" });
    await late.until((c) => screen(c).includes("after-6"));
  });

  it("resizes on the driver's resize frame, telling every client, and refuses a resize from an observer", async () => {
    const s = await server();
    const id = await shell(s);
    const { driver, viewer } = await driverAndViewer(s, id);
    driver.socket.send(JSON.stringify({ type: "resize", cols: 100, rows: 40 }));
    await viewer.until((c) => c.messages.some((m) => m.type === "resize"));
    expect(viewer.messages.find((m) => m.type === "resize")).toEqual({ type: "resize", cols: 100, rows: 40 });
    driver.socket.send(Buffer.from("stty size\r"));
    await driver.until((c) => screen(c).includes("40 100"));
    viewer.socket.send(JSON.stringify({ type: "resize", cols: 10, rows: 10 }));
    await viewer.until((c) => c.messages.some((m) => m.type === "error"));
  });

  it("takes a flood of resize frames one resize at a time, ending at the last size asked for", async () => {
    const s = await server();
    const id = await shell(s);
    const { driver, viewer } = await driverAndViewer(s, id);
    const frames = 2000;
    for (let i = 0; i < frames; i++) driver.socket.send(JSON.stringify({ type: "resize", cols: 80 + (i % 2) * 20, rows: 24 }));
    driver.socket.send(JSON.stringify({ type: "resize", cols: 120, rows: 40 }));
    const resizes = (c: WsClient) => c.messages.filter((m) => m.type === "resize");
    await viewer.until((c) => resizes(c).at(-1)?.cols === 120);
    // Coalesced: far fewer resizes than frames, the last one the last asked for.
    expect(resizes(viewer).length).toBeLessThan(frames / 2);
    expect(resizes(viewer).at(-1)).toEqual({ type: "resize", cols: 120, rows: 40 });
    driver.socket.send(Buffer.from("stty size\r"));
    await driver.until((c) => screen(c).includes("40 120"));
  });

  it("closes a client that sends garbage with 1003 and a reason; the others carry on", async () => {
    const s = await server();
    const id = await shell(s);
    const driver = attach(s, id);
    const rude = attach(s, id);
    await Promise.all([driver.opened, rude.opened]);
    rude.socket.send("{not json");
    await rude.closed();
    expect(rude.closeCode).toBe(1003);
    expect(rude.closeReason).toMatch(/^bad_frame/);
    const odd = attach(s, id);
    await odd.opened;
    odd.socket.send(JSON.stringify({ type: "dance" }));
    await odd.closed();
    expect(odd.closeCode).toBe(1003);
    driver.socket.send(Buffer.from("echo still-$((3+4))\r"));
    await driver.until((c) => screen(c).includes("still-7"));
  });

  it("refuses a non-shell session and a stopped one with 409, an unknown one with 404, an offset outside the replay with 416", async () => {
    const s = await server();
    const { body: agent } = await s.json("POST", "/sessions", {});
    const notShell = attach(s, agent.id);
    await expect(notShell.opened).rejects.toThrow();
    expect(notShell.unexpectedStatus).toBe(409);

    const id = await shell(s);
    const plain = await fetch(`${s.url}/sessions/${id}/attach`, { headers: { authorization: `Bearer ${s.token}` } });
    expect(plain.status).toBe(400);
    expect(((await plain.json()) as any).error.field).toBe("upgrade");
    const far = attach(s, id, "?offset=999999999");
    await expect(far.opened).rejects.toThrow();
    expect(far.unexpectedStatus).toBe(416);
    expect(far.unexpectedBody.error).toMatchObject({ code: "range_not_satisfiable", field: "offset" });

    const before = attach(s, id);
    await before.opened;
    await s.json("POST", `/sessions/${id}/stop`);
    await before.closed();
    expect(before.closeCode).toBe(1000);
    expect(before.closeReason).toBe("session_stopped");
    const stopped = attach(s, id);
    await expect(stopped.opened).rejects.toThrow();
    expect(stopped.unexpectedStatus).toBe(409);

    const missing = attach(s, "no-such-session");
    await expect(missing.opened).rejects.toThrow();
    expect(missing.unexpectedStatus).toBe(404);
  });

  it("cuts off an observer that falls behind with 4008 and its offset; it resumes from there with exactly the bytes it missed", async () => {
    const s = await server({ attachObserverMaxBufferedBytes: 64 * 1024, attachReplayBytes: 32 * 1024 * 1024, maxExecOutputBytes: 16 * 1024 * 1024 });
    const id = await shell(s);
    const driver = attach(s, id);
    const slow = attach(s, id, "?role=observer");
    await Promise.all([driver.opened, slow.opened]);
    await slow.until((c) => hello(c) !== undefined);
    slow.socket.pause();
    // More than the kernel's socket buffers hold (several MB on loopback), so the server must queue.
    await s.json("POST", `/sessions/${id}/exec`, { input: "seq 1 1500000", timeout_ms: 120_000 });
    await driver.until((c) => c.tail().includes("1500000"));
    slow.socket.resume();
    await slow.closed();
    expect(slow.closeCode).toBe(4008);
    const match = /^slow_consumer offset=(\d+)$/.exec(slow.closeReason);
    expect(match).not.toBeNull();
    const offset = Number(match![1]);
    const got = Buffer.concat(slow.binary);
    expect(hello(slow).offset + got.length).toBe(offset);

    const back = attach(s, id, `?role=observer&offset=${offset}`);
    await back.opened;
    const all = Buffer.concat(driver.binary);
    const driverStart = hello(driver).offset;
    await back.until((c) => c.binaryBytes >= driverStart + all.length - offset);
    const seen = Buffer.concat([got, Buffer.concat(back.binary)]);
    const from = hello(slow).offset;
    // The same bytes as the driver got over the same range of the terminal.
    expect(seen.subarray(0, all.length - (from - driverStart)).equals(all.subarray(from - driverStart))).toBe(true);
  });

  it("cuts off a client that sends frames and reads none of the answers with 4008, before they pile up in the server", async () => {
    const s = await server({ attachObserverMaxBufferedBytes: 64 * 1024 });
    const id = await shell(s);
    const spammer = attach(s, id, "?role=observer");
    await spammer.opened;
    await spammer.until((c) => hello(c) !== undefined);
    spammer.socket.pause();
    // Each keystroke of an observer is answered with a 403 error frame; more answers than the
    // kernel's socket buffers hold (several MB on loopback) must queue in the server.
    const frames = 200_000;
    for (let i = 0; i < frames; i++) {
      spammer.socket.send(Buffer.from("x"));
      if (i % 2000 === 0) await new Promise((r) => setImmediate(r));
    }
    spammer.socket.resume();
    await spammer.closed();
    // Closed as a slow consumer (4008), then dropped (1006) as it went on sending after the close.
    expect([4008, 1006]).toContain(spammer.closeCode);
    const answers = spammer.messages.filter((m) => m.type === "error" && m.code === "forbidden").length;
    expect(answers).toBeGreaterThan(0);
    expect(answers).toBeLessThan(frames);
    // The terminal goes on for everyone else.
    const other = attach(s, id);
    await other.opened;
    other.socket.send(Buffer.from("echo still-here\r"));
    await other.until((c) => c.tail().includes("still-here"));
  });

  it("tells a driver once, not for each refused frame, that its keystrokes are not taken while the terminal's program reads none; a lone Ctrl-C still is", async () => {
    const s = await server({ wsMaxPayloadBytes: 8 * 1024 * 1024 });
    const id = await shell(s);
    const driver = attach(s, id);
    await driver.opened;
    await driver.until((c) => hello(c) !== undefined);
    driver.socket.send(Buffer.from("sleep 300\r"));
    // 4 MiB typed at once, at a program that reads nothing: past the 1 MiB backlog the next frames
    // are refused. (A terminal's line discipline drops what overflows a line it holds, so the
    // backlog drains within a second or so: typed in pieces, it might never fill.)
    driver.socket.send(Buffer.alloc(4 * 1024 * 1024, "a"));
    const refused = 200;
    for (let i = 0; i < refused; i++) driver.socket.send(Buffer.from("b"));
    await driver.until((c) => c.messages.some((m) => m.code === "rate_limited"));
    driver.socket.send(Buffer.from("\x03"));
    driver.socket.send(Buffer.from("echo after-$((6*7))\r"));
    await driver.until((c) => c.tail().includes("after-42\r\n"));
    // Told again only after some keystrokes were taken meanwhile (the backlog drained under the cap).
    const told = driver.messages.filter((m) => m.code === "rate_limited").length;
    expect(told).toBeGreaterThanOrEqual(1);
    expect(told).toBeLessThan(refused / 10);
  });

  it("gives every client the terminal's bytes once and in order while output is batched: one joining mid-flood, a driver typing", async () => {
    const s = await server({ attachReplayBytes: 32 * 1024 * 1024, maxExecOutputBytes: 16 * 1024 * 1024, attachBatchMs: 20 });
    const id = await shell(s);
    const driver = attach(s, id);
    const early = attach(s, id, "?role=observer");
    await Promise.all([driver.opened, early.opened]);
    await early.until((c) => hello(c) !== undefined);
    const exec = s.json("POST", `/sessions/${id}/exec`, { input: "seq 1 300000", timeout_ms: 120_000 });
    await driver.until((c) => c.tail().includes("\n100000"));
    const late = attach(s, id, "?role=observer");
    await late.opened;
    for (let i = 0; i < 20; i++) driver.socket.send(Buffer.from("#")); // typed mid-flood: the driver's flushes
    await exec;
    for (const c of [driver, early, late]) await c.until((x) => x.tail().includes("\n300000"));
    driver.socket.send(Buffer.from("\x15")); // clear the typed line

    const bytesFrom = (c: WsClient, offset: number) => Buffer.concat(c.binary).subarray(offset - hello(c).offset);
    expect(hello(late).offset).toBe(0);
    const whole = bytesFrom(late, 0);
    for (const c of [driver, early]) {
      const from = hello(c).offset;
      await c.until((x) => x.binaryBytes >= whole.length - from);
      expect(bytesFrom(c, from).subarray(0, whole.length - from).equals(whole.subarray(from))).toBe(true);
    }
    const numbers = whole.toString("utf8").replace(/\r\n/g, "\n").split("\n").filter((l) => /^\d+$/.test(l));
    expect(numbers.slice(numbers.indexOf("1"))).toEqual(Array.from({ length: 300000 }, (_, i) => String(i + 1)));
  });

  it("pauses the shell for a driver that reads slowly instead of dropping output: it gets every byte", async () => {
    const s = await server({ attachDriverHighWaterBytes: 16 * 1024, maxExecOutputBytes: 16 * 1024 * 1024 });
    const id = await shell(s);
    const driver = attach(s, id);
    await driver.opened;
    await driver.until((c) => hello(c) !== undefined);
    driver.socket.pause();
    const exec = s.json("POST", `/sessions/${id}/exec`, { input: "seq 1 200000", timeout_ms: 120_000 });
    // Let the socket fill up, then read.
    await new Promise((r) => setTimeout(r, 300));
    driver.socket.resume();
    await exec;
    await driver.until((c) => c.tail().includes("\n200000"));
    expect(driver.closeCode).toBeUndefined();
    const numbers = screen(driver).replace(/\r\n/g, "\n").split("\n").filter((l) => /^\d+$/.test(l));
    const start = numbers.indexOf("1");
    expect(numbers.slice(start, start + 200000)).toEqual(Array.from({ length: 200000 }, (_, i) => String(i + 1)));
  });
});
