import { mkdtempSync, rmSync } from "node:fs";
import type { Server } from "node:http";
import { type AddressInfo, connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createUnixSocketServer } from "../../src/server/unix-socket.js";
import { type TestServer, startServer } from "./harness.js";

/**
 * What a client gets for bytes that never become a routed request — refused by Node's HTTP parser,
 * a CONNECT, an unknown route or method — sent over a raw TCP socket to a listening server: the
 * one error shape `{"error": {"code", "message", "field"?}}`, with the right status.
 */

let server: TestServer;
let port: number;

beforeAll(async () => {
  server = await startServer();
  await server.app.listen({ host: "127.0.0.1", port: 0 });
  port = (server.app.server.address() as AddressInfo).port;
});

afterAll(async () => {
  await server.close();
});

interface RawAnswer {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body: any;
  /** The server closed the connection after answering. */
  readonly closed: boolean;
}

/**
 * Sends `bytes` as they are and reads the first answer. When the answer says `Connection: close`,
 * waits for the server to close the connection; `closed` says whether it did.
 */
function send(bytes: string, target: { port: number } | { path: string } = { port }): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const socket = "path" in target ? connect(target.path) : connect(target.port, "127.0.0.1");
    let raw = "";
    let closed = false;
    let settled = false;
    const finish = () => {
      if (settled) return;
      const end = raw.indexOf("\r\n\r\n");
      if (end === -1) return;
      const [statusLine, ...headerLines] = raw.slice(0, end).split("\r\n");
      const headers: Record<string, string> = {};
      for (const line of headerLines) {
        const colon = line.indexOf(":");
        headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
      }
      const length = Number(headers["content-length"] ?? 0);
      const bodyText = raw.slice(end + 4);
      if (Buffer.byteLength(bodyText) < length) return;
      settled = true;
      const answer = () => resolve({ status: Number(statusLine!.split(" ")[1]), headers, body: JSON.parse(bodyText.slice(0, length)), closed });
      if (closed || headers.connection !== "close") {
        answer();
        socket.destroy();
      } else {
        // It says it closes: see that it does (a connection left open would fail this after 2 s).
        socket.setTimeout(2000, () => {
          socket.removeAllListeners("close");
          socket.destroy();
          answer();
        });
        socket.once("close", answer);
      }
    };
    socket.on("data", (chunk) => {
      raw += chunk.toString("utf8");
      finish();
    });
    socket.on("close", () => {
      closed = true;
      if (!settled) {
        finish();
        if (!settled) reject(new Error(`connection closed without a full answer: ${JSON.stringify(raw)}`));
      }
    });
    socket.on("error", () => {});
    socket.write(bytes);
  });
}

const auth = () => `Authorization: Bearer ${server.token}\r\n`;

function expectShape(answer: RawAnswer, status: number, code: string, field?: string): void {
  expect(answer.status, JSON.stringify(answer.body)).toBe(status);
  expect(answer.headers["content-type"]).toMatch(/^application\/json/);
  expect(Object.keys(answer.body)).toEqual(["error"]);
  expect(answer.body.error.code).toBe(code);
  expect(typeof answer.body.error.message).toBe("string");
  expect(answer.body.error.message.length).toBeGreaterThan(0);
  if (field !== undefined) expect(answer.body.error.field).toBe(field);
}

