import { Type } from "@sinclair/typebox";
import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import { SessiondError } from "../../core/index.js";
import { responses } from "../responses.js";
import { type ServerContext, sendJson } from "../server-context.js";

const Status = Type.Object({ status: Type.String() });

/**
 * `/healthz` (the process answers) and `/readyz` (the engine is open and its store answers);
 * both public, for supervisors and load balancers.
 */
export const healthRoutes: FastifyPluginAsyncTypebox<{ ctx: ServerContext; isClosing: () => boolean }> = async (app, { ctx, isClosing }) => {
  app.get(
    "/healthz",
    { config: { public: true, rateLimit: false }, schema: { operationId: "health", summary: "Liveness", tags: ["operations"], response: responses({ 200: Status }) } },
    async (_request, reply) => sendJson(reply, '{"status":"ok"}'),
  );

  app.get(
    "/readyz",
    { config: { public: true, rateLimit: false }, schema: { operationId: "ready", summary: "Readiness", tags: ["operations"], response: responses({ 200: Status }) } },
    async (_request, reply) => {
      if (isClosing()) throw new SessiondError("shutting_down");
      if (ctx.manager.isClosed) throw new SessiondError("closed");
      // A read that goes to the store (no session has this id), so a broken store shows here.
      await ctx.manager.find("00000000-0000-7000-8000-000000000000");
      return sendJson(reply, '{"status":"ready"}');
    },
  );
};
