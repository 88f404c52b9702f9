import { existsSync, linkSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { request as httpRequest } from "node:http";
import { type AddressInfo, type Socket, connect } from "node:net";
import { PassThrough } from "node:stream";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type TestServer, startServer } from "./harness.js";

let server: TestServer;
let outside: string;
beforeEach(async () => {
  server = await startServer();
  outside = mkdtempSync(join(tmpdir(), "sessiond-outside-"));
  writeFileSync(join(outside, "secret.txt"), "top secret");
});
afterEach(async () => {
  await server.close();
  rmSync(outside, { recursive: true, force: true });
});

const session = async (name = "ws") => (await server.json({ method: "POST", url: "/sessions/", body: { name } })).body;
const put = (url: string, body: string | Buffer, contentType = "application/octet-stream") =>
  server.app.inject({ method: "PUT", url, payload: body, headers: { authorization: `Bearer ${server.token}`, "content-type": contentType } });
const get = (url: string) => server.request({ method: "GET", url });
const workspace = (name = "ws") => join(server.home, "workspaces", name);

describe("artifacts", () => {
  it("stores and serves a file in a category folder with a media type from its extension", async () => {
    await session();
    const up = await put("/sessions/ws/artifacts/logs/run/1.log", "line one\n", "text/plain");
    expect(up.statusCode).toBe(201);
    expect(JSON.parse(up.body)).toMatchObject({ category: "logs", path: "run/1.log", type: "file", size: 9, content_type: "text/plain; charset=utf-8" });
    expect(readFileSync(join(workspace(), "logs", "run", "1.log"), "utf8")).toBe("line one\n");
    const down = await get("/sessions/ws/artifacts/logs/run/1.log");
    expect(down.statusCode).toBe(200);
    expect(down.body).toBe("line one\n");
    expect(down.headers["content-type"]).toBe("text/plain; charset=utf-8");
    expect(down.headers["content-length"]).toBe("9");
    expect(down.headers["x-content-type-options"]).toBe("nosniff");
    expect(down.headers["content-security-policy"]).toContain("sandbox");
  });

  it("keeps a JSON upload as bytes, and replaces a file with 200", async () => {
    await session();
    expect((await put("/sessions/ws/artifacts/devtools/har.json", '{"a": 1}', "application/json")).statusCode).toBe(201);
    const again = await put("/sessions/ws/artifacts/devtools/har.json", '{"a": 2}', "application/json");
    expect(again.statusCode).toBe(200);
    const down = await get("/sessions/ws/artifacts/devtools/har.json");
    expect(down.body).toBe('{"a": 2}');
    expect(down.headers["content-type"]).toBe("application/json");
  });

  it("round-trips binary content exactly", async () => {
    await session();
    const bytes = Buffer.alloc(256 * 1024);
    for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 7919) % 256;
    expect((await put("/sessions/ws/artifacts/screenshots/shot.png", bytes, "image/png")).statusCode).toBe(201);
    const down = await get("/sessions/ws/artifacts/screenshots/shot.png");
    expect(down.headers["content-type"]).toBe("image/png");
    expect(Buffer.compare(down.rawPayload, bytes)).toBe(0);
  });

  it("lists every category, one category, or one folder", async () => {
    await session();
    await put("/sessions/ws/artifacts/files/a.txt", "a");
    await put("/sessions/ws/artifacts/files/dir/b.txt", "bb");
    await put("/sessions/ws/artifacts/recordings/r.cast", "r");
    const all = await server.json({ method: "GET", url: "/sessions/ws/artifacts" });
    expect(all.body.map((e: { category: string; path: string }) => `${e.category}/${e.path}`)).toEqual(["files/a.txt", "files/dir", "files/dir/b.txt", "recordings/r.cast"]);
    const files = await server.json({ method: "GET", url: "/sessions/ws/artifacts/files" });
    expect(files.body).toHaveLength(3);
    const folder = await server.json({ method: "GET", url: "/sessions/ws/artifacts/files/dir" });
    expect(folder.body).toEqual([expect.objectContaining({ path: "dir/b.txt", size: 2, type: "file" })]);
    const empty = await server.json({ method: "GET", url: "/sessions/ws/artifacts/screenshots" });
    expect(empty.body).toEqual([]);
  });

  it("deletes a file and a folder, and answers 404 for what is not there", async () => {
    await session();
    await put("/sessions/ws/artifacts/files/dir/b.txt", "bb");
    await put("/sessions/ws/artifacts/files/c.txt", "c");
    expect((await server.request({ method: "DELETE", url: "/sessions/ws/artifacts/files/c.txt" })).statusCode).toBe(204);
    expect((await server.request({ method: "DELETE", url: "/sessions/ws/artifacts/files/dir" })).statusCode).toBe(204);
    expect((await server.json({ method: "GET", url: "/sessions/ws/artifacts/files" })).body).toEqual([]);
    const missing = await server.json({ method: "GET", url: "/sessions/ws/artifacts/files/c.txt" });
    expect(missing.status).toBe(404);
    expect(missing.body.error.code).toBe("not_found");
    expect((await server.request({ method: "DELETE", url: "/sessions/ws/artifacts/files/c.txt" })).statusCode).toBe(404);
  });

  it("refuses an unknown category, naming it", async () => {
    await session();
    const res = await server.json({ method: "PUT", url: "/sessions/ws/artifacts/secrets/x.txt", body: "x", headers: { "content-type": "text/plain" } });
    expect(res.status).toBe(400);
    expect(res.body.error.field).toBe("category");
  });

  it("refuses to put a file where a folder is, with 409", async () => {
    await session();
    await put("/sessions/ws/artifacts/files/dir/b.txt", "bb");
    const res = await put("/sessions/ws/artifacts/files/dir", "x");
    expect(res.statusCode).toBe(409);
    const through = await put("/sessions/ws/artifacts/files/dir/b.txt/c", "x");
    expect(through.statusCode).toBe(409);
  });

  it("deletes the workspace with its session", async () => {
    await session();
    await put("/sessions/ws/artifacts/files/a.txt", "a");
    expect(existsSync(workspace())).toBe(true);
    await server.request({ method: "DELETE", url: "/sessions/ws" });
    await waitFor(() => !existsSync(workspace()));
  });

  it("deletes workspaces of sessions removed by bulk cleanup", async () => {
    await session();
    await put("/sessions/ws/artifacts/files/a.txt", "a");
    await server.json({ method: "POST", url: "/sessions/ws/complete" });
    await new Promise((r) => setTimeout(r, 5));
    expect((await server.json({ method: "POST", url: "/sessions/cleanup", body: { older_than_days: 0 } })).body).toEqual({ deleted: 1 });
    await waitFor(() => !existsSync(workspace()));
  });
});

