import type { WebSocketServer } from "ws";

/**
 * Answers every WebSocket's pings here rather than in the `ws` library (its `autoPong` is off
 * in app.ts): ws answers each ping whether or not the client reads, so a client writing pings
 * and reading nothing grew the server's memory by a pong a ping, on every route (feeds,
 * streams, attach), past any route's own slow-consumer cut-off. A socket that pings while it
 * holds more than `maxBufferedBytes` unsent is closed at once.
 */
export function answerPings(server: WebSocketServer, maxBufferedBytes: number): void {
  server.on("connection", (socket) => {
    socket.on("ping", (data: Buffer) => {
      if (socket.bufferedAmount > maxBufferedBytes) socket.terminate();
      else socket.pong(data);
    });
  });
}
