import { type IncomingMessage, STATUS_CODES, type Server, maxHeaderSize } from "node:http";
import type { Duplex } from "node:stream";
import { SessiondError } from "../core/index.js";

/** The limits of the HTTP server a request came to (`maxHeaderSize` is set only when given as an option). */
interface ServerLimits {
  readonly maxHeaderSize?: number;
  readonly requestTimeout?: number;
}

/** Where parser failures are logged (the request never became a Fastify request, so there is no request log). */
export interface ClientErrorLog {
  debug(obj: object, msg: string): void;
}

/**
 * The part of the request each of Node's HTTP parser (llhttp) errors is about, for `field`.
 * Codes not listed are answered without a field.
 */
const FIELD_BY_PARSER_CODE: Readonly<Record<string, string>> = {
  HPE_INVALID_METHOD: "method",
  HPE_INVALID_URL: "url",
  HPE_INVALID_VERSION: "version",
  HPE_INVALID_HEADER_TOKEN: "headers",
  HPE_INVALID_CONTENT_LENGTH: "Content-Length",
  HPE_UNEXPECTED_CONTENT_LENGTH: "Content-Length",
  HPE_INVALID_TRANSFER_ENCODING: "Transfer-Encoding",
  HPE_INVALID_CHUNK_SIZE: "body",
};

/**
 * Our error for a request Node's HTTP parser refused (server 'clientError'): 431 for headers over
 * `maxHeaderSize`, 413 for chunk extensions over Node's limit, 408 for a request timeout, and
 * 400 `malformed_request` for everything else, with llhttp's own one-line reason (it names the
 * rule broken, never echoes the request).
 */
export function clientErrorOf(err: NodeJS.ErrnoException & { reason?: unknown }, server: ServerLimits | undefined): SessiondError {
  switch (err.code) {
    case "HPE_HEADER_OVERFLOW":
      return new SessiondError("header_too_large", { limit: server?.maxHeaderSize ?? maxHeaderSize }, { field: "headers" });
    case "HPE_CHUNK_EXTENSIONS_OVERFLOW":
      // Node's fixed limit on a chunk's extensions (lib/_http_common.js, 16 KiB).
      return new SessiondError("chunk_extensions_too_large", { limit: 16 * 1024 }, { field: "body" });
    case "ERR_HTTP_REQUEST_TIMEOUT":
      return new SessiondError("request_timeout", { timeoutMs: server?.requestTimeout ?? "the server's" });
  }
  const reason = typeof err.reason === "string" && err.reason !== "" ? err.reason : "not a valid HTTP/1.1 request";
  const field = err.code === undefined ? undefined : FIELD_BY_PARSER_CODE[err.code];
  return new SessiondError("malformed_request", { reason }, field ? { field } : undefined);
}

/**
 * Writes an error in the wire shape straight onto a socket that has no HTTP response object (a
 * parser failure, a CONNECT request), then closes it: after a parse error the rest of the bytes
 * cannot be trusted to frame another request.
 */
export function writeRawError(socket: Duplex, error: SessiondError, headers: Readonly<Record<string, string>> = {}): void {
  if (socket.destroyed) return;
  if (socket.writable) {
    const body = JSON.stringify(error.toJSON());
    const lines = [
      `HTTP/1.1 ${error.status} ${STATUS_CODES[error.status] ?? "Error"}`,
      "Content-Type: application/json; charset=utf-8",
      `Content-Length: ${Buffer.byteLength(body)}`,
      "Connection: close",
      ...Object.entries(headers).map(([name, value]) => `${name}: ${value}`),
    ];
    socket.end(`${lines.join("\r\n")}\r\n\r\n${body}`);
  }
  // A peer that stops reading must not hold the socket open.
  socket.once("finish", () => socket.destroy());
  if (!socket.writable) socket.destroy();
}

/**
 * A 'clientError' listener answering in the wire shape what Node's HTTP server would answer with
 * bare text: requests its parser refuses. Fastify's `clientErrorHandler` on the TCP server, and
 * the Unix-socket server's own listener (see {@link installRawErrors}).
 */
export function clientErrorHandler(log: ClientErrorLog): (err: NodeJS.ErrnoException, socket: Duplex) => void {
  return (err, socket) => {
    // The peer is gone (a reset, or it closed first): there is no one to answer.
    if (err.code === "ECONNRESET" || socket.destroyed) return;
    const server = (socket as Duplex & { server?: ServerLimits }).server;
    const error = clientErrorOf(err, server);
    log.debug({ code: err.code, status: error.status }, "refused a request the HTTP parser could not read");
    writeRawError(socket, error);
  };
}

/**
 * Answers CONNECT requests (the 'connect' event, which no route can take; without a listener
 * Node drops the connection without a word) with 405, and — when `clientErrors` — parser
 * failures as {@link clientErrorHandler} does.
 */
export function installRawErrors(server: Server, log: ClientErrorLog, options: { readonly clientErrors: boolean }): void {
  if (options.clientErrors) server.on("clientError", clientErrorHandler(log));
  server.on("connect", (req: IncomingMessage, socket: Duplex) => {
    const error = new SessiondError("method_not_allowed", { method: "CONNECT", path: req.url ?? "", allow: "none, sessiond is not a proxy" }, { field: "method" });
    writeRawError(socket, error);
  });
}
