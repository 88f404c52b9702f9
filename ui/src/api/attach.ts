import { SETTINGS } from "../settings.js";
import { getToken, bearerProtocol } from "./token.js";

export type AttachRole = "driver" | "observer";

/** What the terminal view hears from an attach connection. */
export interface AttachHandlers {
  /** Terminal output bytes, in order, each byte once across reconnects. */
  onOutput(bytes: Uint8Array): void;
  /** The replay restarts from scratch (the offset held was no longer in the server's replay): clear the screen first. */
  onReset(): void;
  onRole(role: AttachRole): void;
  onResize(cols: number, rows: number): void;
  /** A refusal the socket survives (typing as an observer…). */
  onRefused(message: string): void;
  /** Connected / reconnecting / ended, for the status line. */
  onState(state: "connecting" | "open" | "retrying" | "ended", detail?: string): void;
}

/**
 * A shell's terminal over `GET /sessions/{id}/attach` (docs/streams.md#attach). The token goes in
 * the `sessiond.bearer.*` subprotocol (a browser cannot set Authorization on a WebSocket). It
 * counts the output bytes it received, so a dropped socket reconnects with `?offset=` that count
 * and the server sends exactly the rest: no line twice. Should that offset have left the server's
 * replay, it starts over from the replay's beginning after a reset of the screen.
 */
export class AttachConnection {
  private socket: WebSocket | undefined;
  /** Terminal byte offset received up to; undefined before the first hello. */
  private offset: number | undefined;
  private attempt = 0;
  private closed = false;
  private timer: ReturnType<typeof setTimeout> | undefined;
  /** Whether the last connection got its hello (a refused resume never does). */
  private greeted = false;
  /** Connections in a row that closed before their hello: the server refuses this attach. */
  private refusals = 0;
  private readonly encoder = new TextEncoder();

  constructor(
    private readonly sessionId: string,
    private readonly wanted: AttachRole,
    private readonly handlers: AttachHandlers,
  ) {
    this.connect();
  }

  /** Keystrokes (the driver's only: the server refuses an observer's). */
  type(text: string): void {
    this.send(this.encoder.encode(text));
  }

  resize(cols: number, rows: number): void {
    this.send(JSON.stringify({ type: "resize", cols, rows }));
  }

  /** Become the driver (the previous one becomes an observer). */
  takeControl(): void {
    this.send(JSON.stringify({ type: "takeover" }));
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
    this.socket?.close(1000, "page left");
  }

  private send(frame: string | Uint8Array): void {
    if (this.socket?.readyState === WebSocket.OPEN) this.socket.send(frame);
  }

  private connect(): void {
    const token = getToken();
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const params = new URLSearchParams({ role: this.wanted });
    if (this.offset !== undefined) params.set("offset", String(this.offset));
    const url = `${scheme}//${location.host}/sessions/${encodeURIComponent(this.sessionId)}/attach?${params}`;
    this.handlers.onState("connecting");
    this.greeted = false;
    const socket = new WebSocket(url, token ? ["sessiond", bearerProtocol(token)] : ["sessiond"]);
    socket.binaryType = "arraybuffer";
    this.socket = socket;
    socket.onmessage = (message) => this.receive(message.data);
    socket.onclose = (event) => this.closedWith(event.code, event.reason);
  }

  private receive(data: unknown): void {
    if (data instanceof ArrayBuffer) {
      const bytes = new Uint8Array(data);
      this.offset = (this.offset ?? 0) + bytes.length;
      this.handlers.onOutput(bytes);
      return;
    }
    let frame: { type?: string; role?: AttachRole; offset?: number; cols?: number; rows?: number; message?: string };
    try {
      frame = JSON.parse(String(data));
    } catch {
      return;
    }
    switch (frame.type) {
      case "hello":
        this.greeted = true;
        this.attempt = 0;
        this.refusals = 0;
        // The replay starts where the server says: from our offset when we resumed, else its oldest byte.
        if (this.offset !== undefined && frame.offset !== this.offset) this.handlers.onReset();
        this.offset = frame.offset ?? 0;
        this.handlers.onState("open");
        if (frame.role) this.handlers.onRole(frame.role);
        if (frame.cols && frame.rows) this.handlers.onResize(frame.cols, frame.rows);
        break;
      case "role":
        if (frame.role) this.handlers.onRole(frame.role);
        break;
      case "resize":
        if (frame.cols && frame.rows) this.handlers.onResize(frame.cols, frame.rows);
        break;
      case "error":
        this.handlers.onRefused(frame.message ?? "refused");
        break;
    }
  }

  private closedWith(code: number, reason: string): void {
    this.socket = undefined;
    if (this.closed) return;
    // The session went away (stopped, crashed, deleted, restarted) or the server refused the frames: no retry.
    if (code === 1000 || code === 1003 || code === 1008) {
      this.closed = true;
      this.handlers.onState("ended", reason || "the terminal closed");
      return;
    }
    // 4008 slow_consumer offset=N: resume from N, which is what we counted.
    const slow = /offset=(\d+)/.exec(reason);
    if (slow) this.offset = Number(slow[1]);
    // A resume the server refused before the upgrade (416: the offset left its replay) never
    // greets: after two such tries, start over from the replay's beginning.
    if (!this.greeted && this.offset !== undefined && this.attempt >= 1) {
      this.offset = undefined;
      this.handlers.onReset();
    }
    // Refused before the upgrade every time (a token that may not read this terminal, a shell
    // that is not running here): a browser is not told why, so stop and say what it may be.
    if (!this.greeted && ++this.refusals >= SETTINGS.attachMaxRefusals) {
      this.closed = true;
      this.handlers.onState("ended", "the server refused the terminal (this token may not read it, or the shell is not running)");
      return;
    }
    const delay = Math.min(SETTINGS.reconnectMaxMs, SETTINGS.reconnectBaseMs * 2 ** this.attempt++);
    this.handlers.onState("retrying", reason || `connection lost (${code})`);
    this.timer = setTimeout(() => this.connect(), delay);
  }
}