describe("artifact size cap and streaming", () => {
  it("refuses an upload whose Content-Length is over maxArtifactBytes, before reading it", async () => {
    await server.close();
    server = await startServer({ maxArtifactBytes: 1000 });
    await session();
    const res = await put("/sessions/ws/artifacts/files/big.bin", Buffer.alloc(2000));
    expect(res.statusCode).toBe(413);
    expect(JSON.parse(res.body).error).toMatchObject({ code: "too_large", field: "body" });
    expect(existsSync(join(workspace(), "files", "big.bin"))).toBe(false);
  });

  it("stops a streamed upload at the cap and leaves no file behind", async () => {
    await server.close();
    server = await startServer({ maxArtifactBytes: 1000 });
    await session();
    const body = new PassThrough();
    const pending = server.app.inject({
      method: "PUT",
      url: "/sessions/ws/artifacts/files/big.bin",
      payload: body,
      headers: { authorization: `Bearer ${server.token}`, "content-type": "application/octet-stream" },
    });
    for (let i = 0; i < 5; i++) body.write(Buffer.alloc(400));
    body.end();
    const res = await pending;
    expect(res.statusCode).toBe(413);
    expect(JSON.parse(res.body).error).toMatchObject({ code: "body_too_large", field: "body", message: "the request body is over the limit of 1000 bytes" });
    expect(readdirSync(join(workspace(), "files"))).toEqual([]);
  });

  it("writes an upload to disk while it is still arriving (no whole-file buffering)", async () => {
    await session();
    const body = new PassThrough();
    const pending = server.app.inject({
      method: "PUT",
      url: "/sessions/ws/artifacts/recordings/long.webm",
      payload: body,
      headers: { authorization: `Bearer ${server.token}`, "content-type": "video/webm" },
    });
    const chunk = Buffer.alloc(64 * 1024, 1);
    body.write(chunk);
    // The first chunk is on disk, in the upload's temporary file, before the rest is sent.
    await waitFor(() => {
      const dir = join(workspace(), "recordings");
      if (!existsSync(dir)) return false;
      return readdirSync(dir).some((f) => f.startsWith(".sessiond-upload-") && readFileSync(join(dir, f)).length >= chunk.length);
    });
    for (let i = 0; i < 15; i++) body.write(chunk);
    body.end();
    const res = await pending;
    expect(res.statusCode).toBe(201);
    expect(JSON.parse(res.body).size).toBe(16 * chunk.length);
    const down = await get("/sessions/ws/artifacts/recordings/long.webm");
    expect(down.rawPayload.length).toBe(16 * chunk.length);
  });
});

