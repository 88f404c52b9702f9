import { Type } from "@sinclair/typebox";
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from "fastify";
import { SessiondError, errors } from "../../core/index.js";
import { type StreamServices, type TerminalShare, optionalInt, optionalString } from "../../events/feeds/index.js";
import { assertMayReadExecIo, principalParticipants } from "../auth/index.js";
import { SessionParams } from "../schemas.js";
import { assertKnownParameters } from "../validation.js";
import { responses, websocketUpgrade } from "../responses.js";
import { type ServerContext, sessionFor } from "../server-context.js";
import type { PrincipalQuota } from "../principal-quota.js";

/** The attach query as documented (read by the pre-upgrade checks below). */
const AttachQueryDoc = Type.Object({
  role: Type.Optional(Type.Union([Type.Literal("driver"), Type.Literal("observer")], { description: "driver (default) types and resizes; observers watch" })),
  offset: Type.Optional(Type.Integer({ minimum: 0, description: "replay the terminal from this byte (416 outside the replay held)" })),
});

interface AttachPlan {
  readonly share: TerminalShare;
  readonly mayDrive: boolean;
  readonly offset: number | undefined;
}

/**
 * `GET /sessions/{id}/attach` (WebSocket): a live shell's raw terminal, shared — one driver types
 * and resizes, observers watch, `takeover` moves the wheel; a late joiner gets the replay first.
 * Refusals (unknown session 404, a token that may not read the session's exec input and output
 * 403 — mayReadExecIo, since the terminal is both — not a live shell 409, offset outside the
 * replay 416, a plain HTTP request 400) are HTTP answers before the upgrade. An attach that is
 * let in makes its principal a participant of the session. docs/streams.md is the contract.
 */
export const attachRoutes: FastifyPluginAsync<{ ctx: ServerContext; streams: StreamServices; quota: PrincipalQuota }> = async (app, { ctx, streams, quota }) => {
  const plans = new WeakMap<FastifyRequest, AttachPlan>();

  app.route({
    method: "GET",
    url: "/attach",
    schema: {
      operationId: "attach",
      summary: "Attach to a live shell's terminal (WebSocket)",
      description:
        "Binary frames are terminal bytes both ways; JSON text frames resize and take over. Roles: ?role=driver|observer. " +
        "A request without the upgrade is a 400. See docs/streams.md.",
      tags: ["streams"],
      params: SessionParams,
      response: responses({ 101: websocketUpgrade("binary frames carry the terminal's bytes; a late joiner gets the replay first") }, [409, 416]),
    },
    config: { documentedInput: { querystring: AttachQueryDoc } },
    preHandler: [quota.claim, async (request) => {
      const { id } = request.params as { id: string };
      const raw = request.query as Record<string, unknown>;
      assertKnownParameters(raw, AttachQueryDoc);
      const role = optionalString(raw, "role") ?? "driver";
      if (role !== "driver" && role !== "observer") throw errors.validation("role", 'expected "driver" or "observer"');
      const offset = optionalInt(raw, "offset");
      const session = await sessionFor(ctx, request, id);
      assertMayReadExecIo(ctx.config, request.principal, session, "a terminal");
      const share = await streams.attach.share(session);
      const { start, end } = share.range;
      if (offset !== undefined && (offset < start || offset > end)) {
        throw new SessiondError(
          "range_not_satisfiable",
          { what: `terminal byte ${offset} of session ${session.name}`, field: "offset", range: `${start}–${end}` },
          { field: "offset" },
        );
      }
      // Typing is running commands: only roles allowed to exec (config execRoles) may drive, and
      // never a reader token, which may only read whatever execRoles says.
      const principal = request.principal;
      const mayDrive = role === "driver" && principal.role !== "reader" && ctx.config.execRoles.includes(principal.role);
      // Whoever attaches takes part, driver or observer (docs/api.md#participants).
      await ctx.manager.join(session.id, principalParticipants(principal, "attach"));
      plans.set(request, { share, mayDrive, offset });
    }],
    handler: async (_request: FastifyRequest, _reply: FastifyReply) => {
      throw errors.validation("upgrade", "attach is a WebSocket: send an Upgrade: websocket request");
    },
    wsHandler: (socket, request) => {
      const plan = plans.get(request)!;
      plan.share.join(socket, { mayDrive: plan.mayDrive, ...(plan.offset !== undefined ? { offset: plan.offset } : {}) });
    },
  });
};
