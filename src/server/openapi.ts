import swagger from "@fastify/swagger";
import swaggerUi from "@fastify/swagger-ui";
import type { FastifyInstance, FastifySchema, RouteOptions } from "fastify";
import type { Config } from "../core/index.js";
import { ERROR } from "./responses.js";
import { SHARED_SCHEMAS } from "./schemas.js";

declare module "fastify" {
  interface FastifyContextConfig {
    /**
     * What a route reads and checks itself rather than through a schema Fastify validates (an
     * upload's raw body, a stream's query parsed by the same code for SSE and WebSocket), as
     * /openapi.json describes it.
     */
    documentedInput?: { readonly body?: unknown; readonly querystring?: unknown };
  }
}

/** Where the docs page lives; public, like /openapi.json. */
export const DOCS_PREFIX = "/docs";

/** The artifact routes' wildcard, named in the document so that generated clients substitute it. */
const WILDCARD_NAME = "path";

/**
 * OpenAPI 3.1, generated from the route schemas, served at /openapi.json, and a docs page at
 * /docs (Swagger UI from the package's bundled assets: it works offline). Register before the
 * routes, so every route is seen. The document is what third-party tools read (linters,
 * generated clients, validating proxies): `npm test` lints it with Redocly's recommended rules
 * and checks every response the HTTP suites receive against it (test/contract/).
 */
export async function registerOpenApi(app: FastifyInstance, version: string, config: Pick<Config, "host" | "port">): Promise<void> {
  for (const schema of SHARED_SCHEMAS) app.addSchema(schema);
  await app.register(swagger, {
    openapi: {
      openapi: "3.1.0",
      info: {
        title: "sessiond",
        version,
        license: { name: "MIT", identifier: "MIT" },
        description:
          "Persistent sessions for AI agents: seed 003's /sessions API (snake_case JSON), lifecycle, events, checkpoints, artifacts, live sessions, streams. " +
          "TCP requests need `Authorization: Bearer <token>` (the admin token is in $SESSIOND_HOME/token); the Unix socket ($SESSIOND_HOME/sessiond.sock) takes the same paths and needs none. " +
          'Every error is `{"error": {"code", "message", "field"?}}`; the codes are listed in docs/errors.md.',
      },
      servers: [
        {
          url: "http://{host}:{port}",
          description: "this server's TCP listener (config host and port)",
          variables: { host: { default: config.host }, port: { default: String(config.port) } },
        },
      ],
      components: { securitySchemes: { bearer: { type: "http", scheme: "bearer", description: "a token: the admin token ($SESSIOND_HOME/token) or one of config `tokens`" } } },
      security: [{ bearer: [] }],
      tags: [
        { name: "sessions", description: "seed 003's session resource" },
        { name: "lifecycle", description: "status changes" },
        { name: "events", description: "the append-only history" },
        { name: "checkpoints", description: "checkpoints, restore, fork, time travel" },
        { name: "artifacts", description: "per-session workspaces (seed 002)" },
        { name: "live sessions", description: "shell, python, typescript and llm sessions with state across execs (seed 000); off unless ENABLE_SESSIONS" },
        { name: "streams", description: "live events and output over SSE or WebSocket (docs/streams.md)" },
        { name: "webhooks", description: "webhook registrations and their deliveries (seed 004); admin only" },
        { name: "import", description: "sessions brought in from files (seed 000/004 layouts)" },
        { name: "mcp", description: "sessiond as an MCP server: tools and resources over your sessions (docs/adapters.md#mcp)" },
        { name: "ui", description: "the dashboard's sign-in by one-time code (`sessiond ui`; docs/api.md#dashboard-sign-in)" },
        { name: "operations", description: "health, metrics, this document" },
      ],
    },
    refResolver: { buildLocalReference: (json, _baseUri, _fragment, i) => (typeof json.$id === "string" ? json.$id : `def-${i}`) },
    transform: ({ schema, url, route }) => documentRoute(schema, url, route),
    transformObject: (documentObject) => finishDocument((documentObject as { openapiObject: OpenApiDocument }).openapiObject),
  });
  await app.register(swaggerUi, { routePrefix: DOCS_PREFIX, uiConfig: { deepLinking: true }, staticCSP: true });
  app.get(
    "/openapi.json",
    {
      config: { public: true },
      schema: {
        operationId: "getOpenApi",
        summary: "This document",
        tags: ["operations"],
        response: { 200: { description: "the OpenAPI 3.1 document", content: { "application/json": { schema: { type: "object" } } } } },
      },
    },
    // Sent as text: the response schema documents the answer, it must not serialize (and so strip) it.
    async (_request, reply) => reply.type("application/json; charset=utf-8").send(JSON.stringify(app.swagger())),
  );
}

