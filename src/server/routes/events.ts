import { Type } from "@sinclair/typebox";
import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import { type EventQuery, type SessionEvent, errors } from "../../core/index.js";
import { storedDataText } from "../../store/index.js";
import { withoutExecIo } from "../../drivers/index.js";
import { mayReadExecIo } from "../auth/index.js";
import { expectedVersion } from "../etag.js";
import { EventBody, EventListQuery, IfMatchHeaders, SessionParams } from "../schemas.js";
import { PAGE_HEADERS, json, responses } from "../responses.js";
import { type ServerContext, sendJson, sessionFor, setNextPage } from "../server-context.js";
import { boundedArrayJson, toJson } from "../wire.js";

const DEFAULT_LIMIT = 100;
/** The engine's largest page of events. */
const MAX_LIMIT = 10_000;

/**
 * `/sessions/{id}/events`: append a custom event (durable when answered), and read the history
 * by seq range and type, a page at a time.
 */
export const eventRoutes: FastifyPluginAsyncTypebox<{ ctx: ServerContext }> = async (app, { ctx }) => {
  const { manager } = ctx;

  app.post(
    "/",
    {
      schema: {
        operationId: "appendEvent",
        summary: "Append an event",
        description:
          "Any type except those the session's own operations record (start, pause, iteration, checkpoint…). Answered once durable.",
        tags: ["events"],
        params: SessionParams,
        headers: IfMatchHeaders,
        body: EventBody,
        response: responses({ 201: json(Type.Ref("Event"), "the event recorded") }, [409, 412, 422]),
      },
    },
    async (request, reply) => {
      const session = await sessionFor(ctx, request, request.params.id);
      const expected = expectedVersion(request, session, request.body.version);
      const event = await manager.appendEvent(session.id, request.body.type, request.body.data ?? {}, expected === undefined ? {} : { expected_version: expected });
      return sendJson(reply, toJson(event), 201);
    },
  );

  app.get(
    "/",
    {
      schema: {
        operationId: "listEvents",
        summary: "List events",
        description:
          "Oldest first (`order=desc` for newest first), as a JSON array. `after_seq`/`to_seq` bound the seq range, `type` (repeatable) filters. " +
          "When there may be more, the next page's cursor is in `X-Next-Cursor` and a `Link: <…>; rel=\"next\"` header. " +
          "A token that may not read the session's exec input and output (docs/api.md, \"What a token may read\") gets its exec events without them (`redacted: true`).",
        tags: ["events"],
        params: SessionParams,
        querystring: EventListQuery,
        response: responses({ 200: json(Type.Array(Type.Ref("Event")), "a page of events", PAGE_HEADERS) }),
      },
    },
    async (request, reply) => {
      const session = await sessionFor(ctx, request, request.params.id);
      const { after_seq, to_seq, type, order, cursor } = request.query;
      const limit = request.query.limit ?? DEFAULT_LIMIT;
      const descending = order === "desc";
      // One more than asked tells whether there is a next page (at the engine's maximum, a full page might have one).
      const fetch = Math.min(limit + 1, MAX_LIMIT);
      const query: EventQuery = { limit: fetch, descending };
      if (after_seq !== undefined) query.after_seq = after_seq;
      if (to_seq !== undefined) query.to_seq = to_seq;
      if (type !== undefined) query.types = Array.isArray(type) ? type : [type];
      if (cursor !== undefined) {
        // The cursor is the seq of the last event sent: continue after it (or before it, descending).
        if (!/^\d{1,15}$/.test(cursor)) throw errors.validation("cursor", "not a cursor returned by a previous page");
        const seq = Number(cursor);
        if (descending) query.to_seq = Math.min(query.to_seq ?? seq - 1, seq - 1);
        else query.after_seq = Math.max(query.after_seq ?? seq, seq);
      }
      const events = query.to_seq !== undefined && query.to_seq < 1 ? [] : await manager.listEvents(session.id, query);
      const asked = events.slice(0, limit);
      const shown = mayReadExecIo(ctx.config, request.principal, session) ? asked : asked.map((e) => withoutExecIo(session.kind, e));
      // Cut at maxPageBytes: a page of megabyte events continues on the next one.
      const { json, count } = boundedArrayJson(shown, eventJson, ctx.config.maxPageBytes);
      const more = count < asked.length || events.length > limit || (fetch === limit && events.length === limit);
      setNextPage(request, reply, more && count > 0 ? String(asked[count - 1]!.seq) : null);
      return sendJson(reply, json);
    },
  );
};

/** An event's JSON: a large event read from the store takes its stored text as it is (storedDataText), unparsed. */
function eventJson(event: SessionEvent): string {
  const text = storedDataText(event);
  return text === undefined ? toJson(event) : `{"seq":${event.seq},"ts":${JSON.stringify(event.ts)},"type":${JSON.stringify(event.type)},"data":${text}}`;
}
