import type { WebSocket } from "ws";
import { closeSocket } from "../../events/feeds/close-socket.js";

/** WebSocket close code for a frame the surface does not accept (RFC 6455 1003). */
export const BAD_FRAME_CODE = 1003;

/** Closes a read-only socket (stream, feed) on any frame from the client, naming why (closeSocket). */
export function refuseClientFrames(socket: WebSocket, why: string): void {
  socket.once("message", () => closeSocket(socket, BAD_FRAME_CODE, `bad_frame: ${why}`));
}
