import type { IncomingHttpHeaders } from "node:http";

/** Names the node that answered; on every answer of a cluster member (docs/scale-out.md). */
export const NODE_HEADER = "x-sessiond-node";

/**
 * Added to a request a node forwards, naming that node: the node receiving it forwards it no
 * further, so two nodes that disagree for a moment about an owner cannot pass a request back and
 * forth.
 */
export const FORWARDED_BY_HEADER = "x-sessiond-forwarded-by";

/** On a cluster-wide read (GET /session/list): the live nodes left out, comma-separated, because they did not answer in time. */
export const NODES_MISSING_HEADER = "x-sessiond-nodes-missing";

/**
 * Headers of one hop (RFC 9110 §7.6.1), plus `expect`: Node has already answered a client's
 * `100-continue`, and the forwarded request's body is sent without waiting.
 */
const HOP_BY_HOP = ["connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade", "http2-settings", "expect"];

/**
 * The headers a forwarded request carries: the client's, less those of its hop (and those its
 * Connection header names), with this node as the forwarder.
 * @param options.authorization replaces the client's Authorization: for the local admin, whose
 *   requests (the Unix socket, a server without auth) need no token here but do on the owner
 */
export function forwardedRequestHeaders(
  headers: IncomingHttpHeaders,
  options: { readonly nodeName: string; readonly authorization: string | undefined; readonly bodyless: boolean },
): Record<string, string | string[] | undefined> {
  const out: Record<string, string | string[] | undefined> = { ...headers };
  dropHopByHop(out, headers.connection);
  // A GET's or HEAD's body is not read here (nor by the route it is forwarded to): not sent on.
  if (options.bodyless) delete out["content-length"];
  if (options.authorization !== undefined) out.authorization = options.authorization;
  out[FORWARDED_BY_HEADER] = options.nodeName;
  return out;
}

/**
 * A request target in origin form (`/path?query`), as it is sent on to the owner. A client may
 * send the absolute form (`GET http://host/path`, RFC 9112 §3.2.2), which Node passes on as the
 * request's url and the routes match by its path: only that path and query go on, never the host
 * the client named.
 * @throws TypeError when the target is neither form
 */
export function originForm(target: string): string {
  if (target.startsWith("/")) return target;
  const url = new URL(target);
  return `${url.pathname}${url.search}`;
}

/** An owner's answer headers as this node relays them: without those of the hop between the two nodes. */
export function relayedResponseHeaders(headers: IncomingHttpHeaders): Record<string, string | string[] | undefined> {
  const out: Record<string, string | string[] | undefined> = { ...headers };
  dropHopByHop(out, headers.connection);
  return out;
}

function dropHopByHop(headers: Record<string, unknown>, connection: string | string[] | undefined): void {
  for (const name of HOP_BY_HOP) delete headers[name];
  for (const value of [connection ?? []].flat()) {
    for (const token of value.split(",")) {
      const name = token.trim().toLowerCase();
      if (name !== "") delete headers[name];
    }
  }
}