describe("refused uploads over a real socket", () => {
  const MB = 1_000_000;
  const cap = 4 * MB;
  const listening = async (flags: Record<string, unknown> = {}) => {
    await server.close();
    server = await startServer({ maxArtifactBytes: cap, ...flags });
    await session();
    await server.app.listen({ host: "127.0.0.1", port: 0 });
    return (server.app.server.address() as AddressInfo).port;
  };
  const uploadHead = (framing: "content-length" | "chunked", total: number) =>
    `PUT /sessions/ws/artifacts/files/big.bin HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${server.token}\r\n` +
    (framing === "chunked" ? "Transfer-Encoding: chunked\r\n\r\n" : `Content-Length: ${total}\r\n\r\n`);

  for (const framing of ["content-length", "chunked"] as const) {
    for (const total of [5 * MB, 50 * MB]) {
      it(`answers a ${total / MB} MB upload (${framing}) with the 413 while the client is still sending, then drops the rest and keeps the connection`, async () => {
        const port = await listening();
        const conn = await RawConnection.open(port);
        try {
          await conn.write(Buffer.from(uploadHead(framing, total)));
          // The body goes out in parts of one small buffer (the client never holds it whole either).
          const answer = conn.nextResponse();
          await conn.writeBody(framing, cap + MB / 2);
          const refused = await answer;
          const sentBeforeAnswer = conn.bodySent;
          expect(refused.status).toBe(413);
          expect(JSON.parse(refused.body).error).toMatchObject({ field: "body", message: expect.stringContaining(`the limit of ${cap} bytes`) });
          // The answer came with part of the body unsent: the server did not wait for (or hold) the whole of it.
          expect(sentBeforeAnswer).toBeLessThan(total);
          await conn.writeBody(framing, total);
          await conn.endBody(framing);
          // The next request on the same connection is answered: every byte after the answer was read and dropped.
          const next = conn.nextResponse();
          await conn.write(Buffer.from(`GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n`));
          expect((await next).status).toBe(200);
          const files = join(workspace(), "files");
          expect(existsSync(files) ? readdirSync(files) : []).toEqual([]);
        } finally {
          conn.socket.destroy();
        }
      });
    }
  }

  it("closes the connection of a refused upload that goes on arriving past refusedUploadDrainMs, and keeps serving", async () => {
    const port = await listening({ refusedUploadDrainMs: 50 });
    const conn = await RawConnection.open(port);
    const answer = conn.nextResponse();
    await conn.write(Buffer.from(uploadHead("chunked", 0)));
    // The body never ends: the server drops what arrives until it gives up on the connection.
    while (!conn.socket.destroyed) await conn.writeBody("chunked", conn.bodySent + 64 * 1024);
    const refused = await answer;
    expect(refused.status).toBe(413);
    expect(refused.body).toContain(`the limit of ${cap} bytes`);
    expect((await rawRequest(port, "GET", "/healthz", server.token)).status).toBe(200);
  });
});

