import { type Socket, connect } from "node:net";
import { ERROR_CODES, type SessiondError } from "../../core/index.js";
import { errorFromWire } from "../client/errors.js";
import { LineReader, type OwnerArgs, type OwnerOp, type OwnerReply } from "./wire.js";

/** Why a call got no answer: it never reached an owner (safe to send again), it timed out, or the owner went away with it. */
export type ChannelFailure = { kind: "not_sent"; code: string } | { kind: "timed_out" } | { kind: "lost"; reason: string };

/** Thrown by `OwnerChannelClient.call` when no answer came; the caller words it (it knows the owner). */
export class ChannelError extends Error {
  constructor(readonly failure: ChannelFailure) {
    super(failure.kind === "not_sent" ? `not sent (${failure.code})` : failure.kind === "timed_out" ? "timed out" : `lost: ${failure.reason}`);
  }
}

interface Pending {
  resolve(value: unknown): void;
  reject(err: Error): void;
  timer: NodeJS.Timeout;
}

/**
 * One connection to the owner's write channel (./wire.ts), opened on first use and again after
 * it drops; calls on it are answered in any order, matched by id. Nothing here keeps the
 * process alive but a call waiting for its answer.
 */
export class OwnerChannelClient {
  private socket: Socket | undefined;
  private connecting: Promise<Socket> | undefined;
  private readonly pending = new Map<number, Pending>();
  private nextId = 0;

  constructor(
    private readonly path: string,
    private readonly maxLineBytes: number,
  ) {}

  /**
   * @throws the owner's SessiondError for a call it refused; ChannelError when no answer came
   */
  async call<K extends OwnerOp>(op: K, args: OwnerArgs[K], timeoutMs: number): Promise<unknown> {
    const socket = await this.connection();
    const id = ++this.nextId;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        this.settle();
        reject(new ChannelError({ kind: "timed_out" }));
      }, timeoutMs);
      this.pending.set(id, { resolve, reject, timer });
      socket.ref();
      socket.write(`${JSON.stringify({ id, op, args })}\n`);
    });
  }

  close(): void {
    this.socket?.destroy();
    this.socket = undefined;
  }

  private connection(): Promise<Socket> {
    if (this.socket && !this.socket.destroyed) return Promise.resolve(this.socket);
    this.connecting ??= new Promise<Socket>((resolve, reject) => {
      const socket = connect(this.path);
      socket.once("connect", () => {
        socket.off("error", refused);
        this.attach(socket);
        resolve(socket);
      });
      const refused = (err: NodeJS.ErrnoException) => reject(new ChannelError({ kind: "not_sent", code: err.code ?? err.message }));
      socket.once("error", refused);
    }).finally(() => {
      this.connecting = undefined;
    });
    return this.connecting;
  }

  private attach(socket: Socket): void {
    this.socket = socket;
    socket.setNoDelay(true);
    socket.unref();
    const reader = new LineReader(this.maxLineBytes);
    socket.on("data", (chunk: Buffer) => {
      let lines: string[];
      try {
        lines = reader.push(chunk);
      } catch (err) {
        socket.destroy(err as Error);
        return;
      }
      for (const line of lines) this.deliver(JSON.parse(line) as OwnerReply);
    });
    socket.on("error", () => undefined);
    socket.once("close", () => {
      if (this.socket === socket) this.socket = undefined;
      // Sent and unanswered: the owner may have applied them before it went.
      for (const [id, call] of this.pending) {
        clearTimeout(call.timer);
        this.pending.delete(id);
        call.reject(new ChannelError({ kind: "lost", reason: "the connection closed" }));
      }
    });
  }

  private deliver(reply: OwnerReply): void {
    const call = this.pending.get(reply.id);
    if (!call) return; // Answered after its caller gave up.
    this.pending.delete(reply.id);
    clearTimeout(call.timer);
    this.settle();
    if ("error" in reply) {
      const err: SessiondError = errorFromWire(statusOf(reply.error.code), { error: reply.error });
      call.reject(err);
    } else {
      call.resolve(reply.result);
    }
  }

  /** With nothing waiting, the connection no longer holds the process open. */
  private settle(): void {
    if (this.pending.size === 0) this.socket?.unref();
  }
}

/** The HTTP status a code maps to, which errorFromWire uses for codes it does not know. */
export function statusOf(code: string): number {
  return (ERROR_CODES as Record<string, { status: number } | undefined>)[code]?.status ?? 500;
}
