import { once } from "node:events";
import { type IncomingMessage, type Server, type ServerResponse, createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { isSessiondError } from "../../src/core/index.js";
import { Transport } from "../../src/sdk/client/transport.js";

/**
 * The SDK's transport against a plain HTTP peer that answers with sessiond's error body: what a
 * client does with an answer that says the request was not applied (docs/scale-out.md).
 */
describe("the SDK sends again a request the server refused without applying it", () => {
  let server: Server | undefined;
  afterEach(() => server?.close());

  /** A peer answering each request in turn with `answers` (then 200 {ok:true}), recording the bodies. */
  const peer = async (answers: { status: number; code: string }[]) => {
    const bodies: string[] = [];
    server = createServer((req: IncomingMessage, res: ServerResponse) => {
      let body = "";
      req.on("data", (chunk) => (body += chunk));
      req.on("end", () => {
        bodies.push(body);
        const answer = answers.shift();
        res.writeHead(answer ? answer.status : 200, { "content-type": "application/json" });
        res.end(JSON.stringify(answer ? { error: { code: answer.code, message: `refused: ${answer.code}` } } : { ok: true }));
      });
    });
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    const { port } = server.address() as AddressInfo;
    return { bodies, baseUrl: `http://127.0.0.1:${port}` };
  };

  it("retries session_moved and node_unreachable, with the same body, until it is applied", async () => {
    const { bodies, baseUrl } = await peer([
      { status: 503, code: "session_moved" },
      { status: 503, code: "node_unreachable" },
    ]);
    const transport = new Transport({ baseUrl, token: "t" });
    const reply = await transport.request<{ ok: boolean }>({ method: "POST", path: "/sessions/x/events", body: { type: "note", data: { n: 1 } } });
    expect(reply.body).toEqual({ ok: true });
    expect(bodies).toHaveLength(3);
    expect(new Set(bodies)).toEqual(new Set([JSON.stringify({ type: "note", data: { n: 1 } })]));
  });

  it("sends a read again when a proxy answers for a backend that went away, but never a write", async () => {
    const gateway = async () => {
      const hits: string[] = [];
      server = createServer((req, res) => {
        hits.push(req.method!);
        if (hits.length === 1) {
          res.writeHead(502, { "content-type": "text/html" });
          res.end("<html><body><h1>502 Bad Gateway</h1></body></html>");
          return;
        }
        res.writeHead(200, { "content-type": "application/json" });
        res.end('{"ok":true}');
      });
      server.listen(0, "127.0.0.1");
      await once(server, "listening");
      return { hits, baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
    };
    const read = await gateway();
    expect((await new Transport({ baseUrl: read.baseUrl, token: "t" }).request({ method: "GET", path: "/sessions/x" })).body).toEqual({ ok: true });
    expect(read.hits).toEqual(["GET", "GET"]);
    server!.close();

    const write = await gateway();
    const refused = await new Transport({ baseUrl: write.baseUrl, token: "t" }).request({ method: "POST", path: "/sessions/x/events", body: {} }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(Error);
    expect(write.hits).toEqual(["POST"]);
  });

  it("does not retry an error that may have been applied, nor when retrying is off", async () => {
    const first = await peer([{ status: 503, code: "store_failure" }]);
    const err = await new Transport({ baseUrl: first.baseUrl, token: "t" }).request({ method: "POST", path: "/sessions/" }).catch((e: unknown) => e);
    expect(isSessiondError(err, "store_failure")).toBe(true);
    expect(first.bodies).toHaveLength(1);
    server!.close();

    const second = await peer([{ status: 503, code: "session_moved" }]);
    const off = await new Transport({ baseUrl: second.baseUrl, token: "t", attempts: 1 }).request({ method: "POST", path: "/sessions/" }).catch((e: unknown) => e);
    expect(isSessiondError(off, "session_moved")).toBe(true);
    expect(second.bodies).toHaveLength(1);
  });
});