describe("ownership of uploads", () => {
  it("gives uploaded files and the folders made for them to the session's sandbox user", async () => {
    const created = await server.json({ method: "POST", url: "/sessions/", body: { name: "owned", runtime_metadata: { sandbox_uid: 4321, sandbox_gid: 5432 } } });
    expect(created.status).toBe(201);
    expect((await put("/sessions/owned/artifacts/logs/run/1.log", "x")).statusCode).toBe(201);
    for (const path of ["", "logs", "logs/run", "logs/run/1.log"]) {
      expect(statSync(join(workspace("owned"), path)), path).toMatchObject({ uid: 4321, gid: 5432 });
    }
    await session("plain");
    expect((await put("/sessions/plain/artifacts/logs/1.log", "x")).statusCode).toBe(201);
    expect(statSync(join(workspace("plain"), "logs", "1.log")).uid).toBe(process.getuid!());
  });
});

describe("paths cannot leave the workspace", () => {
  const attempts = [
    ["a .. segment", "files/../../../../etc/passwd"],
    ["an encoded .. segment", "files/%2e%2e/%2e%2e/secret.txt"],
    ["an encoded slash and ..", "files/..%2F..%2Fsecret.txt"],
    ["an absolute path", "files//etc/passwd"],
    ["an encoded absolute path", "files/%2Fetc%2Fpasswd"],
    ["a NUL byte", "files/a%00.txt"],
    ["a backslash", "files/..%5C..%5Csecret.txt"],
    ["a single dot", "files/./a.txt"],
    ["an encoded .. as the last segment", "files/a/%2e%2e"],
    ["an upper-case encoded ..", "files/%2E%2E/%2E%2E/secret.txt"],
    ["a half-encoded ..", "files/.%2e/.%2E/secret.txt"],
    ["an encoded slash before ..", "files/a%2F..%2F..%2F..%2Fsecret.txt"],
    ["an encoded absolute path to outside", "files/%2Ftmp%2Fsecret.txt"],
    ["an encoded trailing slash", "files/a%2F"],
  ] as const;

  // Over a real socket: an HTTP client library would normalize `..` away before sending it.
  for (const [what, path] of attempts) {
    it(`refuses ${what} with 400 naming path, for GET, PUT and DELETE`, async () => {
      await session();
      await server.app.listen({ host: "127.0.0.1", port: 0 });
      const { port } = server.app.server.address() as AddressInfo;
      for (const method of ["GET", "PUT", "DELETE"] as const) {
        const res = await rawRequest(port, method, `/sessions/ws/artifacts/${path}`, server.token, method === "PUT" ? "pwned" : undefined);
        expect(res.status, `${method} ${path}`).toBe(400);
        expect(JSON.parse(res.body).error.field).toBe("path");
      }
      expect(readdirSync(outside)).toEqual(["secret.txt"]);
      expect(readFileSync(join(outside, "secret.txt"), "utf8")).toBe("top secret");
      expect(existsSync(join(server.home, "workspaces", "etc"))).toBe(false);
      // Nothing was created beside the workspace either.
      expect(existsSync(join(server.home, "workspaces")) ? readdirSync(join(server.home, "workspaces")) : []).not.toContain("secret.txt");
    });
  }

  it("refuses to serve a file hard-linked to a file outside, and leaves it out of listings", async () => {
    await session();
    await put("/sessions/ws/artifacts/files/keep.txt", "k");
    // Linked as root by the test; an unprivileged sandbox user is further held back by fs.protected_hardlinks.
    linkSync(join(outside, "secret.txt"), join(workspace(), "files", "hard.txt"));
    const read = await server.json({ method: "GET", url: "/sessions/ws/artifacts/files/hard.txt" });
    expect(read.status).toBe(403);
    expect(read.body.error).toMatchObject({ code: "forbidden", field: "path", message: "files/hard.txt has other hard links; hard-linked files are not served" });
    const all = await server.json({ method: "GET", url: "/sessions/ws/artifacts/files" });
    expect(all.body.map((e: { path: string }) => e.path)).toEqual(["keep.txt"]);
    // An upload replaces the name in the workspace, never the outside file's bytes.
    expect((await put("/sessions/ws/artifacts/files/hard.txt", "new")).statusCode).toBe(200);
    expect(readFileSync(join(outside, "secret.txt"), "utf8")).toBe("top secret");
  });

  it("refuses to follow a symbolic link to a folder outside", async () => {
    await session();
    await put("/sessions/ws/artifacts/files/keep.txt", "k");
    symlinkSync(outside, join(workspace(), "files", "escape"));
    const read = await server.json({ method: "GET", url: "/sessions/ws/artifacts/files/escape/secret.txt" });
    expect(read.status).toBe(403);
    expect(read.body.error).toMatchObject({ code: "forbidden", field: "path" });
    const write = await put("/sessions/ws/artifacts/files/escape/new.txt", "pwned");
    expect(write.statusCode).toBe(403);
    expect(existsSync(join(outside, "new.txt"))).toBe(false);
    const list = await server.json({ method: "GET", url: "/sessions/ws/artifacts/files/escape" });
    expect(list.status).toBe(403);
    const all = await server.json({ method: "GET", url: "/sessions/ws/artifacts/files" });
    expect(all.body.map((e: { path: string }) => e.path)).toEqual(["keep.txt"]);
  });

  it("refuses to read or overwrite through a symbolic link to a file outside", async () => {
    await session();
    await put("/sessions/ws/artifacts/files/keep.txt", "k");
    symlinkSync(join(outside, "secret.txt"), join(workspace(), "files", "link.txt"));
    const read = await server.request({ method: "GET", url: "/sessions/ws/artifacts/files/link.txt" });
    expect(read.statusCode).toBe(403);
    expect(read.body).not.toContain("top secret");
    // Replacing the link replaces the link itself, never the file it points to.
    expect((await put("/sessions/ws/artifacts/files/link.txt", "new")).statusCode).toBe(200);
    expect(readFileSync(join(outside, "secret.txt"), "utf8")).toBe("top secret");
    // Deleting a link removes the link, not its target.
    symlinkSync(join(outside, "secret.txt"), join(workspace(), "files", "link2.txt"));
    expect((await server.request({ method: "DELETE", url: "/sessions/ws/artifacts/files/link2.txt" })).statusCode).toBe(204);
    expect(readFileSync(join(outside, "secret.txt"), "utf8")).toBe("top secret");
  });

  it("refuses a category folder, or the whole workspace, replaced by a symbolic link", async () => {
    await session();
    mkdirSync(workspace(), { recursive: true });
    symlinkSync(outside, join(workspace(), "logs"));
    expect((await server.request({ method: "GET", url: "/sessions/ws/artifacts/logs/secret.txt" })).statusCode).toBe(403);
    expect((await put("/sessions/ws/artifacts/logs/x.txt", "x")).statusCode).toBe(403);
    expect((await server.request({ method: "GET", url: "/sessions/ws/artifacts/logs" })).statusCode).toBe(403);

    await session("ws2");
    mkdirSync(join(server.home, "workspaces"), { recursive: true });
    symlinkSync(outside, workspace("ws2"));
    expect((await put("/sessions/ws2/artifacts/files/x.txt", "x")).statusCode).toBe(403);
    expect(readdirSync(outside)).toEqual(["secret.txt"]);
    // Deleting the session removes the link, not the folder it points to.
    await server.request({ method: "DELETE", url: "/sessions/ws2" });
    await waitFor(() => !existsSync(workspace("ws2")));
    expect(readFileSync(join(outside, "secret.txt"), "utf8")).toBe("top secret");
  });
});

