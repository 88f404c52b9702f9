import { Type } from "@sinclair/typebox";
import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import { SessiondError } from "../../core/index.js";
import type { ServerMetrics } from "../metrics.js";
import { responses } from "../responses.js";

/**
 * `/metrics`: Prometheus text exposition of the server's registry, for admin and reader tokens
 * (an agent token sees only its own sessions, and the metrics count everyone's).
 */
export const metricsRoutes: FastifyPluginAsyncTypebox<{ metrics: ServerMetrics }> = async (app, { metrics }) => {
  app.get(
    "/",
    {
      config: { rateLimit: false },
      schema: {
        operationId: "metricsText",
        summary: "Prometheus metrics",
        description: "The Prometheus text exposition format 0.0.4; for admin and reader tokens.",
        tags: ["operations"],
        response: responses({ 200: { description: "the metrics", types: ["text/plain; version=0.0.4"], schema: Type.String() } }),
      },
    },
    async (request, reply) => {
      if (request.principal.role === "agent") throw new SessiondError("forbidden", { reason: "metrics need an admin or reader token" });
      const text = await metrics.scrape();
      return reply.type(metrics.contentType).send(text);
    },
  );
};