/**
 * One route as documented: the error statuses it shares with others (the rules below, written
 * once), `security: []` for a public route, and the artifact wildcard as `{path}`.
 */
function documentRoute(schema: FastifySchema | undefined, url: string, route: RouteOptions): { schema: FastifySchema; url: string } {
  const doc: Record<string, unknown> = { ...(schema ?? {}) };
  const isPublic = route.config?.public === true;
  if (isPublic) doc.security = [];
  const documented = route.config?.documentedInput;
  if (documented?.body !== undefined) doc.body = documented.body;
  if (documented?.querystring !== undefined) doc.querystring = documented.querystring;
  const response: Record<string, unknown> = { ...((doc.response as Record<string, unknown> | undefined) ?? {}) };
  for (const method of [route.method].flat()) for (const status of errorStatuses(url, method, isPublic)) response[status] ??= ERROR;
  doc.response = response;
  const params = doc.params as { properties: Record<string, unknown>; required?: string[] } | undefined;
  if (!url.endsWith("*") || params?.properties["*"] === undefined) return { schema: doc, url };
  const { "*": wildcard, ...named } = params.properties;
  doc.params = {
    ...params,
    properties: { ...named, [WILDCARD_NAME]: wildcard },
    required: (params.required ?? []).map((name) => (name === "*" ? WILDCARD_NAME : name)),
  };
  return { schema: doc, url: `${url.slice(0, -1)}:${WILDCARD_NAME}` };
}

/**
 * The error statuses every route of its sort can answer: 400 (a parameter, query or header
 * refused), 403 (a request from a page of another site, or with auth off a Host that is not this
 * machine: auth/request-origin.ts), 429 (rate limits, failed authentications from the address),
 * 500 and 503 (store down, shutting down) for all; 401 behind the token check; 404 and 409 (not found,
 * an ambiguous name) where a session or webhook is named in the path; 413 and 415 for a method
 * whose body the server reads, whether or not the route takes one (a body too big, or of a type
 * no parser takes, is refused before the route); 502 where a session is named in the path (a
 * request forwarded to the session's owner node that failed there, docs/scale-out.md).
 */
function errorStatuses(url: string, method: string, isPublic: boolean): number[] {
  const statuses = [400, 403, 429, 500, 503];
  if (!isPublic) statuses.push(401);
  if (url.includes(":id")) statuses.push(404, 409);
  // Several nodes: a request forwarded to the session's owner that failed there before it answered.
  if (url.startsWith("/sessions/:id") || url.startsWith("/session/:id")) statuses.push(502);
  if (BODY_METHODS.has(method)) statuses.push(413, 415);
  return statuses;
}

const BODY_METHODS = new Set(["POST", "PUT", "PATCH", "DELETE"]);

interface OpenApiDocument {
  paths: Record<string, Record<string, { requestBody?: { required?: boolean; content?: Record<string, { schema?: { required?: string[] } }> } }>>;
}

/** Request bodies with no required member are optional (`POST …/pause` needs none). */
function finishDocument(document: OpenApiDocument): OpenApiDocument {
  for (const operations of Object.values(document.paths)) {
    for (const operation of Object.values(operations)) {
      const body = operation.requestBody;
      if (body === undefined) continue;
      const schemas = Object.values(body.content ?? {}).map((media) => media.schema);
      body.required = schemas.some((schema) => (schema?.required?.length ?? 0) > 0);
    }
  }
  return document;
}
