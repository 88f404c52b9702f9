import type { WebSocket } from "ws";

/** Frames a client may still send after the server closed its socket (ones in flight when it did). */
const FRAMES_AFTER_CLOSE = 100;

/**
 * Closes `socket` with `code` and `reason`, and drops the connection if the client goes on
 * sending frames: after a close, ws waits (its close timeout) for the client's own close frame
 * and parses every frame until then, and a client that sends frames as fast as it can and reads
 * nothing never answers (it held the event loop for seconds). A client that stops gets the
 * closing handshake as usual.
 */
export function closeSocket(socket: WebSocket, code: number, reason: string): void {
  socket.close(code, reason.slice(0, 123));
  let after = 0;
  socket.on("message", () => {
    if (++after > FRAMES_AFTER_CLOSE) socket.terminate();
  });
}
