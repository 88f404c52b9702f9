import type { IncomingMessage } from "node:http";

/**
 * Reads and drops what is left of a request body that was answered without being read whole (an
 * upload refused at its size cap, say). Closing the socket instead would leave the client's
 * bytes unread, and the kernel answers those with a reset, which makes a client that is still
 * sending lose the answer it was already sent (RFC 9112 §9.6 asks servers to keep reading for
 * this reason). Nothing is kept: the bytes are dropped as they arrive.
 *
 * When the body ends within `maxMs` the connection stays usable for the next request; past that
 * it is closed, so a client that never stops sending cannot hold it open.
 */
export function discardRestOfBody(body: IncomingMessage, maxMs: number): void {
  if (body.readableEnded || body.destroyed) return;
  const timer = setTimeout(() => body.socket?.destroy(), maxMs);
  // A draining upload must not keep the process alive on its own.
  timer.unref();
  const stop = () => clearTimeout(timer);
  body.once("end", stop);
  body.once("close", stop);
  body.unpipe();
  body.resume();
}
