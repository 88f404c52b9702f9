import type { IncomingMessage } from "node:http";

const LOCAL = Symbol("sessiond.local-socket");

/** Marks a request as having arrived on the Unix socket, whose 0600 mode is its authentication. */
export function markLocal(req: IncomingMessage): void {
  (req as IncomingMessage & { [LOCAL]?: true })[LOCAL] = true;
}

/** True when the request arrived on the Unix socket. */
export function isLocal(req: IncomingMessage): boolean {
  return (req as IncomingMessage & { [LOCAL]?: true })[LOCAL] === true;
}
