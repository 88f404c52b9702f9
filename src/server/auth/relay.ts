import type { FastifyRequest } from "fastify";
import { LOCAL_ADMIN } from "./principal.js";

/**
 * The Authorization header that makes a request of this server's own (an MCP tool's route call,
 * a cluster-wide read of the peers) the request's principal again: the admin token for the local
 * admin (the Unix socket, a server without auth), else the bearer header the request came with.
 * Undefined when the principal was established some other way (a WebSocket subprotocol), which
 * cannot be relayed: never the admin's token for anyone but the local admin.
 */
export function relayedAuthorization(request: FastifyRequest, adminToken: string): string | undefined {
  if (request.principal === LOCAL_ADMIN) return `Bearer ${adminToken}`;
  return request.headers.authorization;
}
