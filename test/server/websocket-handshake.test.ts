import { afterEach, describe, expect, it } from "vitest";
import { type TestServer, startServer } from "./harness.js";

describe("a WebSocket upgrade's handshake", () => {
  let s: TestServer | undefined;
  afterEach(async () => {
    await s?.close();
    s = undefined;
  });

  const upgrade = (headers: Record<string, string>) =>
    s!.request({ method: "GET", url: "/feed", headers: { connection: "Upgrade", upgrade: "websocket", ...headers } });

  it("answers a missing or malformed key, or an unknown version, with 400 in the error shape naming the header", async () => {
    s = await startServer();
    const noKey = await upgrade({ "sec-websocket-version": "99" });
    expect(noKey.statusCode).toBe(400);
    expect(noKey.json()).toEqual({ error: expect.objectContaining({ code: "validation", field: "sec-websocket-key" }) });
    const badKey = await upgrade({ "sec-websocket-key": "short", "sec-websocket-version": "13" });
    expect(badKey.json()).toEqual({ error: expect.objectContaining({ code: "validation", field: "sec-websocket-key" }) });
    const badVersion = await upgrade({ "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==", "sec-websocket-version": "99" });
    expect(badVersion.statusCode).toBe(400);
    expect(badVersion.json()).toEqual({ error: expect.objectContaining({ code: "validation", field: "sec-websocket-version" }) });
  });
});
