import { type Server, type Socket, createServer } from "node:net";
import { isSessiondError } from "../../core/index.js";
import type { SessionManager } from "../../engine/index.js";
import { listenOnSocket, removeStaleSocket } from "../../server/unix-socket.js";
import { LineReader, OWNER_OPS, type OwnerArgs, type OwnerOp, type OwnerReply, type OwnerRequest } from "./wire.js";

/** Each op as the engine call it is: the owner's own embedded API makes the same ones. */
function handlers(manager: SessionManager): { [K in OwnerOp]: (args: OwnerArgs[K]) => Promise<unknown> } {
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
  };
}

/** The owner's write channel, listening; `close` stops it and removes the socket file. */
export interface OwnerChannel {
  close(): Promise<void>;
}

/**
 * Serves the write channel (./wire.ts) on `path` for the data dir's owner. The socket file's 0600
 * mode is its authentication, as for `sessiond.sock`. A malformed or oversized line closes that
 * connection; an engine error goes back as the error it is.
 */
export async function serveOwnerChannel(manager: SessionManager, path: string, maxLineChars: number): Promise<OwnerChannel> {
  const calls = handlers(manager);
  const connections = new Set<Socket>();
  const server: Server = createServer((socket) => {
    connections.add(socket);
    socket.once("close", () => connections.delete(socket));
    // A client's open connection must not keep an embedded owner's program running.
    socket.unref();
    const reader = new LineReader(maxLineChars);
    socket.on("data", (chunk: Buffer) => {
      let lines: string[];
      try {
        lines = reader.push(chunk);
      } catch {
        socket.destroy();
        return;
      }
      for (const line of lines) {
        const request = parseRequest(line);
        if (!request) {
          socket.destroy();
          return;
        }
        void answer(calls, request).then((reply) => {
          if (!socket.destroyed) socket.write(`${JSON.stringify(reply)}\n`);
        });
      }
    });
    socket.on("error", () => socket.destroy());
  });
  await removeStaleSocket(path);
  await listenOnSocket(server, path);
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

function parseRequest(line: string): OwnerRequest | undefined {
  try {
    const request = JSON.parse(line) as OwnerRequest;
    if (!Number.isSafeInteger(request.id) || !OWNER_OPS.includes(request.op) || typeof request.args !== "object" || request.args === null) return undefined;
    return request;
  } catch {
    return undefined;
  }
}

async function answer(calls: ReturnType<typeof handlers>, { id, op, args }: OwnerRequest): Promise<OwnerReply> {
  try {
    return { id, result: await (calls[op] as (a: unknown) => Promise<unknown>)(args) };
  } catch (err) {
    return { id, error: isSessiondError(err) ? err.toJSON().error : { code: "internal", message: err instanceof Error ? err.message : String(err) } };
  }
}