async function waitFor(condition: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** An HTTP request whose path is sent exactly as given (no normalization of `..`). */
function rawRequest(port: number, method: string, path: string, token: string, body?: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: "127.0.0.1", port, method, path, headers: { authorization: `Bearer ${token}`, "content-type": "text/plain" } }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (chunk) => (text += chunk));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: text }));
    });
    req.on("error", reject);
    req.end(body);
  });
}

/**
 * An HTTP/1.1 connection written by hand, so that a test can go on sending a body after the
 * answer has arrived (node:http's client stops emitting `drain` once its response has ended).
 */
class RawConnection {
  /** Body bytes sent so far. */
  bodySent = 0;
  private received = Buffer.alloc(0);
  private waiting: (() => void) | undefined;
  private readonly part = Buffer.alloc(64 * 1024, 1);

  private constructor(readonly socket: Socket) {
    socket.on("data", (chunk: Buffer) => {
      this.received = Buffer.concat([this.received, chunk]);
      this.waiting?.();
    });
    socket.on("close", () => this.waiting?.());
    socket.on("error", () => undefined);
  }

  static open(port: number): Promise<RawConnection> {
    return new Promise((resolve, reject) => {
      const socket = connect(port, "127.0.0.1", () => resolve(new RawConnection(socket)));
      socket.once("error", reject);
    });
  }

