import { Type } from "@sinclair/typebox";
import type { FastifyPluginAsync, FastifyRequest } from "fastify";
import {
  SessionStream,
  SseSink,
  type StreamPlan,
  type StreamServices,
  WebSocketSink,
  parseStreamQuery,
  planStream,
} from "../../events/feeds/index.js";
import { assertMayReadExecIo, mayReadExecIo } from "../auth/index.js";
import { LastEventIdHeaders, SessionParams } from "../schemas.js";
import { assertKnownParameters } from "../validation.js";
import { eventStream, responses, websocketUpgrade } from "../responses.js";
import { type ServerContext, sessionFor } from "../server-context.js";
import type { PrincipalQuota } from "../principal-quota.js";
import { refuseClientFrames } from "./ws-frames.js";

/** The stream's query as documented (parseStreamQuery reads it, for SSE and WebSocket alike). */
const StreamQueryDoc = Type.Object({
  after_seq: Type.Optional(Type.Integer({ minimum: 0, description: "also send the recorded events with a greater seq, then live ones" })),
  after_pos: Type.Optional(Type.Integer({ minimum: 0, description: "also send the output chunks past this position" })),
  cursor: Type.Optional(Type.String({ pattern: "^\\d+:\\d+$", description: "`<seq>:<pos>` as in an SSE `id:`: after_seq and after_pos in one" })),
  exec_id: Type.Optional(Type.String({ description: "with offset: that exec's output from byte `offset`, then every later exec's" })),
  offset: Type.Optional(Type.Integer({ minimum: 0, description: "stdout byte offset in exec_id (default 0)" })),
  stderr_offset: Type.Optional(Type.Integer({ minimum: 0, description: "stderr byte offset in exec_id (default 0)" })),
  types: Type.Optional(Type.String({ description: "comma-separated event types to send (default all)" })),
  type: Type.Optional(Type.String({ description: "the same as types, as the feed and the event list name it" })),
  output: Type.Optional(Type.Union([Type.Literal("0"), Type.Literal("1")], { description: "0 leaves output chunks out (default 1)" })),
});

/**
 * `GET /sessions/{id}/stream`: the session's events and exec output, live and resumable, as SSE
 * or (same URL, upgrade) WebSocket. Everything that can be refused (unknown session, bad query,
 * a resume point the store does not hold) is refused before the stream starts, as an ordinary
 * HTTP error. A client that may not read the session's exec input and output (mayReadExecIo)
 * gets its events with exec events cut (withoutExecIo) and no output; asking for output
 * (`output=1`, `exec_id`) is then a 403. docs/streams.md is the contract.
 */
export const streamRoutes: FastifyPluginAsync<{ ctx: ServerContext; streams: StreamServices; quota: PrincipalQuota }> = async (app, { ctx, streams, quota }) => {
  const plans = new WeakMap<FastifyRequest, StreamPlan>();

  app.route({
    method: "GET",
    url: "/stream",
    schema: {
      operationId: "streamSession",
      summary: "Stream a session's events and exec output (SSE, or WebSocket on upgrade)",
      description: "Resumable: after_seq, exec_id + offset, after_pos, cursor or Last-Event-ID. See docs/streams.md.",
      tags: ["streams"],
      params: SessionParams,
      headers: LastEventIdHeaders,
      response: responses(
        {
          101: websocketUpgrade("the same messages as JSON text frames"),
          200: eventStream("the session's events (`event`), exec output (`output`) and `ready` once the backlog is sent; each `id:` is the cursor `<seq>:<pos>`"),
        },
        [416],
      ),
    },
    config: { documentedInput: { querystring: StreamQueryDoc } },
    preHandler: [quota.claim, async (request) => {
      const { id } = request.params as { id: string };
      const session = await sessionFor(ctx, request, id);
      const lastEventId = request.headers["last-event-id"];
      const raw = request.query as Record<string, unknown>;
      assertKnownParameters(raw, StreamQueryDoc);
      const query = parseStreamQuery(raw, typeof lastEventId === "string" ? lastEventId : undefined);
      const execIo = mayReadExecIo(ctx.config, request.principal, session);
      if (!execIo && (raw.output === "1" || query.exec_id !== undefined)) {
        assertMayReadExecIo(ctx.config, request.principal, session, "a stream with exec output (output=1 or exec_id)");
      }
      plans.set(request, await planStream(streams.deps, session, query, execIo));
      // A stream is a use of the session: a hibernated one wakes (in the background; its `wake`
      // event comes down the stream) — for tokens that may run it, not for a reader watching.
      if (ctx.config.execRoles.includes(request.principal.role)) {
        void ctx.live.wake(session.id).catch((err: unknown) => request.log.warn({ err, session: session.id }, "could not wake a hibernated session for a stream"));
      }
    }],
    handler: async (request, reply) => {
      reply.hijack();
      run(request, new SseSink(reply.raw, ctx.config.streamHeartbeatMs));
    },
    wsHandler: (socket, request) => {
      refuseClientFrames(socket, "this stream is read-only");
      run(request, new WebSocketSink(socket));
    },
  });

  function run(request: FastifyRequest, sink: SseSink | WebSocketSink): void {
    const stream = new SessionStream(streams.deps, plans.get(request)!, sink);
    const close = (code: number, reason: string) => stream.end(code, reason);
    streams.closers.add(close);
    sink.onClose(() => streams.closers.delete(close));
    stream.start().catch((err: unknown) => request.log.error({ err }, "a session stream failed"));
  }
};
