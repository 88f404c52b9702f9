/**
 * Requests another site's page makes a browser send: an Origin that is not the server's own is
 * refused on every route and WebSocket upgrade, and with auth off a Host that does not name this
 * machine is refused (DNS rebinding). Through app.inject, and over a real loopback port for
 * HTTP and WebSockets.
 */
import { request as httpRequest } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { WebSocket } from "ws";
import { isOwnOrigin } from "../../src/server/auth/index.js";
import { type TestServer, startServer } from "./harness.js";

let server: TestServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

/** What a page of another site can send with `fetch(…, {mode: "no-cors"})`: no preflight, a JSON text as a form. */
const FORM = "application/x-www-form-urlencoded";

describe("requests carrying the Origin of another site", () => {
  it("refuses a cross-site POST of JSON as a form with 403 naming origin, with auth off, and creates nothing", async () => {
    server = await startServer({ auth: false, host: "127.0.0.1" });
    const res = await server.json({
      method: "POST",
      url: "/sessions/",
      token: null,
      headers: { host: "127.0.0.1:8011", origin: "https://evil.example", "content-type": FORM },
      body: JSON.stringify({ name: "planted" }),
    });
    expect(res.status).toBe(403);
    expect(res.body.error).toMatchObject({ code: "forbidden", field: "origin" });
    expect(res.body.error.message).toContain('"https://evil.example"');
    expect(res.body.error.message).toContain("allowedOrigins");
    expect((await server.json({ method: "GET", url: "/sessions/", token: null })).body).toEqual([]);
  });

  it("still reads a form-typed JSON body that carries no Origin, as curl -d sends it", async () => {
    server = await startServer({ auth: false, host: "127.0.0.1" });
    const res = await server.json({ method: "POST", url: "/sessions/", token: null, headers: { "content-type": FORM }, body: JSON.stringify({ name: "from-curl" }) });
    expect(res.status).toBe(201);
    expect(res.body.name).toBe("from-curl");
  });

  it("takes the server's own origin: the host and port of the Host header", async () => {
    server = await startServer({ auth: false, host: "127.0.0.1" });
    for (const [host, origin] of [
      ["127.0.0.1:8011", "http://127.0.0.1:8011"],
      ["localhost:8011", "http://LOCALHOST:8011"],
      ["[::1]:8011", "http://[::1]:8011"],
      ["localhost", "http://localhost"],
    ] as const) {
      const res = await server.json({ method: "POST", url: "/sessions/", token: null, headers: { host, origin }, body: {} });
      expect(res.status, `${host} ${origin}`).toBe(201);
    }
  });

  it("refuses another port, another host, a null origin and one that is no URL, on reads too", async () => {
    server = await startServer();
    for (const origin of ["http://127.0.0.1:8012", "http://127.0.0.2:8011", "null", "not a url", "file:///home/me/page.html", "http://127.0.0.1:8011, http://evil.example"]) {
      const res = await server.json({ method: "GET", url: "/sessions/", headers: { host: "127.0.0.1:8011", origin } });
      expect(res.status, origin).toBe(403);
      expect(res.body.error.field, origin).toBe("origin");
    }
  });

  it("takes a page behind a TLS proxy that keeps the Host, and an origin listed in allowedOrigins", async () => {
    server = await startServer({ allowedOrigins: ["https://dash.example:8443"] });
    const behindProxy = await server.json({ method: "GET", url: "/sessions/", headers: { host: "sd.example", origin: "https://sd.example" } });
    expect(behindProxy.status).toBe(200);
    const listed = await server.json({ method: "GET", url: "/sessions/", headers: { host: "127.0.0.1:8011", origin: "https://DASH.example:8443" } });
    expect(listed.status).toBe(200);
    const unlisted = await server.json({ method: "GET", url: "/sessions/", headers: { host: "127.0.0.1:8011", origin: "https://dash.example" } });
    expect(unlisted.status).toBe(403);
  });

  it("refuses public routes from another site too: the dashboard's code exchange", async () => {
    server = await startServer();
    const res = await server.json({ method: "POST", url: "/ui/login", token: null, headers: { host: "127.0.0.1:8011", origin: "https://evil.example" }, body: { code: "x" } });
    expect(res.status).toBe(403);
    expect(res.body.error.field).toBe("origin");
  });

  it("refuses an allowedOrigins entry that is not an origin when the config is read", async () => {
    await expect(startServer({ allowedOrigins: ["https://dash.example/ui"] })).rejects.toThrow(/allowedOrigins.*an origin/);
  });
});

