import { createServer, type Server } from "node:http";
import type { Server as NetServer } from "node:net";
import { chmodSync } from "node:fs";
import { unlink } from "node:fs/promises";
import type { FastifyInstance } from "fastify";
import { markLocal } from "./auth/index.js";
import { installRawErrors } from "./client-error.js";

/**
 * A second HTTP server for the Unix socket, feeding the same Fastify routes, WebSocket upgrades
 * included (handed to the TCP server's upgrade listener, where @fastify/websocket routes them).
 * Its requests are marked local: the socket file's 0600 mode is their authentication; what its
 * HTTP parser refuses is answered in the one error shape, as on TCP. Not
 * listening yet; the caller listens (after `removeStaleSocket`) and closes it.
 */
export function createUnixSocketServer(app: FastifyInstance): Server {
  const server = createServer((req, res) => {
    markLocal(req);
    app.routing(req, res);
  });
  server.on("upgrade", (req, socket, head) => {
    markLocal(req);
    app.server.emit("upgrade", req, socket, head);
  });
  installRawErrors(server, app.log, { clientErrors: true });
  server.keepAliveTimeout = app.server.keepAliveTimeout;
  server.requestTimeout = app.server.requestTimeout;
  return server;
}

/**
 * Removes a socket file left by an owner that died. Only the data dir's owner calls it (it holds
 * the owner lock), so whatever socket file is there answers for nobody.
 */
export async function removeStaleSocket(path: string): Promise<void> {
  await unlink(path).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== "ENOENT") throw err;
  });
}

/** Listens on the socket path, 0600 from the moment the file exists (the mode is its authentication). */
export async function listenOnSocket(server: NetServer, path: string): Promise<void> {
  // The umask makes the socket 0600 from the moment it exists; the chmod makes sure of it.
  const previous = process.umask(0o177);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(path, () => {
        server.off("error", reject);
        resolve();
      });
    });
  } finally {
    process.umask(previous);
  }
  chmodSync(path, 0o600);
}
