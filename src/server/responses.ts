import { Kind, type TSchema, Type } from "@sinclair/typebox";

/**
 * How routes declare their answers for /openapi.json. The server writes its JSON itself, so these
 * schemas document (and, in the test suites, check) what is sent; Fastify never serializes with
 * them. The error statuses every route shares (401/403 behind the token check, 404 on a session
 * path, 413/415 with a body…) are added by the document's transform (openapi.ts), from the rules
 * in one place; a route declares only its successes and the errors peculiar to it.
 */

/** A response header as documented. */
export interface HeaderDoc {
  readonly description: string;
  readonly schema: TSchema;
}

/** Response headers routes send. */
export const HEADER = {
  etag: { description: 'the session\'s version as a weak entity tag, `W/"<version>"`: send it back in If-Match or If-None-Match', schema: Type.String() },
  location: { description: "the URL of what was created", schema: Type.String() },
  nextCursor: { description: "the cursor of the next page (absent on the last page): pass it as `cursor`", schema: Type.String() },
  link: { description: 'RFC 8288 `<…>; rel="next"`: the URL of the next page (absent on the last page)', schema: Type.String() },
  truncated: { description: "`true` when the listing stopped at its cap", schema: Type.String() },
} as const satisfies Record<string, HeaderDoc>;

/** The headers of a page of a list. */
export const PAGE_HEADERS = { "X-Next-Cursor": HEADER.nextCursor, Link: HEADER.link } as const;

/** A success answer: its media type(s), body schema (none for no body) and headers. */
export interface Answer {
  readonly description: string;
  /** The body; omitted for a body the document does not describe beyond its media type. */
  readonly schema?: TSchema;
  /** Media types; default JSON. */
  readonly types?: readonly string[];
  readonly headers?: Readonly<Record<string, HeaderDoc>>;
}

/** Error statuses a route declares beyond the shared ones (see openapi.ts errorStatuses). */
export type ErrorStatus = 404 | 409 | 412 | 413 | 416 | 422 | 501;

const JSON_TYPES = ["application/json"] as const;

/** A JSON answer with headers. */
export function json(schema: TSchema, description: string, headers?: Readonly<Record<string, HeaderDoc>>): Answer {
  return { description, schema, ...(headers ? { headers } : {}) };
}

/** A session as answered by every route that returns one: with its ETag. */
export const SESSION: Answer = json(Type.Ref("Session"), "the session", { ETag: HEADER.etag });

/** A session created: with its ETag and Location. */
export const SESSION_CREATED: Answer = json(Type.Ref("Session"), "the session created", { ETag: HEADER.etag, Location: HEADER.location });

/** Server-Sent Events: `text/event-stream`, one message per event (docs/streams.md). */
export function eventStream(description: string): Answer {
  return { description, types: ["text/event-stream"], schema: Type.String({ description: "SSE messages: `id:`, `event:`, `data:` (JSON)" }) };
}

/** The WebSocket upgrade of a route (OpenAPI has no WebSocket; the handshake is its 101). */
export function websocketUpgrade(description: string): Answer {
  return {
    description: `Switching Protocols — a request with \`Connection: Upgrade\` and \`Upgrade: websocket\` becomes a WebSocket: ${description}`,
    headers: {
      Upgrade: { description: "websocket", schema: Type.Literal("websocket") },
      Connection: { description: "Upgrade", schema: Type.String() },
    },
  };
}

/** An empty answer. */
export const NO_CONTENT: Answer = { description: "no content" };

/**
 * A route's response schemas: its successes (a schema is a JSON body; an {@link Answer} says
 * more), then the errors peculiar to it, each the one error shape.
 */
export function responses(success: Record<number, TSchema | Answer>, errors: readonly ErrorStatus[] = []): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [status, reply] of Object.entries(success)) out[status] = declared(reply);
  for (const status of errors) out[status] = ERROR;
  return out;
}

/** The error shape as a response declaration. */
export const ERROR = { description: "the error (docs/errors.md)", content: { "application/json": { schema: Type.Ref("Error") } } } as const;

function declared(reply: TSchema | Answer): unknown {
  if (!isAnswer(reply)) return { description: reply.description ?? "the answer", content: { "application/json": { schema: reply } } };
  const headers = reply.headers
    ? Object.fromEntries(Object.entries(reply.headers).map(([name, h]) => [name, { ...h.schema, description: h.description }]))
    : undefined;
  // A body of no documented shape is any bytes of the media type.
  const schema = reply.schema ?? {};
  const content = reply.schema === undefined && reply.types === undefined ? undefined : Object.fromEntries((reply.types ?? JSON_TYPES).map((type) => [type, { schema }]));
  return {
    description: reply.description,
    ...(content ? { content } : { type: "null" }),
    ...(headers ? { headers } : {}),
  };
}

function isAnswer(value: TSchema | Answer): value is Answer {
  return !(Kind in value);
}