describe("the Host header when auth is off", () => {
  it("refuses a name that is not this machine's with 403 naming host, so DNS rebinding reads nothing", async () => {
    server = await startServer({ auth: false, host: "127.0.0.1" });
    for (const host of ["rebind.evil.example:8011", "0.0.0.0:8011", "192.168.1.5:8011", "localhost.:8011"]) {
      const res = await server.json({ method: "GET", url: "/sessions/", token: null, headers: { host } });
      expect(res.status, host).toBe(403);
      expect(res.body.error).toMatchObject({ code: "forbidden", field: "host" });
    }
    // The same-origin view of a rebinding page: its Origin matches its Host, and it is still refused.
    const rebound = await server.json({ method: "GET", url: "/sessions/", token: null, headers: { host: "rebind.evil.example:8011", origin: "http://rebind.evil.example:8011" } });
    expect(rebound.status).toBe(403);
  });

  it("answers loopback names and addresses", async () => {
    server = await startServer({ auth: false, host: "127.0.0.1" });
    for (const host of ["localhost:8011", "127.0.0.1:8011", "127.0.0.5", "[::1]:8011", "LocalHost"]) {
      expect((await server.request({ method: "GET", url: "/sessions/", token: null, headers: { host } })).statusCode, host).toBe(200);
    }
  });

  it("does not look at the Host when auth is on: the token is what counts", async () => {
    server = await startServer();
    expect((await server.request({ method: "GET", url: "/sessions/", headers: { host: "sessiond.internal:8011" } })).statusCode).toBe(200);
  });
});

describe("over a real port", () => {
  async function listen(flags: Record<string, unknown> = {}): Promise<number> {
    server = await startServer(flags);
    await server.app.listen({ host: "127.0.0.1", port: 0 });
    return (server.app.server.address() as AddressInfo).port;
  }

  function post(port: number, headers: Record<string, string>, body: string): Promise<{ status: number; body: string }> {
    return new Promise((resolve, reject) => {
      const req = httpRequest({ host: "127.0.0.1", port, method: "POST", path: "/sessions/", agent: false, headers: { ...headers, "content-length": Buffer.byteLength(body) } }, (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => (text += chunk));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: text }));
      });
      req.once("error", reject);
      req.end(body);
    });
  }

  /** Opens /feed as a browser would from `origin`; resolves open, or the refusal's status and body. */
  function openFeed(port: number, origin: string | undefined): Promise<{ open: true } | { status: number; body: string }> {
    return new Promise((resolve, reject) => {
      const socket = new WebSocket(`ws://127.0.0.1:${port}/feed`, ["sessiond"], origin === undefined ? {} : { origin });
      socket.once("open", () => {
        socket.once("close", () => resolve({ open: true }));
        socket.close();
      });
      socket.once("unexpected-response", (_req, res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => (body += chunk));
        res.once("end", () => resolve({ status: res.statusCode ?? 0, body }));
      });
      socket.once("error", (err) => {
        if (!/Unexpected server response/.test(err.message)) reject(err);
      });
    });
  }

  it("refuses a no-cors form POST from another site and takes the same one without an Origin", async () => {
    const port = await listen({ auth: false, host: "127.0.0.1" });
    const body = JSON.stringify({ name: "x" });
    const crossSite = await post(port, { "content-type": FORM, origin: "https://evil.example" }, body);
    expect(crossSite.status).toBe(403);
    expect(JSON.parse(crossSite.body).error).toMatchObject({ code: "forbidden", field: "origin" });
    expect((await post(port, { "content-type": FORM }, body)).status).toBe(201);
    expect((await post(port, { "content-type": FORM, origin: `http://127.0.0.1:${port}` }, JSON.stringify({ name: "y" }))).status).toBe(201);
  });

  it("checks a WebSocket upgrade's Origin by the same rule, answering 403 in the error shape", async () => {
    const port = await listen({ auth: false, host: "127.0.0.1" });
    const refused = await openFeed(port, "https://evil.example");
    expect(refused).toMatchObject({ status: 403 });
    expect(JSON.parse((refused as { body: string }).body).error).toMatchObject({ code: "forbidden", field: "origin" });
    expect(await openFeed(port, `http://127.0.0.1:${port}`)).toEqual({ open: true });
    expect(await openFeed(port, undefined)).toEqual({ open: true });
  });
});

describe("isOwnOrigin", () => {
  it("compares host and port, the default port of the origin's scheme standing for none", () => {
    expect(isOwnOrigin("http://example.com", "example.com:80")).toBe(true);
    expect(isOwnOrigin("https://example.com", "example.com:443")).toBe(true);
    expect(isOwnOrigin("https://example.com", "example.com:80")).toBe(false);
    expect(isOwnOrigin("http://example.com", "example.com/path")).toBe(false);
    expect(isOwnOrigin("http://example.com", "user@example.com")).toBe(false);
    expect(isOwnOrigin("http://example.com", undefined)).toBe(false);
  });
});
