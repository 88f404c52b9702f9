import type { FastifyInstance, FastifyRequest } from "fastify";
import { type Config, SessiondError } from "../../core/index.js";
import { FORWARDED_BY_HEADER } from "../cluster/headers.js";
import { isLocal } from "./local-socket.js";
import { isLoopback } from "./loopback.js";

/** What the checks of a request's origin need to know. */
export interface OriginCheckOptions {
  readonly config: Pick<Config, "auth" | "host" | "allowedOrigins">;
  /**
   * Whether the server is a node of a cluster: a request another node forwarded carries the
   * browser's Origin with this node's Host, and that node checked it already.
   */
  readonly cluster: boolean;
}

/**
 * Refuses requests a web page of another site makes a browser send (docs/security.md#requests-from-other-sites):
 *
 * - **Origin**: a request carrying an `Origin` header (browsers send one with every POST,
 *   cross-site fetch and WebSocket, and never let a page change it) is refused 403 `forbidden`
 *   (field `origin`) unless the origin is the server's own — its host and port those of the
 *   `Host` header — or listed in config `allowedOrigins`. Curl, the SDK and the CLI send none.
 *   The scheme is not compared: sessiond speaks plain HTTP, and behind a TLS proxy its pages'
 *   origin is `https://` while the request arrives as `http://`; no other site can be served
 *   from the same host and port.
 * - **Host**, with auth off only: a `Host` that is not a loopback name or address (`localhost`,
 *   `127.0.0.0/8`, `::1`) or config `host` is refused 403 (field `host`), so a page whose DNS name
 *   is made to point at 127.0.0.1 (DNS rebinding) — same-origin for its browser — gets nothing.
 *   With auth on, such a page has no token to send.
 *
 * It is one `onRequest` hook for every route, WebSocket upgrades included (a browser's WebSocket
 * is not bound by CORS, so its Origin is all that tells another site's apart). The Unix socket
 * is not checked: no browser reaches it.
 */
export function installOriginCheck(app: FastifyInstance, options: OriginCheckOptions): void {
  const { config } = options;
  const allowed = new Set(config.allowedOrigins.map((origin) => new URL(origin).origin));
  const configuredHost = hostnameOf(config.host.includes(":") && !config.host.startsWith("[") ? `[${config.host}]` : config.host);
  app.addHook("onRequest", (request, _reply, done) => {
    if (isLocal(request.raw)) return done();
    const host = request.headers.host;
    if (!config.auth && host !== undefined) {
      const name = hostnameOf(host);
      if (name === undefined || !(isLoopback(name) || name === configuredHost)) return done(foreignHost(host));
    }
    const origin = request.headers.origin;
    if (origin === undefined) return done();
    if (options.cluster && request.headers[FORWARDED_BY_HEADER] !== undefined) return done();
    done(isOwnOrigin(origin, host, allowed) ? undefined : foreignOrigin(origin, request));
  });
}

/**
 * Whether `origin` is the server's own as the request addressed it (host and port of `host`,
 * the default port of the origin's scheme when `host` names none) or one of `allowed`.
 */
export function isOwnOrigin(origin: string, host: string | undefined, allowed: ReadonlySet<string> = new Set()): boolean {
  const url = parseUrl(origin);
  if (url === undefined || (url.protocol !== "http:" && url.protocol !== "https:")) return false;
  if (allowed.has(url.origin)) return true;
  if (host === undefined) return false;
  const addressed = parseUrl(`${url.protocol}//${host}`);
  // A Host header is a host and an optional port, nothing more.
  if (addressed === undefined || addressed.pathname !== "/" || addressed.search !== "" || addressed.username !== "" || addressed.password !== "") return false;
  return addressed.host === url.host;
}

/** The host name (lower case, IPv6 in brackets) of a `Host` header's value, or undefined when it is none. */
function hostnameOf(host: string): string | undefined {
  const url = parseUrl(`http://${host}`);
  return url === undefined || url.pathname !== "/" || url.username !== "" ? undefined : url.hostname;
}

function parseUrl(text: string): URL | undefined {
  try {
    return new URL(text);
  } catch {
    return undefined;
  }
}

function foreignOrigin(origin: string, request: FastifyRequest): SessiondError {
  const own = request.headers.host === undefined ? "this server's" : `this server's (${printable(request.headers.host)})`;
  return new SessiondError(
    "forbidden",
    {
      reason: `a request from a page of another site is refused: its Origin ${printable(origin)} is not ${own}; an address a proxy serves the dashboard at belongs in config allowedOrigins`,
    },
    { field: "origin" },
  );
}

function foreignHost(host: string): SessiondError {
  return new SessiondError(
    "forbidden",
    {
      reason: `with auth off the server answers only requests addressed to this machine (localhost, 127.0.0.1, [::1]), not to ${printable(host)}: a web page can point a DNS name of its own at 127.0.0.1`,
    },
    { field: "host" },
  );
}

/** A header's value quoted for a message: what a client sent, cut short and without control characters. */
function printable(value: string): string {
  const clean = value.replace(/[^\x20-\x7e]/g, "?");
  return JSON.stringify(clean.length > 200 ? `${clean.slice(0, 200)}…` : clean);
}
