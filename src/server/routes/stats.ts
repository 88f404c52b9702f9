import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import { scopedFilter } from "../auth/index.js";
import { SessionFilterQuery, StatsWire } from "../schemas.js";
import { responses } from "../responses.js";
import { type ServerContext, sendJson } from "../server-context.js";
import { toJson } from "../wire.js";
import { filterFromQuery } from "./session-filter.js";

const EMPTY = { total: 0, by_status: {}, by_mode: {}, by_kind: {}, success_rate: 0, average_iterations: 0, average_duration_ms: 0 };

/** `/stats`: aggregates over stored sessions (seed 004's getStats), with the list's filters. */
export const statsRoutes: FastifyPluginAsyncTypebox<{ ctx: ServerContext }> = async (app, { ctx }) => {
  app.get(
    "/",
    {
      schema: {
        operationId: "stats",
        summary: "Session statistics",
        description: "Totals by status, mode and kind, success rate, average iterations and duration; an agent token counts only its own sessions.",
        tags: ["sessions"],
        querystring: SessionFilterQuery,
        response: responses({ 200: StatsWire }),
      },
    },
    async (request, reply) => {
      const filter = scopedFilter(request.principal, filterFromQuery(request.query));
      return sendJson(reply, toJson(filter ? await ctx.manager.stats(filter) : EMPTY));
    },
  );
};