  async write(bytes: Buffer): Promise<void> {
    if (this.socket.destroyed) return;
    if (!this.socket.write(bytes)) await drainedOrClosed(this.socket);
  }

  /** Sends body bytes (raw, or as chunks) until `bodySent` reaches `upTo`. */
  async writeBody(framing: "content-length" | "chunked", upTo: number): Promise<void> {
    while (this.bodySent < upTo && !this.socket.destroyed) {
      const slice = this.part.subarray(0, Math.min(this.part.length, upTo - this.bodySent));
      this.bodySent += slice.length;
      const bytes = framing === "chunked" ? Buffer.concat([Buffer.from(`${slice.length.toString(16)}\r\n`), slice, Buffer.from("\r\n")]) : slice;
      await this.write(bytes);
    }
  }

  async endBody(framing: "content-length" | "chunked"): Promise<void> {
    if (framing === "chunked") await this.write(Buffer.from("0\r\n\r\n"));
  }

  /** The next whole response (its body framed by Content-Length); may be asked for before the request is sent. */
  nextResponse(): Promise<{ status: number; body: string }> {
    const response = this.readResponse();
    // Awaited later by the test; a connection closed meanwhile is its failure, not an unhandled rejection.
    response.catch(() => undefined);
    return response;
  }

  private async readResponse(): Promise<{ status: number; body: string }> {
    for (;;) {
      const headEnd = this.received.indexOf("\r\n\r\n");
      if (headEnd >= 0) {
        const head = this.received.subarray(0, headEnd).toString("latin1");
        const length = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? 0);
        if (this.received.length >= headEnd + 4 + length) {
          const body = this.received.subarray(headEnd + 4, headEnd + 4 + length).toString("utf8");
          this.received = this.received.subarray(headEnd + 4 + length);
          return { status: Number(head.split(" ")[1]), body };
        }
      }
      if (this.socket.destroyed) throw new Error(`the connection closed before a whole response: ${JSON.stringify(this.received.toString("latin1"))}`);
      await new Promise<void>((resolve) => (this.waiting = resolve));
    }
  }
}

function drainedOrClosed(socket: Socket): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      socket.off("drain", done).off("close", done);
      resolve();
    };
    socket.on("drain", done).on("close", done);
  });
}
