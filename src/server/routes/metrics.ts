import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import { SessiondError } from "../../core/index.js";
import type { ServerMetrics } from "../metrics.js";

/**
 * `/metrics`: Prometheus text exposition of the server's registry, for admin and reader tokens
 * (an agent token sees only its own sessions, and the metrics count everyone's).
 */
export const metricsRoutes: FastifyPluginAsyncTypebox<{ metrics: ServerMetrics }> = async (app, { metrics }) => {
  app.get(
    "/",
    {
      config: { rateLimit: false },
      schema: { summary: "Prometheus metrics", tags: ["operations"], response: { 200: { type: "string", description: "text/plain; version=0.0.4" } } },
    },
    async (request, reply) => {
      if (request.principal.role === "agent") throw new SessiondError("forbidden", { reason: "metrics need an admin or reader token" });
      const text = await metrics.scrape();
      return reply.type(metrics.contentType).send(text);
    },
  );
};
