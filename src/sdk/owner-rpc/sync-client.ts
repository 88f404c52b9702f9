import { MessageChannel, type MessagePort, Worker, receiveMessageOnPort } from "node:worker_threads";
import type { OwnerArgs, OwnerOp, OwnerReply } from "./wire.js";
import type { ChannelFailure } from "./client.js";

/** An answer from the owner, or why none came. */
export type SyncOutcome = { reply: OwnerReply } | { failure: ChannelFailure };

/**
 * The worker's side: one connection to the owner's channel, one call at a time; plain Node, no
 * loader, so it runs the same from the built package and from source under a TypeScript runner.
 * It signals the waiting thread through shared memory once the outcome is posted.
 */
const WORKER_SOURCE = `
const { workerData } = require("node:worker_threads");
const net = require("node:net");
const { StringDecoder } = require("node:string_decoder");
const { port, signal, path } = workerData;
const flag = new Int32Array(signal);
let socket;
let pending;
let buffered = "";
function settle(outcome) {
  const call = pending;
  pending = undefined;
  if (!call) return;
  port.postMessage({ id: call.id, outcome });
  Atomics.store(flag, 0, 1);
  Atomics.notify(flag, 0);
}
function open() {
  return new Promise((resolve, reject) => {
    const s = net.connect(path);
    // Keeps a character whose bytes arrive in two chunks whole.
    const decoder = new StringDecoder("utf8");
    s.once("connect", () => {
      s.removeAllListeners("error");
      s.on("error", () => undefined);
      s.on("data", (chunk) => {
        buffered += decoder.write(chunk);
        const end = buffered.indexOf("\\n");
        if (end < 0) return;
        const line = buffered.slice(0, end);
        buffered = buffered.slice(end + 1);
        settle({ reply: JSON.parse(line) });
      });
      s.once("close", () => {
        if (socket === s) socket = undefined;
        settle({ failure: { kind: "lost", reason: "the connection closed" } });
      });
      resolve(s);
    });
    s.once("error", (err) => reject(err));
  });
}
port.on("message", async (call) => {
  pending = call;
  try {
    socket ??= await open();
  } catch (err) {
    settle({ failure: { kind: "not_sent", code: err.code || err.message } });
    return;
  }
  socket.write(JSON.stringify({ id: call.id, op: call.op, args: call.args }) + "\\n");
});
`;

/**
 * Synchronous calls on the owner's write channel: the calling thread blocks (Atomics.wait) while a
 * worker thread makes the call. For seed 004's synchronous writes (`removeSession`,
 * `cleanupSessions`, `configureWebhook`) in a process that sends its writes to another. The worker
 * starts on first use and never keeps the process alive.
 */
export class SyncOwnerChannel {
  private worker: Worker | undefined;
  private port: MessagePort | undefined;
  private readonly signal = new Int32Array(new SharedArrayBuffer(4));
  private nextId = 0;

  constructor(private readonly path: string) {}

  call<K extends OwnerOp>(op: K, args: OwnerArgs[K], timeoutMs: number): SyncOutcome {
    const port = this.start();
    const id = ++this.nextId;
    Atomics.store(this.signal, 0, 0);
    port.postMessage({ id, op, args });
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const message = receiveMessageOnPort(port)?.message as { id: number; outcome: SyncOutcome } | undefined;
      if (message?.id === id) return message.outcome;
      if (message) continue; // The outcome of an earlier call that timed out.
      const left = deadline - Date.now();
      if (left <= 0) {
        // The worker may still be waiting on that call: a fresh one for the next.
        this.close();
        return { failure: { kind: "timed_out" } };
      }
      Atomics.wait(this.signal, 0, 0, left);
      Atomics.store(this.signal, 0, 0);
    }
  }

  close(): void {
    this.port?.close();
    void this.worker?.terminate();
    this.worker = undefined;
    this.port = undefined;
  }

  private start(): MessagePort {
    if (this.port) return this.port;
    const { port1, port2 } = new MessageChannel();
    this.worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: { port: port2, signal: this.signal.buffer, path: this.path },
      transferList: [port2],
    });
    this.worker.unref();
    port1.unref();
    this.port = port1;
    return port1;
  }
}
