import { type IncomingMessage, request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import type { Socket } from "node:net";
import type { Duplex } from "node:stream";
import type { FastifyReply, FastifyRequest } from "fastify";
import { forwardedRequestHeaders, originForm, relayedResponseHeaders } from "./headers.js";
import { type ForwardOutcome, failedAttempt } from "./outcome.js";

/** What tunnelUpgrade needs besides the request. */
export interface UpgradeForward {
  /** The owner's origin. */
  readonly url: URL;
  readonly nodeName: string;
  /** Sent instead of the client's Authorization (see forwardedRequestHeaders). */
  readonly authorization: string | undefined;
  /** How long connecting to the owner may take. */
  readonly connectTimeoutMs: number;
  /** Called with a way to close each open tunnel; returns the function to call once it closed. */
  readonly track: (close: () => void) => () => void;
}

/**
 * Passes a WebSocket upgrade on to the owner: the same request (headers, Sec-WebSocket-Key
 * included) over a connection of its own; when the owner switches protocols, its 101 head goes to
 * the client as it was written and the two sockets are joined, bytes passed both ways untouched
 * until either side closes (an error on one closes both). An answer other than 101 (a refusal
 * before the upgrade: 401, 404, 429…) is relayed as an ordinary answer. The reply is taken over
 * (hijacked) only at the 101, so that @fastify/websocket's handler never runs for it; until the
 * owner answers, nothing of the reply is touched, and a failed attempt leaves the request as it
 * came, to be served here or sent elsewhere.
 */
export function tunnelUpgrade(request: FastifyRequest, reply: FastifyReply, target: UpgradeForward): Promise<ForwardOutcome> {
  const { socket: client, head: clientHead } = upgradeOf(request.raw);
  const headers = forwardedRequestHeaders(request.headers, { nodeName: target.nodeName, authorization: target.authorization, bodyless: true });
  headers.host = target.url.host;
  headers.connection = "Upgrade";
  headers.upgrade = request.headers.upgrade;
  const send = target.url.protocol === "https:" ? httpsRequest : httpRequest;
  return new Promise<ForwardOutcome>((resolve) => {
    let settled = false;
    const settle = (outcome: ForwardOutcome): boolean => {
      if (settled) return false;
      settled = true;
      clearTimeout(connectTimer);
      client.off("close", clientLeft);
      resolve(outcome);
      return true;
    };
    const upstream = send({ hostname: target.url.hostname, port: target.url.port, path: originForm(request.url), method: "GET", headers, agent: false });
    const connectTimer = setTimeout(() => upstream.destroy(connectTimeout(target.connectTimeoutMs)), target.connectTimeoutMs);
    const clientLeft = () => {
      upstream.destroy();
      settle({ answered: true });
    };
    client.once("close", clientLeft);
    upstream.once("socket", (socket: Socket) => {
      socket.setNoDelay(true);
      if (socket.connecting) socket.once("connect", () => clearTimeout(connectTimer));
      else clearTimeout(connectTimer);
    });
    upstream.once("upgrade", (res: IncomingMessage, owner: Duplex, ownerHead: Buffer) => {
      if (!settle({ answered: true })) {
        owner.destroy();
        return;
      }
      reply.hijack();
      join(client, clientHead, res, owner, ownerHead, target.track);
    });
    upstream.once("response", (res: IncomingMessage) => {
      if (!settle({ answered: true })) {
        res.destroy();
        return;
      }
      reply.code(res.statusCode ?? 502).headers(relayedResponseHeaders(res.headers)).send(res);
    });
    // Errors after the answer (the tunnel's own) are the joined sockets' to handle.
    upstream.on("error", (err) => settle(failedAttempt("GET", err, false)));
    upstream.end();
  });
}

/** Writes the owner's 101 to the client and joins the two sockets. */
function join(client: Duplex, clientHead: Buffer, res: IncomingMessage, owner: Duplex, ownerHead: Buffer, track: UpgradeForward["track"]): void {
  let head = `HTTP/1.1 ${res.statusCode} ${res.statusMessage}\r\n`;
  for (let i = 0; i + 1 < res.rawHeaders.length; i += 2) head += `${res.rawHeaders[i]}: ${res.rawHeaders[i + 1]}\r\n`;
  client.write(`${head}\r\n`);
  if (ownerHead.length > 0) client.write(ownerHead);
  if (clientHead.length > 0) owner.write(clientHead);
  // As ws does with a socket it takes over: no idle timeout, no delay for small frames.
  (client as Partial<Socket>).setTimeout?.(0);
  (client as Partial<Socket>).setNoDelay?.(true);
  const closeBoth = () => {
    client.destroy();
    owner.destroy();
  };
  const untrack = track(closeBoth);
  let open = 2;
  for (const [side, other] of [[client, owner], [owner, client]] as const) {
    side.on("error", closeBoth);
    side.once("close", () => {
      // What the closed side sent is already written to the other: end it once that is out.
      other.end();
      if (--open === 0) untrack();
    });
    side.pipe(other);
  }
}

/**
 * The socket and first bytes of an upgrade request: @fastify/websocket keeps them on the raw
 * request under symbols it does not export (kWs, kWsHead in its index.js), so they are found by
 * their descriptions once.
 */
function upgradeOf(raw: IncomingMessage): { socket: Duplex; head: Buffer } {
  const holder = raw as unknown as Record<symbol, unknown>;
  wsSymbols ??= findSymbols(raw);
  const socket = wsSymbols?.socket !== undefined ? (holder[wsSymbols.socket] as Duplex | undefined) : undefined;
  const head = wsSymbols?.head !== undefined ? (holder[wsSymbols.head] as Buffer | undefined) : undefined;
  return { socket: socket ?? raw.socket, head: head ?? Buffer.alloc(0) };
}

let wsSymbols: { socket: symbol | undefined; head: symbol | undefined } | undefined;

function findSymbols(raw: IncomingMessage): typeof wsSymbols {
  const symbols = Object.getOwnPropertySymbols(raw);
  const socket = symbols.find((s) => s.description === "ws-socket");
  if (socket === undefined) return undefined;
  return { socket, head: symbols.find((s) => s.description === "ws-head") };
}

function connectTimeout(ms: number): Error {
  return Object.assign(new Error(`connecting took over ${ms} ms`), { code: "UND_ERR_CONNECT_TIMEOUT" });
}
