import type { ServerResponse } from "node:http";
import type { WebSocket } from "ws";
import type { EndReason, OutletMessage, Sink } from "./outlet.js";

/** A WebSocket subscriber: one text frame per batch, one JSON message per line. */
export class WebSocketSink implements Sink {
  private pendingSends = 0;
  private waiters: (() => void)[] = [];

  constructor(private readonly socket: WebSocket) {}

  write(messages: readonly OutletMessage[]): void {
    if (this.socket.readyState !== this.socket.OPEN) return;
    const text = messages.length === 1 ? messages[0]!.json : messages.map((m) => m.json).join("\n");
    this.pendingSends++;
    this.socket.send(text, () => {
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
    let text = "";
    for (const m of messages) text += sseEvent(m);
    this.res.write(text);
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
    this.res.end(sseEvent({ type, json }));
  }

  onClose(listener: () => void): void {
    this.res.once("close", listener);
  }
}

function sseEvent(m: OutletMessage): string {
  return `${m.id === undefined ? "" : `id: ${m.id}\n`}event: ${m.type}\ndata: ${m.json}\n\n`;
}
