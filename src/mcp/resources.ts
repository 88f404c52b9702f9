import { type RouteCaller, headerOf, pathSegment, wireError } from "./route-caller.js";

/**
 * MCP resources over sessions: each session's timeline (its events) and its context, read
 * through the same routes as any client (`GET /sessions/{id}/events`, `GET /sessions/{id}`), so
 * an agent token reads only its own sessions' resources, and exec input and output are left out
 * of the events of a token that may not read them, as the route does.
 */

const SCHEME = "sessiond:";
const JSON_TYPE = "application/json";

/** A resource template, as `resources/templates/list` answers. */
export interface ResourceTemplate {
  readonly uriTemplate: string;
  readonly name: string;
  readonly title: string;
  readonly description: string;
  readonly mimeType: string;
}

/** A resource, as `resources/list` answers. */
export interface ResourceEntry {
  readonly uri: string;
  readonly name: string;
  readonly title: string;
  readonly description: string;
  readonly mimeType: string;
}

/** The contents of a read. */
export interface ResourceContents {
  readonly uri: string;
  readonly mimeType: string;
  readonly text: string;
}

/** Why a read failed, as MCP's JSON-RPC error: -32002 (resource not found), -32602 (invalid params) or -32603 (any other error of the server). */
export class ResourceError extends Error {
  override name = "ResourceError";
  constructor(
    readonly rpcCode: number,
    message: string,
    /** The server's error (docs/errors.md), when it answered one. */
    readonly data?: { code: string; message: string; field?: string },
  ) {
    super(message);
  }
}

/** MCP's error code for a resource that does not exist (the MCP specification, "Resources: Error Handling"). */
export const RESOURCE_NOT_FOUND = -32002;
/** JSON-RPC's invalid params. */
export const INVALID_PARAMS = -32602;
/** JSON-RPC's internal error: the server failed otherwise (its error in the data). */
const INTERNAL_ERROR = -32603;

/** The resources every session has, as `resources/templates/list` answers. */
export const RESOURCE_TEMPLATES: readonly ResourceTemplate[] = [
  {
    uriTemplate: "sessiond://sessions/{id}/timeline",
    name: "timeline",
    title: "A session's timeline",
    description:
      "The session's events as a JSON array ({seq, ts, type, data}), oldest first, 100 per read (the events route's page). " +
      "Add the events route's query to read more or others: ?after_seq=N&limit=M (up to 10000), ?order=desc for the newest first, ?type=checkpoint (repeatable). " +
      "{id} is the session's id, its name, or agent_id/name with the slash as %2F.",
    mimeType: JSON_TYPE,
  },
  {
    uriTemplate: "sessiond://sessions/{id}/context",
    name: "context",
    title: "A session's context",
    description: "The session's context, the JSON object it carries (what the agent keeps between steps). {id} as for the timeline.",
    mimeType: JSON_TYPE,
  },
];

type Kind = "timeline" | "context";

/** The URI of a session's resource. */
export function resourceUri(session: string, kind: Kind): string {
  return `sessiond://sessions/${encodeURIComponent(session)}/${kind}`;
}

/**
 * A page of resources: the timeline and context of each session the caller may see, a page of
 * sessions at a time (the listing route's page size; the MCP cursor is the route's).
 */
export async function listResources(caller: RouteCaller, cursor: string | undefined): Promise<{ resources: ResourceEntry[]; nextCursor?: string }> {
  const answer = await caller.call({ method: "GET", url: `/sessions/${cursor === undefined ? "" : `?cursor=${encodeURIComponent(cursor)}`}` });
  const error = wireError(answer);
  if (error) throw new ResourceError(error.code === "validation" ? INVALID_PARAMS : INTERNAL_ERROR, error.message, error);
  const resources: ResourceEntry[] = [];
  for (const session of answer.body as { id: string; name?: string; kind: string; status: string; last_seq: number }[]) {
    const label = session.name ?? session.id;
    resources.push(
      { uri: resourceUri(session.id, "timeline"), name: `${label} timeline`, title: `Timeline of ${label}`, description: `${session.kind} session, ${session.status}, ${session.last_seq} events`, mimeType: JSON_TYPE },
      { uri: resourceUri(session.id, "context"), name: `${label} context`, title: `Context of ${label}`, description: `${session.kind} session, ${session.status}`, mimeType: JSON_TYPE },
    );
  }
  const next = headerOf(answer, "x-next-cursor");
  return { resources, ...(next !== undefined ? { nextCursor: next } : {}) };
}

/** Reads a resource. @throws ResourceError for a URI that is not one of ours, or a session the caller may not see */
export async function readResource(caller: RouteCaller, uri: string): Promise<ResourceContents> {
  const { segment, kind, search } = parseUri(uri);
  const path = `/sessions/${segment}`;
  const answer = await caller.call({ method: "GET", url: kind === "timeline" ? `${path}/events${search}` : path });
  const error = wireError(answer);
  if (error) throw new ResourceError(error.code === "not_found" ? RESOURCE_NOT_FOUND : error.code === "validation" ? INVALID_PARAMS : INTERNAL_ERROR, `${uri}: ${error.message}`, error);
  const value = kind === "timeline" ? answer.body : (answer.body as { context: unknown }).context;
  return { uri, mimeType: JSON_TYPE, text: JSON.stringify(value) };
}

/** The session's path segment (encoded), the resource's kind and its query, from a resource URI. */
function parseUri(uri: string): { segment: string; kind: Kind; search: string } {
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    throw new ResourceError(INVALID_PARAMS, `${uri} is not a URI`);
  }
  const parts = url.pathname.split("/");
  const kind = parts[2];
  if (url.protocol !== SCHEME || url.host !== "sessions" || parts.length !== 3 || parts[0] !== "" || !parts[1] || (kind !== "timeline" && kind !== "context")) {
    throw new ResourceError(INVALID_PARAMS, `${uri} is not a sessiond resource: ${RESOURCE_TEMPLATES.map((t) => t.uriTemplate).join(" or ")}`);
  }
  if (kind === "context" && url.search) throw new ResourceError(INVALID_PARAMS, `${uri}: a context takes no query`);
  let session: string;
  try {
    session = decodeURIComponent(parts[1]);
  } catch {
    throw new ResourceError(INVALID_PARAMS, `${uri}: the session is not percent-encoded correctly`);
  }
  const segment = pathSegment(session);
  if (segment === undefined) throw new ResourceError(INVALID_PARAMS, `${uri}: not a session reference`);
  return { segment, kind, search: url.search };
}
