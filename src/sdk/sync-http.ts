import { MessageChannel, type MessagePort, Worker, receiveMessageOnPort } from "node:worker_threads";

/** One request to a server on a Unix socket. */
export interface SyncRequest {
  method: string;
  path: string;
  body?: unknown;
}

/** Its answer, or why there was none. */
export type SyncReply =
  | { status: number; body: string }
  /** `sent: false` when the request never reached the server (nothing listened), so it may be sent again. */
  | { error: string; code?: string; sent: boolean }
  | { timedOut: true };

/**
 * The request, in a worker thread of its own: plain Node, no loader, so it runs the same from the
 * built package and from source under a TypeScript runner. It signals the waiting thread through
 * shared memory once the answer is posted.
 */
const WORKER_SOURCE = `
const { workerData } = require("node:worker_threads");
const http = require("node:http");
const { port, signal, socketPath } = workerData;
const flag = new Int32Array(signal);
function answer(id, reply) {
  port.postMessage({ id, reply });
  Atomics.store(flag, 0, 1);
  Atomics.notify(flag, 0);
}
port.on("message", ({ id, method, path, body }) => {
  let connected = false;
  const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
  const headers = payload ? { "content-type": "application/json", "content-length": payload.length } : {};
  const req = http.request({ socketPath, method, path, headers }, (res) => {
    const chunks = [];
    res.on("data", (c) => chunks.push(c));
    res.on("end", () => answer(id, { status: res.statusCode, body: Buffer.concat(chunks).toString("utf8") }));
    res.on("error", (err) => answer(id, { error: err.message, code: err.code, sent: true }));
  });
  req.on("socket", (s) => s.on("connect", () => { connected = true; }));
  req.on("error", (err) => answer(id, { error: err.message, code: err.code, sent: connected }));
  req.end(payload);
});
`;

/**
 * Synchronous HTTP over a Unix socket: the calling thread blocks (Atomics.wait) while a worker
 * thread does the request. For the few seed 004 functions that write synchronously
 * (`removeSession`, `cleanupSessions`, `configureWebhook`) in a process that must send its writes
 * to another. The worker is started on first use and never keeps the process alive.
 */
export class SyncHttp {
  private worker: Worker | undefined;
  private port: MessagePort | undefined;
  private readonly signal = new Int32Array(new SharedArrayBuffer(4));
  private nextId = 0;

  constructor(private readonly socketPath: string) {}

  request(request: SyncRequest, timeoutMs: number): SyncReply {
    const port = this.start();
    const id = ++this.nextId;
    Atomics.store(this.signal, 0, 0);
    port.postMessage({ id, ...request });
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const message = receiveMessageOnPort(port)?.message as { id: number; reply: SyncReply } | undefined;
      // An answer to an earlier request that timed out is dropped.
      if (message?.id === id) return message.reply;
      if (message) continue;
      const left = deadline - Date.now();
      if (left <= 0) return { timedOut: true };
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
      workerData: { port: port2, signal: this.signal.buffer, socketPath: this.socketPath },
      transferList: [port2],
    });
    this.worker.unref();
    port1.unref();
    this.port = port1;
    return port1;
  }
}
