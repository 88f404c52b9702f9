import type { FastifyInstance } from "fastify";
import { errors } from "../core/index.js";

/** A Sec-WebSocket-Key: 16 random bytes in base64 (RFC 6455 §4.1). */
const KEY = /^[+/0-9A-Za-z]{22}==$/;
/** The protocol versions the ws library speaks. */
const VERSIONS = new Set(["8", "13"]);

/**
 * Checks a WebSocket upgrade's handshake headers before the route hands the socket to ws, which
 * would answer a bad one in plain text: here it is the documented `{"error": …}` body, a 400
 * naming the header. Its `Origin` is checked with every other request's, by one rule
 * (auth/request-origin.ts): a browser's WebSocket is not bound by CORS, so a page of another
 * site is told apart by that header alone.
 */
export function installWebSocketHandshakeCheck(app: FastifyInstance): void {
  app.addHook("onRequest", (request, _reply, done) => {
    const upgrade = request.headers.upgrade;
    if (upgrade === undefined || upgrade.toLowerCase() !== "websocket") return done();
    const key = request.headers["sec-websocket-key"];
    if (typeof key !== "string" || !KEY.test(key)) {
      return done(errors.validation("sec-websocket-key", "a WebSocket upgrade needs a Sec-WebSocket-Key of 16 bytes in base64"));
    }
    const version = request.headers["sec-websocket-version"];
    if (typeof version !== "string" || !VERSIONS.has(version)) {
      return done(errors.validation("sec-websocket-version", "a WebSocket upgrade needs Sec-WebSocket-Version 13 (or 8)"));
    }
    done();
  });
}
