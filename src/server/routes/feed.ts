import { Type } from "@sinclair/typebox";
import type { FastifyPluginAsync, FastifyRequest } from "fastify";
import { errors } from "../../core/index.js";
import { type FeedFilter, SseSink, type StreamServices, WebSocketSink, optionalString, parseFeedAfter } from "../../events/feeds/index.js";
import { mayReadExecIo } from "../auth/index.js";
import { LastEventIdHeaders } from "../schemas.js";
import { assertKnownParameters } from "../validation.js";
import { eventStream, responses, websocketUpgrade } from "../responses.js";
import { type ServerContext, sessionFor } from "../server-context.js";
import type { PrincipalQuota } from "../principal-quota.js";
import { refuseClientFrames } from "./ws-frames.js";

/** The feed's query as documented (planFeed reads it, for SSE and WebSocket alike). */
const FeedQueryDoc = Type.Object({
  session: Type.Optional(Type.String({ description: "comma-separated session ids or names (default all)" })),
  type: Type.Optional(Type.String({ description: "comma-separated event types" })),
  kind: Type.Optional(Type.String({ description: "comma-separated session kinds (agent, shell…)" })),
  agent_id: Type.Optional(Type.String({ description: "comma-separated agent ids" })),
  after: Type.Optional(Type.Integer({ minimum: 0, description: "a global position: also send the recorded events past it, then live ones" })),
  deletions: Type.Optional(Type.Union([Type.Literal("0"), Type.Literal("1")], { description: "1: also send a `deleted` message when a session the filter lets through is deleted" })),
});

interface FeedPlan {
  readonly filter: FeedFilter;
  readonly after: number | undefined;
}

/**
 * `GET /feed`: every session's events (those the caller may see), filtered, live and resumable
 * from a global position, as SSE or (same URL, upgrade) WebSocket; exec events come without their
 * input and output to a caller that may not read them (mayReadExecIo). docs/streams.md is the contract.
 */
export const feedRoutes: FastifyPluginAsync<{ ctx: ServerContext; streams: StreamServices; quota: PrincipalQuota }> = async (app, { ctx, streams, quota }) => {
  const plans = new WeakMap<FastifyRequest, FeedPlan>();

  app.route({
    method: "GET",
    url: "/",
    schema: {
      operationId: "feed",
      summary: "Follow every session's events (SSE, or WebSocket on upgrade)",
      description: "Filters: session, type, kind, agent_id (comma-separated). Resume with after or Last-Event-ID. deletions=1 also tells of deleted sessions. See docs/streams.md.",
      tags: ["streams"],
      headers: LastEventIdHeaders,
      response: responses({
        101: websocketUpgrade("the same messages as JSON text frames"),
        200: eventStream("every visible session's events (`event`), and `ready` once the backlog is sent; each `id:` is the event's global position; with deletions=1, `deleted` when a session goes"),
      }, [404]),
    },
    config: { documentedInput: { querystring: FeedQueryDoc } },
    preHandler: [quota.claim, async (request) => {
      plans.set(request, await planFeed(ctx, request));
    }],
    handler: async (request, reply) => {
      reply.hijack();
      run(request, new SseSink(reply.raw, ctx.config.streamHeartbeatMs));
    },
    wsHandler: (socket, request) => {
      refuseClientFrames(socket, "the feed is read-only");
      run(request, new WebSocketSink(socket));
    },
  });

  function run(request: FastifyRequest, sink: SseSink | WebSocketSink): void {
    const plan = plans.get(request)!;
    streams.feed.subscribe(sink, plan.filter, plan.after).catch((err: unknown) => {
      request.log.error({ err }, "a feed subscriber failed");
      sink.end({ code: 1011, reason: "internal_error" });
    });
  }
};

async function planFeed(ctx: ServerContext, request: FastifyRequest): Promise<FeedPlan> {
  const raw = request.query as Record<string, unknown>;
  assertKnownParameters(raw, FeedQueryDoc);
  const list = (name: string) => {
    const items = optionalString(raw, name)?.split(",").filter(Boolean);
    return items?.length ? items : undefined;
  };
  const lastEventId = request.headers["last-event-id"];
  const after = parseFeedAfter(raw, typeof lastEventId === "string" ? lastEventId : undefined);
  const refs = list("session");
  // Names are resolved to ids now; a session the caller may not see is a 404, as everywhere.
  const sessions = refs && new Set(await Promise.all(refs.map(async (ref) => (await sessionFor(ctx, request, ref)).id)));
  const types = list("type");
  const kinds = list("kind");
  const agentIds = list("agent_id");
  const deletions = optionalString(raw, "deletions");
  if (deletions !== undefined && deletions !== "0" && deletions !== "1") throw errors.validation("deletions", "expected 0 or 1");
  const p = request.principal;
  const scope =
    p.role === "agent"
      ? { ...(p.agent_id !== undefined ? { agent_id: p.agent_id } : {}), ...(p.user_id !== undefined ? { user_id: p.user_id } : {}) }
      : undefined;
  const filter: FeedFilter = {
    ...(sessions ? { sessions } : {}),
    ...(types ? { types: new Set(types) } : {}),
    ...(kinds ? { kinds: new Set(kinds) } : {}),
    ...(agentIds ? { agentIds: new Set(agentIds) } : {}),
    ...(scope ? { scope } : {}),
    ...(deletions === "1" ? { deletions: true } : {}),
    execIo: (owner) => mayReadExecIo(ctx.config, p, owner),
  };
  return { filter, after };
}
