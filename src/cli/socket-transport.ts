import { Agent, type IncomingHttpHeaders, request } from "node:http";
import { DEFAULT_CLIENT_TIMEOUT_MS } from "../core/defaults.js";
import { errorFromWire, unreachable } from "../sdk/client/errors.js";
import type { Reply, RequestSender, RequestSpec } from "../sdk/client/transport.js";
import { parseBody, requestPath } from "../sdk/client/wire.js";

/**
 * The SDK transport's request contract (`request`, `requestBytes`, `close`, `where`) over
 * `node:http` on the local Unix socket. The CLI hands it to the SDK's `SessionsClient`, so every
 * command still goes through `sessiond/client`'s typed methods and its error rebuilding; it
 * exists because a CLI command lives for one or two requests and `node:http` is already in
 * Node's snapshot, where undici (the SDK's default transport) costs more to load than the whole
 * command takes otherwise. TCP, tokens and streams stay with the SDK's own transport.
 */
export class SocketTransport implements RequestSender {
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 4 });

  constructor(
    readonly socketPath: string,
    readonly timeoutMs: number = DEFAULT_CLIENT_TIMEOUT_MS,
  ) {}

  /** Where requests go, for messages. */
  get where(): string {
    return `unix:${this.socketPath}`;
  }

  /** Sends a request and parses the JSON answer. @throws SessiondError from the server, or `internal` when unreachable */
  async request<T>(spec: RequestSpec): Promise<Reply<T>> {
    const reply = await this.requestBytes(spec);
    const text = reply.body.toString("utf8");
    return { status: reply.status, headers: reply.headers, body: parseBody(text) as T };
  }

  /** Sends a request and returns the answer's bytes. @throws SessiondError from the server, or `internal` when unreachable */
  requestBytes(spec: RequestSpec): Promise<Reply<Buffer>> {
    const headers: Record<string, string> = { accept: "application/json", ...spec.headers };
    let body: string | Uint8Array | undefined;
    if (spec.rawBody !== undefined) {
      if (typeof spec.rawBody !== "string" && !(spec.rawBody instanceof Uint8Array)) throw new TypeError("the CLI's socket transport sends strings and bytes, not streams");
      body = spec.rawBody;
    } else if (spec.body !== undefined) {
      body = JSON.stringify(spec.body);
      headers["content-type"] = "application/json";
    }
    if (body !== undefined) headers["content-length"] = String(Buffer.byteLength(body));
    const timeoutMs = spec.timeoutMs ?? this.timeoutMs;
    return new Promise((resolve, reject) => {
      // servername "": no TLS on a Unix socket, and without it node:http's agent derives one by
      // testing the host for an IP address, whose first call compiles the IPv6 regex (~4 ms of
      // a ~100 ms command).
      const options = { socketPath: this.socketPath, agent: this.agent, servername: "", method: spec.method, path: requestPath(spec), headers, timeout: timeoutMs };
      const req = request(options, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.once("error", (err) => reject(unreachable(this.where, err)));
        res.once("end", () => {
          const bytes = Buffer.concat(chunks);
          const status = res.statusCode ?? 0;
          if (status >= 400) reject(errorFromWire(status, parseBody(bytes.toString("utf8"))));
          else resolve({ status, headers: res.headers as IncomingHttpHeaders, body: bytes });
        });
      });
      req.once("timeout", () => req.destroy(unreachable(this.where, new Error("timed out"), timeoutMs)));
      req.once("error", (err) => reject(isOurs(err) ? err : unreachable(this.where, err)));
      req.end(body);
    });
  }

  /** Closes the kept-alive connections. */
  async close(): Promise<void> {
    this.agent.destroy();
  }
}

function isOurs(err: Error): boolean {
  return err.name === "SessiondError";
}
