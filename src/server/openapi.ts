import swagger from "@fastify/swagger";
import swaggerUi from "@fastify/swagger-ui";
import type { FastifyInstance } from "fastify";
import { SHARED_SCHEMAS } from "./schemas.js";

/** Where the docs page lives; public, like /openapi.json. */
export const DOCS_PREFIX = "/docs";

/**
 * OpenAPI 3.1, generated from the route schemas, served at /openapi.json, and a docs page at
 * /docs (Swagger UI from the package's bundled assets: it works offline). Register before the
 * routes, so every route is seen.
 */
export async function registerOpenApi(app: FastifyInstance, version: string): Promise<void> {
  for (const schema of SHARED_SCHEMAS) app.addSchema(schema);
  await app.register(swagger, {
    openapi: {
      openapi: "3.1.0",
      info: {
        title: "sessiond",
        version,
        description:
          "Persistent sessions for AI agents: seed 003's /sessions API (snake_case JSON), lifecycle, events, checkpoints, artifacts. " +
          "TCP requests need `Authorization: Bearer <token>` (the admin token is in $SESSIOND_HOME/token); the Unix socket needs none. " +
          'Every error is `{"error": {"code", "message", "field"?}}`; the codes are listed in docs/errors.md.',
      },
      components: { securitySchemes: { bearer: { type: "http", scheme: "bearer" } } },
      security: [{ bearer: [] }],
      tags: [
        { name: "sessions", description: "seed 003's session resource" },
        { name: "lifecycle", description: "status changes" },
        { name: "events", description: "the append-only history" },
        { name: "checkpoints", description: "checkpoints, restore, fork, time travel" },
        { name: "artifacts", description: "per-session workspaces (seed 002)" },
        { name: "live sessions", description: "shell sessions with state across execs (seed 000); off unless ENABLE_SESSIONS" },
        { name: "webhooks", description: "webhook registrations and their deliveries (seed 004); admin only" },
        { name: "operations", description: "health and metrics" },
      ],
    },
    refResolver: { buildLocalReference: (json, _baseUri, _fragment, i) => (typeof json.$id === "string" ? json.$id : `def-${i}`) },
  });
  await app.register(swaggerUi, { routePrefix: DOCS_PREFIX, uiConfig: { deepLinking: true }, staticCSP: true });
  app.get("/openapi.json", { config: { public: true }, schema: { hide: true } }, async (_request, reply) => reply.type("application/json").send(app.swagger()));
}
