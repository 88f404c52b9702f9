import type { WebSocket, WebSocketServer } from "ws";

/**
 * Answers every WebSocket's pings here rather than in the `ws` library (its `autoPong` is off
 * in app.ts): ws answers each ping whether or not the client reads, so a client writing pings
 * and reading nothing grew the server's memory by a pong a ping, on every route (feeds,
 * streams, attach), past any route's own slow-consumer cut-off. Here:
 * - a ping gets no pong while more than PONG_BACKLOG_BYTES wait unsent to its client (it is not
 *   reading them; a client that reads gets its pongs);
 * - a client that pings faster than MAX_PINGS_PER_SECOND (a keep-alive pings every few seconds),
 *   or while it holds more than `maxBufferedBytes` unsent, is dropped at once.
 */
export function answerPings(server: WebSocketServer, maxBufferedBytes: number): void {
  server.on("connection", (socket: WebSocket) => {
    let windowStart = performance.now();
    let pings = 0;
    socket.on("ping", (data: Buffer) => {
      const now = performance.now();
      if (now - windowStart >= MS_PER_SECOND) {
        windowStart = now;
        pings = 0;
      }
      if (++pings > MAX_PINGS_PER_SECOND || socket.bufferedAmount > maxBufferedBytes) return socket.terminate();
      if (socket.bufferedAmount <= PONG_BACKLOG_BYTES) socket.pong(data);
    });
  });
}

const PONG_BACKLOG_BYTES = 64 * 1024;
const MAX_PINGS_PER_SECOND = 100;
const MS_PER_SECOND = 1000;
