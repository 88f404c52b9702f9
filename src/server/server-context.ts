import type { FastifyReply, FastifyRequest } from "fastify";
import type { Config, Session } from "../core/index.js";
import type { LiveSessions } from "../drivers/index.js";
import type { SessionManager, SessionPlacement } from "../engine/index.js";
import { lookupScope, principalParticipants, visibleTo } from "./auth/index.js";
import { setEtag } from "./etag.js";
import { sessionJson } from "./wire.js";
import type { PeerReads } from "./cluster/index.js";
import type { Workspaces } from "./workspaces/index.js";

/** What every route plugin receives: the resolved config and the services it calls. */
export interface ServerContext {
  readonly config: Config;
  readonly manager: SessionManager;
  readonly workspaces: Workspaces;
  /** Live execution sessions (shell…): the processes behind exec kinds. */
  readonly live: LiveSessions;
  /** Where sessions are served when several nodes share the store (docs/scale-out.md); undefined on one node (SQLite). */
  readonly cluster?: SessionPlacement;
  /** Reads gathered from every node (what each holds in memory); with `cluster` only. */
  readonly peers?: PeerReads;
}

/**
 * The session with this id, name or `agent_id/name`, as the request's principal may see it: an
 * agent token's bare name means its own session of that name (docs/api.md#names). A request that
 * writes (any method but GET and HEAD) by an agent token first makes the token's agent and user
 * participants of the session, when they are not yet (docs/api.md#participants): a check in
 * memory after the first write.
 * @throws not_found (also for another agent's session, with the same body); ambiguous_name
 */
export async function sessionFor(ctx: ServerContext, request: FastifyRequest, ref: string): Promise<Session> {
  const session = visibleTo(request.principal, await ctx.manager.get(ref, lookupScope(request.principal)), ref);
  if (request.method === "GET" || request.method === "HEAD") return session;
  const joining = principalParticipants(request.principal, "write");
  return joining.length ? ctx.manager.join(session.id, joining) : session;
}

/** Sends a session as JSON with its ETag, as the request's principal may see it (sessionJson). */
export function sendSession(reply: FastifyReply, session: Session, status = 200): FastifyReply {
  setEtag(reply, session);
  return reply.status(status).type(JSON_TYPE).send(sessionJson(session, reply.request.principal));
}

/** Sends JSON text already built (or already encoded). */
export function sendJson(reply: FastifyReply, text: string | Buffer, status = 200): FastifyReply {
  return reply.status(status).type(JSON_TYPE).send(text);
}

/** Sets the pagination headers of a list: `X-Next-Cursor` and an RFC 8288 `Link: …; rel="next"`. */
export function setNextPage(request: FastifyRequest, reply: FastifyReply, nextCursor: string | null): void {
  if (nextCursor === null) return;
  reply.header("x-next-cursor", nextCursor);
  reply.header("link", `<${withCursor(request.url, nextCursor)}>; rel="next"`);
}

/**
 * The request's URL with its `cursor` parameter replaced, the other parameters kept as sent.
 * By string, not with URL/URLSearchParams: parsing the URL cost ~10 µs, a tenth of a listing.
 */
export function withCursor(url: string, cursor: string): string {
  const q = url.indexOf("?");
  const path = q === -1 ? url : url.slice(0, q);
  const kept = q === -1 ? [] : url.slice(q + 1).split("&").filter((param) => param !== "" && paramName(param) !== "cursor");
  kept.push(`cursor=${encodeURIComponent(cursor)}`);
  return `${path}?${kept.join("&")}`;
}

function paramName(param: string): string {
  const eq = param.indexOf("=");
  const name = eq === -1 ? param : param.slice(0, eq);
  if (!/[%+]/.test(name)) return name;
  try {
    return decodeURIComponent(name.replace(/\+/g, " "));
  } catch {
    return name;
  }
}

/** The media type of every JSON answer. */
export const JSON_TYPE = "application/json; charset=utf-8";
