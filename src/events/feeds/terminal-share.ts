import type { WebSocket } from "ws";
import type { TerminalTap } from "../../drivers/index.js";
import { closeSocket } from "./close-socket.js";
import { SLOW_CONSUMER_CODE } from "./outlet.js";
import { ReplayBuffer } from "./replay-buffer.js";

/** A role on a shared terminal (docs/streams.md, "Attach"). */
export type AttachRole = "driver" | "observer";

/** Limits of a shared terminal, from the config. */
export interface ShareLimits {
  /** attachReplayBytes */
  readonly replayBytes: number;
  /** attachBatchMs */
  readonly batchMs: number;
  /** attachDriverHighWaterBytes */
  readonly driverHighWaterBytes: number;
  /** attachObserverMaxBufferedBytes */
  readonly observerMaxBufferedBytes: number;
}

/** How a client joins. */
export interface JoinOptions {
  /** Asked for `role=driver` (the default) and allowed to type: may drive and take over. */
  readonly mayDrive: boolean;
  /** Terminal offset to replay from; default the replay buffer's start. */
  readonly offset?: number;
}

/** A resize a driver asked for. */
interface PendingResize {
  readonly cols: number;
  readonly rows: number;
  readonly client: AttachClient;
}

/** WebSocket close code for a frame the attach protocol does not accept. */
export const ATTACH_BAD_FRAME_CODE = 1003;

class AttachClient {
  role: AttachRole = "observer";
  /** Terminal offset up to which bytes were handed to the socket. */
  sent: number;
  gone = false;
  /** Keystrokes were refused (the terminal's input backlog is full) and the client was told so once. */
  toldInputFull = false;

  constructor(
    readonly socket: WebSocket,
    readonly mayDrive: boolean,
    readonly order: number,
    offset: number,
  ) {
    this.sent = offset;
  }
}

/**
 * One live shell's terminal shared by every attached client: the tap's output goes to a bounded
 * replay buffer and to each client, batched: output after a quiet spell is sent on the next turn
 * of the event loop, a flood at most every `batchMs` (as VS Code's terminal does), each batch
 * joined into one frame once for every client; the driver, after typing, gets output on the next
 * turn, so its echo never waits for a flood's batch. Keystrokes and resizes come from the one
 * driver. Flow control: the PTY is paused while the
 * driver's socket holds more than the high-water mark (so a slow driver slows the shell, as on a
 * real terminal, and nothing is lost), and an observer that falls too far behind is closed (4008)
 * with the offset it got to, from which it can resume.
 */
export class TerminalShare {
  private readonly replay: ReplayBuffer;
  private readonly clients = new Set<AttachClient>();
  private driver: AttachClient | undefined;
  private paused = false;
  /** Output not yet sent to the clients, and the terminal offset of its first byte. */
  private batch: Buffer[] = [];
  private batchStart = 0;
  private scheduled = false;
  private lastFlushAt = 0;
  /** The driver typed since the last flush: it gets output without waiting for the batch. */
  private echoDue = false;
  private driverScheduled = false;
  private joined = 0;
  private readonly stopTap: () => void;
  private ended = false;
  /** A resize is under way; `nextResize` is the size asked for since. */
  private resizing = false;
  private nextResize: PendingResize | undefined;

  constructor(
    readonly tap: TerminalTap,
    private readonly limits: ShareLimits,
    private readonly resize: (cols: number, rows: number) => Promise<void>,
  ) {
    this.replay = new ReplayBuffer(limits.replayBytes);
    this.stopTap = tap.onData((data) => this.onData(data));
  }

  /** The replayable range of terminal offsets. */
  get range(): { start: number; end: number } {
    return { start: this.replay.start, end: this.replay.end };
  }

  get clientCount(): number {
    return this.clients.size;
  }

  /**
   * Adds a client: it is told its role and the replay range, gets the replay, then live output.
   * @throws RangeError when `offset` is outside the replay range (the route checks first)
   */
  join(socket: WebSocket, options: JoinOptions): void {
    const offset = options.offset ?? this.replay.start;
    if (offset < this.replay.start || offset > this.replay.end) throw new RangeError(`offset ${offset} is outside ${this.replay.start}–${this.replay.end}`);
    const client = new AttachClient(socket, options.mayDrive, this.joined++, offset);
    this.clients.add(client);
    if (client.mayDrive && !this.driver) this.setDriver(client, false);
    this.answer(client, { type: "hello", role: client.role, offset, end: this.replay.end, cols: this.tap.cols, rows: this.tap.rows });
    const backlog = this.replay.from(offset);
    if (backlog.length) this.send(client, backlog);
    socket.on("message", (data: Buffer, isBinary: boolean) => this.onFrame(client, data, isBinary));
    socket.once("close", () => this.leave(client));
  }

