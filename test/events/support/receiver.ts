import { type IncomingHttpHeaders, createServer } from "node:http";
import { verifyWebhookSignature } from "../../../src/events/index.js";

/** How the receiver answers one request: a status code, or never ("hang"). */
export type Reply = number | "hang";

/** A request the receiver got. */
export interface Received {
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
  readonly payload: unknown;
  /** Whether the signature checked out against the receiver's secret; null when it has none. */
  readonly verified: boolean | null;
  readonly reply: Reply;
}

/** A local webhook receiver on 127.0.0.1 that answers from a script, then 200. */
export interface Receiver {
  readonly url: string;
  readonly port: number;
  readonly received: Received[];
  /** The requests it answered with a 2xx. */
  accepted(): Received[];
  close(): Promise<void>;
}

/**
 * Starts a receiver. `script` gives the replies to the first requests in order (e.g. `[500,
 * "hang"]`); every later request gets 200. `answer`, when given, is asked first for each request
 * (with the requests received before it) and its reply wins unless it returns undefined. It checks
 * each signature with `secret`.
 */
export function startReceiver(
  options: { script?: Reply[]; secret?: string; port?: number; answer?: (payload: unknown, earlier: readonly Received[]) => Reply | undefined } = {},
): Promise<Receiver> {
  const script = [...(options.script ?? [])];
  const received: Received[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks).toString("utf8");
      const reply = options.answer?.(JSON.parse(body), received) ?? script.shift() ?? 200;
      const verified =
        options.secret === undefined
          ? null
          : verifyWebhookSignature({
              secret: options.secret,
              timestamp: header(req.headers["x-sessiond-timestamp"]),
              signature: header(req.headers["x-sessiond-signature"]),
              body,
              toleranceMs: 300_000,
            });
      received.push({ headers: req.headers, body, payload: JSON.parse(body), verified, reply });
      if (reply === "hang") return;
      res.writeHead(reply, { "content-type": "text/plain" }).end(reply < 300 ? "ok" : "nope");
    });
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      resolve({
        url: `http://127.0.0.1:${port}/hooks/sessions`,
        port,
        received,
        accepted: () => received.filter((r) => typeof r.reply === "number" && r.reply < 300),
        close: () =>
          new Promise<void>((done) => {
            server.closeAllConnections();
            server.close(() => done());
          }),
      });
    });
  });
}

function header(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}
