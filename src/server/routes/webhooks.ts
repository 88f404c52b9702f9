import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import { Type } from "@sinclair/typebox";
import { nullable } from "../schemas.js";
import { SessiondError, errors, newId } from "../../core/index.js";
import { WebhookTargetPolicy } from "../../events/index.js";
import type { Store, WebhookRecord } from "../../store/index.js";
import { assertAdmin } from "../auth/index.js";
import { HEADER, NO_CONTENT, PAGE_HEADERS, json, responses } from "../responses.js";
import { WEBHOOK_EVENTS } from "../../events/webhooks/index.js";
import { type ServerContext, sendJson, setNextPage } from "../server-context.js";

export { WEBHOOK_EVENTS };

const WebhookEvent = Type.Union(
  WEBHOOK_EVENTS.map((e) => Type.Literal(e)),
  { description: WEBHOOK_EVENTS.join(" | ") },
);

/** POST /webhooks. */
export const CreateWebhookBody = Type.Object(
  {
    url: Type.String({ minLength: 1, maxLength: 2048, description: "an http or https URL without credentials, not to a private or local address unless config webhookAllowHosts lists it" }),
    events: Type.Optional(Type.Array(WebhookEvent, { maxItems: WEBHOOK_EVENTS.length, description: "events to deliver; empty or absent means all" })),
    secret: Type.Optional(Type.String({ minLength: 1, maxLength: 1024, description: "HMAC-SHA256 signing secret; never returned" })),
  },
  { additionalProperties: false },
);

const WebhookParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 128 }) }, { additionalProperties: false });

const DeliveryQuery = Type.Object(
  {
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, description: "page size; default config defaultPageSize" })),
    cursor: Type.Optional(Type.String({ maxLength: 256 })),
  },
  { additionalProperties: false },
);

const DeliveryWire = Type.Object({
  id: Type.String(),
  webhook_id: Type.String(),
  event: Type.String({ description: "the seed 004 event: start, pause, resume, complete, error, timeout" }),
  session_id: Type.String(),
  seq: Type.Integer({ description: "the seq of the session event it reports" }),
  status: Type.Union([Type.Literal("pending"), Type.Literal("delivered"), Type.Literal("failed")]),
  attempts: Type.Integer(),
  last_status_code: nullable(Type.Integer({ description: "the HTTP status of the last attempt" })),
  last_error: nullable(Type.String()),
  next_attempt_at: nullable(Type.String({ format: "date-time", description: "when a pending delivery is next due" })),
  created_at: Type.String({ format: "date-time" }),
  delivered_at: nullable(Type.String({ format: "date-time" })),
  body: Type.String({ description: "the exact JSON body sent (and signed) on every attempt" }),
});

const WebhookWire = Type.Object({
  id: Type.String(),
  url: Type.String(),
  events: Type.Array(Type.String()),
  has_secret: Type.Boolean(),
  created_at: Type.String(),
});

/** A registration as the API shows it: the secret replaced by whether there is one. */
export function webhookJson(w: WebhookRecord): { id: string; url: string; events: readonly string[]; has_secret: boolean; created_at: string } {
  return { id: w.id, url: w.url, events: w.events, has_secret: w.secret !== null, created_at: w.created_at };
}

/**
 * `/webhooks` (admin only): seed 004's webhook registrations over HTTP, and each one's delivery
 * log. Registrations from the config file are not listed here (they are not stored). A URL the
 * target policy refuses (private and local addresses unless `webhookAllowHosts` lists them,
 * credentials in the URL) is a 400 naming `url`.
 */
export const webhookRoutes: FastifyPluginAsyncTypebox<{ ctx: ServerContext; store: Store }> = async (app, { ctx, store }) => {
  const targets = new WebhookTargetPolicy(ctx.config.webhookAllowHosts);
  app.addHook("onRequest", (request, _reply, done) => {
    try {
      assertAdmin(request.principal, "managing webhooks");
      done();
    } catch (err) {
      done(err as Error);
    }
  });

  const find = async (id: string): Promise<WebhookRecord> => {
    const found = (await store.listWebhooks()).find((w) => w.id === id);
    if (!found) throw new SessiondError("not_found", { what: "webhook", ref: id });
    return found;
  };

  app.post(
    "/",
    {
      schema: {
        operationId: "createWebhook",
        summary: "Register a webhook",
        description: "Seed 004's configureWebhook. The answer never shows the secret, only `has_secret`.",
        tags: ["webhooks"],
        body: CreateWebhookBody,
        response: responses({ 201: json(WebhookWire, "the webhook registered", { Location: HEADER.location }) }),
      },
    },
    async (request, reply) => {
      const { url, events, secret } = request.body;
      const refusal = targets.check(url);
      if (refusal !== undefined) throw errors.validation("url", refusal);
      const record: WebhookRecord = { id: newId(), url, events: [...new Set(events ?? [])], secret: secret ?? null, created_at: new Date().toISOString() };
      await store.putWebhook(record);
      reply.header("location", `/webhooks/${record.id}`);
      return sendJson(reply, JSON.stringify(webhookJson(record)), 201);
    },
  );

  app.get(
    "/",
    { schema: { operationId: "listWebhooks", summary: "List webhooks", tags: ["webhooks"], response: responses({ 200: Type.Array(WebhookWire) }) } },
    async (_request, reply) => sendJson(reply, JSON.stringify((await store.listWebhooks()).map(webhookJson))),
  );

  app.get(
    "/:id",
    { schema: { operationId: "getWebhook", summary: "Get a webhook", tags: ["webhooks"], params: WebhookParams, response: responses({ 200: WebhookWire }) } },
    async (request, reply) => sendJson(reply, JSON.stringify(webhookJson(await find(request.params.id)))),
  );

  app.delete(
    "/:id",
    {
      schema: {
        operationId: "deleteWebhook",
        summary: "Delete a webhook",
        description: "Its pending deliveries are no longer attempted.",
        tags: ["webhooks"],
        params: WebhookParams,
        response: responses({ 204: NO_CONTENT }),
      },
    },
    async (request, reply) => {
      if (!(await store.deleteWebhook(request.params.id))) throw new SessiondError("not_found", { what: "webhook", ref: request.params.id });
      return reply.status(204).send();
    },
  );

  app.get(
    "/:id/deliveries",
    {
      schema: {
        operationId: "listWebhookDeliveries",
        summary: "A webhook's deliveries",
        description: "Newest first, as a JSON array; the next page's cursor is in `X-Next-Cursor` and a `Link: <…>; rel=\"next\"` header.",
        tags: ["webhooks"],
        params: WebhookParams,
        querystring: DeliveryQuery,
        response: responses({ 200: json(Type.Array(DeliveryWire), "a page of deliveries", PAGE_HEADERS) }),
      },
    },
    async (request, reply) => {
      const { id } = request.params;
      const page = await store.listWebhookDeliveries(id, {
        limit: request.query.limit ?? ctx.config.defaultPageSize,
        ...(request.query.cursor !== undefined ? { cursor: request.query.cursor } : {}),
      });
      // An unknown id with no deliveries is a 404; a deleted webhook's log stays readable.
      if (page.items.length === 0 && request.query.cursor === undefined) await find(id);
      setNextPage(request, reply, page.next_cursor);
      return sendJson(reply, JSON.stringify(page.items));
    },
  );
};