  /** Closes every client (the session stopped, or the server is closing) and lets go of the tap. */
  end(code: number, reason: string): void {
    if (this.ended) return;
    this.ended = true;
    this.stopTap();
    if (this.paused) this.setPaused(false);
    this.flush();
    for (const client of this.clients) client.socket.close(code, reason);
    this.clients.clear();
  }

  private onData(data: Buffer): void {
    // Listeners run in the tap's read path: copy (the tap may reuse its buffer), queue, return.
    const own = Buffer.from(data);
    if (this.clients.size > 0) {
      if (this.batch.length === 0) this.batchStart = this.replay.end;
      this.batch.push(own);
      this.schedule();
    }
    this.replay.push(own);
  }

  /** Flushes on the next turn when the last flush is `batchMs` old, else when it will be. */
  private schedule(): void {
    if (this.echoDue) this.scheduleDriver();
    if (this.scheduled) return;
    this.scheduled = true;
    const wait = this.lastFlushAt + this.limits.batchMs - performance.now();
    if (wait > 0) setTimeout(this.flush, wait);
    else setImmediate(this.flush);
  }

  private scheduleDriver(): void {
    if (this.driverScheduled) return;
    this.driverScheduled = true;
    setImmediate(this.flushDriver);
  }

  /** Every client gets the batch (from where it is), which then starts over. */
  private readonly flush = (): void => {
    this.scheduled = false;
    if (this.batch.length === 0) return;
    this.lastFlushAt = performance.now();
    this.echoDue = false;
    const frame = this.joinedBatch();
    this.batch = [];
    for (const client of this.clients) this.deliverFrom(client, frame);
  };

  /** The driver alone gets the batch so far; the others get it with the next flush. */
  private readonly flushDriver = (): void => {
    this.driverScheduled = false;
    if (this.driver && this.batch.length) this.deliverFrom(this.driver, this.joinedBatch());
  };

  /** The batch as one buffer, joined once however many clients it goes to. */
  private joinedBatch(): Buffer {
    if (this.batch.length > 1) this.batch = [Buffer.concat(this.batch)];
    return this.batch[0]!;
  }

  /** Delivers the part of a batch `frame` the client has not had (one that joined or typed during it had some). */
  private deliverFrom(client: AttachClient, frame: Buffer): void {
    const skip = client.sent - this.batchStart;
    if (skip < frame.length) this.deliver(client, skip > 0 ? frame.subarray(skip) : frame);
  }

  private deliver(client: AttachClient, frame: Buffer): void {
    if (client.gone) return;
    if (client.role === "observer" && this.fallenBehind(client, frame.length)) return this.cutOff(client);
    this.send(client, frame);
  }

  /**
   * Sends `message` (a JSON text frame) unless the client does not read what it is sent: a client
   * that sends frames, each answered, and reads nothing would otherwise grow the server's memory
   * by one answer a frame. Such a client, driver or observer, is cut off like a slow observer.
   */
  private answer(client: AttachClient, message: object): void {
    if (client.gone) return;
    const text = JSON.stringify(message);
    if (this.fallenBehind(client, text.length)) return this.cutOff(client);
    if (client.socket.readyState === client.socket.OPEN) client.socket.send(text);
  }

  private fallenBehind(client: AttachClient, more: number): boolean {
    return client.socket.bufferedAmount + more > this.limits.observerMaxBufferedBytes;
  }

  /**
   * Too far behind: cut off. The socket still delivers what it holds, then the close, so the
   * client has exactly the bytes up to `sent` and resumes with ?offset=sent.
   */
  private cutOff(client: AttachClient): void {
    this.leave(client);
    closeSocket(client.socket, SLOW_CONSUMER_CODE, `slow_consumer offset=${client.sent}`);
  }

  private send(client: AttachClient, frame: Buffer): void {
    if (client.socket.readyState !== client.socket.OPEN) return;
    client.sent += frame.length;
    client.socket.send(frame, { binary: true }, () => {
      // Written out: if this was the driver holding the shell back, let it go on below half the mark.
      if (this.paused && client === this.driver && client.socket.bufferedAmount < this.limits.driverHighWaterBytes / 2) this.setPaused(false);
    });
    if (client === this.driver && !this.paused && client.socket.bufferedAmount > this.limits.driverHighWaterBytes) this.setPaused(true);
  }

