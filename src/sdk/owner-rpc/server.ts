import { type Server, type Socket, createServer } from "node:net";
import { type Config, isSessiondError } from "../../core/index.js";
import type { SessionManager } from "../../engine/index.js";
import { listenOnSocket, removeStaleSocket } from "../../server/unix-socket.js";
import { checkArgs } from "./args.js";
import { LineReader, OWNER_OPS, type OwnerArgs, type OwnerOp, type OwnerReply, type OwnerRequest } from "./wire.js";

type Handlers = { [K in OwnerOp]: (args: OwnerArgs[K]) => Promise<unknown> };

/** Each op as the engine call it is: the owner's own embedded API makes the same ones. */
function handlers(manager: SessionManager): Handlers {
  return {
    create: ({ input }) => manager.create(input),
    pause: ({ ref, reason }) => manager.pause(ref, reason),
    resume: ({ ref }) => manager.resume(ref),
    complete: ({ ref, result }) => manager.complete(ref, result),
    fail: ({ ref, error }) => manager.fail(ref, error),
    incrementIteration: ({ ref, data }) => manager.incrementIteration(ref, data),
    recordToolCall: ({ ref, tool, args, result, outcome }) => manager.recordToolCall(ref, tool, args, result, outcome ?? {}),
    appendEvent: ({ ref, type, data }) => manager.appendEvent(ref, type, data),
    mergeContext: ({ ref, patch }) => manager.updateContext(ref, patch, { merge: true }),
    delete: ({ ref }) =>
      manager.delete(ref).then(
        () => true,
        (err: unknown) => {
          if (isSessiondError(err, "not_found")) return false;
          throw err;
        },
      ),
    cleanup: ({ olderThanDays }) => manager.cleanup(olderThanDays),
    putWebhook: ({ webhook }) => manager.putWebhook(webhook).then(() => webhook),
    createCheckpoint: ({ ref, label, data, with_files }) => manager.createCheckpoint(ref, { label, data, ...(with_files ? { with_files } : {}) }),
  };
}

/** The owner's write channel, listening; `close` stops it and removes the socket file. */
export interface OwnerChannel {
  close(): Promise<void>;
}

/**
 * What the channel holds for its clients at most (src/core/config.ts): the longest line it reads
 * (`bodyLimitBytes`, as the HTTP server's largest body), its connections, and per connection the
 * calls started and not answered and the answers not yet read.
 */
export type OwnerChannelLimits = Pick<Config, "bodyLimitBytes" | "ownerMaxConnections" | "ownerMaxCallsInFlight" | "ownerMaxBufferedBytes">;

/**
 * Serves the write channel (./wire.ts) on `path` for the data dir's owner. The socket file's 0600
 * mode is its authentication, as for `sessiond.sock`. A malformed or oversized line closes that
 * connection; arguments of the wrong type are refused (`validation`, naming the field); an engine
 * error goes back as the error it is.
 *
 * A client is read only as fast as it reads its answers: the owner stops reading a connection
 * while its answers wait in the socket buffer or `ownerMaxCallsInFlight` of its calls are under
 * way, and closes one whose unread answers pass `ownerMaxBufferedBytes`.
 */
export async function serveOwnerChannel(manager: SessionManager, path: string, limits: OwnerChannelLimits): Promise<OwnerChannel> {
  const calls = handlers(manager);
  const connections = new Set<Socket>();
  const server: Server = createServer((socket) => {
    connections.add(socket);
    socket.once("close", () => connections.delete(socket));
    serveConnection(socket, calls, limits);
  });
  server.maxConnections = limits.ownerMaxConnections;
  await removeStaleSocket(path);
  await listenOnSocket(server, path);
  // What a listening server reports is a failed accept (EMFILE when the process is out of file
  // descriptors, under a flood of connections): unheard, it would end the owner. It keeps
  // listening, and accepts again once descriptors are free.
  server.on("error", () => undefined);
  server.unref();
  return {
    async close() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const socket of connections) socket.destroy();
      });
      await removeStaleSocket(path);
    },
  };
}

/** One client's connection: its lines in, its answers out, read no faster than it reads. */
function serveConnection(socket: Socket, calls: Handlers, limits: OwnerChannelLimits): void {
  socket.on("error", () => socket.destroy());
  // A client's open connection must not keep an embedded owner's program running.
  socket.unref();
  const reader = new LineReader(limits.bodyLimitBytes);
  // Lines read and not started yet: at most what one chunk held, since reading stops while any wait.
  let waiting: string[] = [];
  let next = 0;
  let inFlight = 0;
  let answersUnread = false;

  const flow = (): void => {
    while (next < waiting.length && inFlight < limits.ownerMaxCallsInFlight && !answersUnread && !socket.destroyed) start(waiting[next++]!);
    if (next === waiting.length) {
      waiting = [];
      next = 0;
    }
    if (socket.destroyed) return;
    if (answersUnread || waiting.length > 0 || inFlight >= limits.ownerMaxCallsInFlight) socket.pause();
    else socket.resume();
  };

  const start = (line: string): void => {
    const request = parseRequest(line);
    if (!request) {
      socket.destroy();
      return;
    }
    inFlight++;
    void answer(calls, request).then((reply) => {
      inFlight--;
      if (socket.destroyed) return;
      if (!socket.write(`${JSON.stringify(reply)}\n`)) answersUnread = true;
      // Calls under way when the client stopped reading still answer into the buffer.
      if (socket.writableLength > limits.ownerMaxBufferedBytes) {
        socket.destroy();
        return;
      }
      flow();
    });
  };

  socket.on("drain", () => {
    answersUnread = false;
    flow();
  });
  socket.on("data", (chunk: Buffer) => {
    let lines: string[];
    try {
      lines = reader.push(chunk);
    } catch {
      socket.destroy();
      return;
    }
    for (const line of lines) waiting.push(line);
    flow();
  });
}

function parseRequest(line: string): OwnerRequest | undefined {
  try {
    const request = JSON.parse(line) as OwnerRequest;
    if (!Number.isSafeInteger(request.id) || !OWNER_OPS.includes(request.op) || typeof request.args !== "object" || request.args === null) return undefined;
    return request;
  } catch {
    return undefined;
  }
}

async function answer(calls: Handlers, { id, op, args }: OwnerRequest): Promise<OwnerReply> {
  try {
    return { id, result: await (calls[op] as (a: unknown) => Promise<unknown>)(checkArgs(op, args)) };
  } catch (err) {
    return { id, error: isSessiondError(err) ? err.toJSON().error : { code: "internal", message: err instanceof Error ? err.message : String(err) } };
  }
}
