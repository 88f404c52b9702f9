import type { ServerResponse } from "node:http";
import type { WebSocket } from "ws";
import type { EndReason, OutletMessage, Sink } from "./outlet.js";

/**
 * Encoded frames by the batch they carry. Subscribers with the same filter get the very same
 * message objects in the same turn: the first one's frame is encoded once and reused by the rest,
 * instead of joining and encoding the same text once per subscriber.
 */
class FrameCache {
  private readonly frames = new WeakMap<OutletMessage, { messages: readonly OutletMessage[]; frame: Buffer }>();

  constructor(private readonly encode: (messages: readonly OutletMessage[]) => string) {}

  get(messages: readonly OutletMessage[]): Buffer {
    const first = messages[0]!;
    const hit = this.frames.get(first);
    if (hit && sameMessages(hit.messages, messages)) return hit.frame;
    const frame = Buffer.from(this.encode(messages));
    this.frames.set(first, { messages, frame });
    return frame;
  }
}

function sameMessages(a: readonly OutletMessage[], b: readonly OutletMessage[]): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

const wsFrames = new FrameCache((messages) => (messages.length === 1 ? messages[0]!.json : messages.map((m) => m.json).join("\n")));
const sseFrames = new FrameCache((messages) => {
  let text = "";
  for (const m of messages) text += sseEvent(m);
  return text;
});

/** A WebSocket subscriber: one text frame per batch, one JSON message per line. */
export class WebSocketSink implements Sink {
  private pendingSends = 0;
  private waiters: (() => void)[] = [];

  constructor(private readonly socket: WebSocket) {}

  write(messages: readonly OutletMessage[]): void {
    if (this.socket.readyState !== this.socket.OPEN) return;
    this.pendingSends++;
    this.socket.send(wsFrames.get(messages), { binary: false }, () => {
      // Called once the frame is written to the kernel (or failed): the transport has room again.
      if (--this.pendingSends === 0) this.wake();
    });
  }

  get bufferedBytes(): number {
    return this.socket.bufferedAmount;
  }

  drained(): Promise<void> {
    if (this.pendingSends === 0 || this.socket.readyState !== this.socket.OPEN) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  end(reason: EndReason): void {
    const text = reason.cursor === undefined ? reason.reason : `${reason.reason} cursor=${reason.cursor}`;
    // The close frame goes after what the socket still holds: the client reads everything it was
    // sent, then learns why it ends.
    if (this.socket.readyState === this.socket.OPEN) this.socket.close(reason.code, text.slice(0, 123));
    this.wake();
  }

  onClose(listener: () => void): void {
    this.socket.once("close", () => {
      this.wake();
      listener();
    });
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }
}

/** An SSE subscriber: `id:`, `event:` and `data:` lines per message, one write per batch. */
export class SseSink implements Sink {
  private heartbeat: NodeJS.Timeout | undefined;

  constructor(
    private readonly res: ServerResponse,
    heartbeatMs: number,
  ) {
    res.writeHead(200, {
      "content-type": "text/event-stream; charset=utf-8",
      "cache-control": "no-cache, no-transform",
      // The socket is not reused after a stream ends: closing it then lets a shutdown finish at
      // once instead of waiting for the client's keep-alive timer.
      connection: "close",
      // Proxies (nginx) must not buffer a live stream.
      "x-accel-buffering": "no",
    });
    res.flushHeaders();
    this.heartbeat = setInterval(() => {
      if (!res.writableEnded) res.write(":\n\n");
    }, heartbeatMs);
    this.heartbeat.unref();
    res.once("close", () => clearInterval(this.heartbeat));
  }

  write(messages: readonly OutletMessage[]): void {
    if (this.res.writableEnded || this.res.destroyed) return;
    this.res.write(sseFrames.get(messages));
  }

  get bufferedBytes(): number {
    return this.res.writableLength;
  }

  drained(): Promise<void> {
    if (!this.res.writableNeedDrain || this.res.destroyed) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        this.res.off("drain", done);
        this.res.off("close", done);
        resolve();
      };
      this.res.once("drain", done);
      this.res.once("close", done);
    });
  }

  end(reason: EndReason): void {
    clearInterval(this.heartbeat);
    if (this.res.writableEnded || this.res.destroyed) return;
    const type = reason.reason === "slow_consumer" ? "cutoff" : "end";
    const json = JSON.stringify({ type, reason: reason.reason, ...(reason.cursor !== undefined ? { cursor: reason.cursor } : {}) });
    // Then the socket goes: an SSE socket is never reused, and a client that stopped reading (or
    // that aborted without closing its connection) must not keep a shutdown waiting.
    this.res.end(sseEvent({ type, json }), () => this.res.socket?.destroy());
  }

  onClose(listener: () => void): void {
    this.res.once("close", listener);
  }
}

function sseEvent(m: OutletMessage): string {
  return `${m.id === undefined ? "" : `id: ${m.id}\n`}event: ${m.type}\ndata: ${m.json}\n\n`;
}