  private setPaused(paused: boolean): void {
    if (paused === this.paused) return;
    this.paused = paused;
    if (paused) this.tap.pause();
    else this.tap.resume();
  }

  private onFrame(client: AttachClient, data: Buffer, isBinary: boolean): void {
    if (client.gone) return;
    if (isBinary) {
      if (client.role !== "driver") return this.refuse(client, "only the driver types; send {\"type\":\"takeover\"} first");
      if (!this.tap.write(data)) {
        // Told once until keystrokes are taken again: the frames refused meanwhile get no answer each.
        if (client.toldInputFull) return;
        client.toldInputFull = true;
        return this.answer(client, { type: "error", code: "rate_limited", status: 429, message: "the terminal is not reading its input, and what was typed before still waits: keystrokes are not taken until it reads" });
      }
      client.toldInputFull = false;
      // The driver sees its echo at once, not at the end of a flood's batch window: until the
      // next flush, its output goes to it on the next turn of the event loop.
      this.echoDue = true;
      this.scheduleDriver();
      return;
    }
    let message: unknown;
    try {
      message = JSON.parse(data.toString("utf8"));
    } catch {
      return this.badFrame(client, "a text frame must be JSON");
    }
    const m = message as { type?: unknown; cols?: unknown; rows?: unknown };
    if (typeof message !== "object" || message === null || Array.isArray(message)) return this.badFrame(client, "a text frame must be a JSON object");
    switch (m.type) {
      case "resize": {
        if (!isSize(m.cols) || !isSize(m.rows)) return this.badFrame(client, "resize needs integer cols and rows from 1 to 10000");
        if (client.role !== "driver") return this.refuse(client, "only the driver resizes");
        const { cols, rows } = m as { cols: number; rows: number };
        return this.requestResize({ cols, rows, client });
      }
      case "takeover":
        if (!client.mayDrive) return this.refuse(client, "this connection may not drive: it joined with role=observer, or its token may not run commands");
        if (this.driver !== client) this.setDriver(client, true);
        return;
      default:
        return this.badFrame(client, 'unknown type; expected "resize" or "takeover"');
    }
  }

  /**
   * Resizes the terminal, one resize at a time: asked for while one is under way, only the
   * latest size waits its turn (a driver sending resize frames as fast as it can costs one
   * resize at a time, not a resize and a broadcast a frame). The size it has already is no change.
   */
  private requestResize(size: PendingResize): void {
    if (this.resizing) {
      this.nextResize = size;
      return;
    }
    if (size.cols === this.tap.cols && size.rows === this.tap.rows) return;
    this.resizing = true;
    const { cols, rows, client } = size;
    this.resize(cols, rows)
      .then(
        () => this.broadcast({ type: "resize", cols, rows }),
        (err: Error) => this.answer(client, { type: "error", code: "conflict", status: 409, message: err.message }),
      )
      .finally(() => {
        this.resizing = false;
        const next = this.nextResize;
        this.nextResize = undefined;
        if (next && !next.client.gone) this.requestResize(next);
      });
  }

  private setDriver(client: AttachClient, announce: boolean): void {
    const previous = this.driver;
    if (previous && previous !== client) {
      previous.role = "observer";
      this.answer(previous, { type: "role", role: "observer" });
    }
    if (this.paused) this.setPaused(false);
    this.driver = client;
    client.role = "driver";
    if (announce) this.answer(client, { type: "role", role: "driver" });
  }

  private leave(client: AttachClient): void {
    client.gone = true;
    this.clients.delete(client);
    if (this.driver !== client) return;
    this.driver = undefined;
    if (this.paused) this.setPaused(false);
    // The longest-connected client that may drive takes the wheel.
    let next: AttachClient | undefined;
    for (const c of this.clients) if (c.mayDrive && (!next || c.order < next.order)) next = c;
    if (next) this.setDriver(next, true);
  }

  private refuse(client: AttachClient, message: string): void {
    this.answer(client, { type: "error", code: "forbidden", status: 403, message });
  }

  private badFrame(client: AttachClient, why: string): void {
    client.gone = true;
    this.clients.delete(client);
    closeSocket(client.socket, ATTACH_BAD_FRAME_CODE, `bad_frame: ${why}`);
  }

  private broadcast(message: object): void {
    for (const client of this.clients) this.answer(client, message);
  }
}

function isSize(v: unknown): v is number {
  return typeof v === "number" && Number.isInteger(v) && v >= 1 && v <= 10_000;
}