describe("requests Node's HTTP parser refuses", () => {
  it("answers a header name with a space in it with 400 malformed_request naming the headers, and closes the connection", async () => {
    const answer = await send(`GET /sessions/ HTTP/1.1\r\nHost: x\r\nBad Header: 1\r\n\r\n`);
    expectShape(answer, 400, "malformed_request", "headers");
    expect(answer.headers.connection).toBe("close");
    expect(answer.closed).toBe(true);
  });

  it("answers two Content-Length headers with 400 naming Content-Length", async () => {
    const answer = await send(`POST /sessions/ HTTP/1.1\r\nHost: x\r\n${auth()}Content-Type: application/json\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}`);
    expectShape(answer, 400, "malformed_request", "Content-Length");
    expect(answer.closed).toBe(true);
  });

  it("answers Content-Length together with Transfer-Encoding (a request-smuggling shape) with 400 naming Transfer-Encoding", async () => {
    const answer = await send(
      `POST /sessions/ HTTP/1.1\r\nHost: x\r\n${auth()}Content-Type: application/json\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n`,
    );
    expectShape(answer, 400, "malformed_request", "Transfer-Encoding");
    expect(answer.closed).toBe(true);
    // Nothing of the body was taken as a request: no session was created.
    expect((await server.manager.list({}, { limit: 10 })).items).toEqual([]);
  });

  it("answers a Content-Length that is not a number with 400 naming Content-Length", async () => {
    const answer = await send(`POST /sessions/ HTTP/1.1\r\nHost: x\r\n${auth()}Content-Length: 2x\r\n\r\n{}`);
    expectShape(answer, 400, "malformed_request", "Content-Length");
  });

  it("answers headers over maxHeaderSize with 431 header_too_large", async () => {
    const answer = await send(`GET /sessions/ HTTP/1.1\r\nHost: x\r\nX-Big: ${"a".repeat(20_000)}\r\n\r\n`);
    expectShape(answer, 431, "header_too_large", "headers");
    expect(answer.body.error.message).toMatch(/over the limit of \d+ bytes/);
    expect(answer.headers.connection).toBe("close");
    expect(answer.closed).toBe(true);
  });

  it("answers a method HTTP does not know with 400 naming the method", async () => {
    const answer = await send(`FOO /sessions/ HTTP/1.1\r\nHost: x\r\n\r\n`);
    expectShape(answer, 400, "malformed_request", "method");
  });

  it("answers a request line with a space in its target with 400", async () => {
    const answer = await send(`GET /ses sions/ HTTP/1.1\r\nHost: x\r\n\r\n`);
    expectShape(answer, 400, "malformed_request");
  });

  it("answers an HTTP version that does not exist with 400 naming the version", async () => {
    const answer = await send(`GET /sessions/ HTTP/9.9\r\nHost: x\r\n\r\n`);
    expectShape(answer, 400, "malformed_request", "version");
  });

  it("answers a chunk size that is not hexadecimal with 400 naming the body", async () => {
    const answer = await send(`POST /sessions/ HTTP/1.1\r\nHost: x\r\n${auth()}Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n`);
    expectShape(answer, 400, "malformed_request", "body");
  });

  it("answers chunk extensions over Node's limit with 413 chunk_extensions_too_large", async () => {
    const answer = await send(
      `POST /sessions/ HTTP/1.1\r\nHost: x\r\n${auth()}Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n2;ext=${"e".repeat(20_000)}\r\n{}\r\n0\r\n\r\n`,
    );
    expectShape(answer, 413, "chunk_extensions_too_large", "body");
    expect(answer.closed).toBe(true);
  });

  it("answers bytes that are not HTTP at all with 400", async () => {
    const answer = await send(`\x00\x01\x02hello\r\n\r\n`);
    expectShape(answer, 400, "malformed_request");
  });

  it("answers the same shape on the Unix socket", async () => {
    const dir = mkdtempSync(join(tmpdir(), "sessiond-sock-"));
    const path = join(dir, "s.sock");
    const unix: Server = createUnixSocketServer(server.app);
    await new Promise<void>((resolve) => unix.listen(path, resolve));
    try {
      expectShape(await send(`GET /sessions/ HTTP/1.1\r\nHost: x\r\nBad Header: 1\r\n\r\n`, { path }), 400, "malformed_request", "headers");
      expectShape(await send(`CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n`, { path }), 405, "method_not_allowed", "method");
    } finally {
      await new Promise((resolve) => unix.close(resolve));
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("requests no route takes", () => {
  it("answers CONNECT (Node would drop the connection without a word) with 405 method_not_allowed", async () => {
    const answer = await send(`CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n${auth()}\r\n`);
    expectShape(answer, 405, "method_not_allowed", "method");
    expect(answer.closed).toBe(true);
  });

  it("answers a method a path does not take with 405 and an Allow header listing those it does", async () => {
    const answer = await send(`PUT /sessions/ HTTP/1.1\r\nHost: x\r\n${auth()}Content-Length: 0\r\n\r\n`);
    expectShape(answer, 405, "method_not_allowed", "method");
    expect(answer.headers.allow).toBe("GET, HEAD, POST");
    expect(answer.body.error.message).toBe("PUT is not allowed on /sessions/ (allowed: GET, HEAD, POST)");
  });

  it("answers a method a parameterized path does not take with 405", async () => {
    const answer = await send(`PUT /sessions/some-session/pause HTTP/1.1\r\nHost: x\r\n${auth()}Content-Length: 0\r\n\r\n`);
    expectShape(answer, 405, "method_not_allowed");
    expect(answer.headers.allow).toBe("POST");
  });

  it("answers a path no route has with 404 not_found naming the route", async () => {
    const answer = await send(`GET /nowhere/at/all HTTP/1.1\r\nHost: x\r\n${auth()}\r\n`);
    expectShape(answer, 404, "not_found");
    expect(answer.body.error.message).toBe("route GET /nowhere/at/all not found");
  });

  it("answers a malformed percent-escape in the path with 400 naming the url", async () => {
    const answer = await send(`GET /sessions/%zz HTTP/1.1\r\nHost: x\r\n${auth()}\r\n`);
    expectShape(answer, 400, "validation", "url");
  });

  it("answers a body that is not JSON with 400 naming the body", async () => {
    const answer = await send(`POST /sessions/ HTTP/1.1\r\nHost: x\r\n${auth()}Content-Type: application/json\r\nContent-Length: 3\r\n\r\n{x}`);
    expectShape(answer, 400, "validation", "body");
  });

  it("answers a content type no route reads with 415 naming Content-Type", async () => {
    const answer = await send(`POST /sessions/ HTTP/1.1\r\nHost: x\r\n${auth()}Content-Type: text/csv\r\nContent-Length: 3\r\n\r\na,b`);
    expectShape(answer, 415, "unsupported_media_type", "Content-Type");
  });

  it("answers a body over bodyLimitBytes with 413 naming the body", async () => {
    const size = server.config.bodyLimitBytes + 10;
    const answer = await send(`POST /sessions/ HTTP/1.1\r\nHost: x\r\n${auth()}Content-Type: application/json\r\nContent-Length: ${size}\r\n\r\n${" ".repeat(size)}`);
    expectShape(answer, 413, "body_too_large", "body");
  });
});
