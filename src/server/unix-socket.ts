import { createServer, type Server } from "node:http";
import { connect } from "node:net";
import { unlink } from "node:fs/promises";
import type { FastifyInstance } from "fastify";
import { markLocal } from "./auth/index.js";
import { installRawErrors } from "./client-error.js";

/**
 * A second HTTP server for the Unix socket, feeding the same Fastify routes, WebSocket upgrades
 * included (handed to the TCP server's upgrade listener, where @fastify/websocket routes them).
 * Its requests are marked local: the socket file's 0600 mode is their authentication; what its
 * HTTP parser refuses is answered in the one error shape, as on TCP. Not
 * listening yet; the caller listens (after `prepareSocketPath`) and closes it.
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
 * Clears the way to listen on `path`: a socket file left by a server that died is removed; one
 * that a live server answers on is an error (two servers must not share a data dir).
 * @throws Error when another server is listening there
 */
export async function prepareSocketPath(path: string): Promise<void> {
  const live = await new Promise<boolean>((resolve) => {
    const probe = connect(path);
    probe.once("connect", () => {
      probe.destroy();
      resolve(true);
    });
    probe.once("error", () => resolve(false));
  });
  if (live) throw new Error(`another sessiond is already listening on ${path}`);
  await unlink(path).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== "ENOENT") throw err;
  });
}
