import { Type } from "@sinclair/typebox";
import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import type { FastifyRequest } from "fastify";
import type { Session } from "../../core/index.js";
import type { WriteOptions } from "../../engine/index.js";
import { expectedVersion } from "../etag.js";
import {
  CompleteBody,
  FailBody,
  IfMatchHeaders,
  IterationBody,
  MetricsWire,
  ReasonBody,
  RecoverBody,
  RecoveryWire,
  SessionParams,
  StateAtWire,
  StateQuery,
  ToolCallBody,
  VersionBody,
} from "../schemas.js";
import { SESSION, json, responses } from "../responses.js";
import { type ServerContext, sendJson, sendSession, sessionFor } from "../server-context.js";
import { assertReplayable, replayCells } from "../../drivers/replay.js";
import { assertExecRole } from "./exec-sessions.js";
import { sessionJson, toJson } from "../wire.js";

/**
 * `/sessions/{id}/…`: lifecycle actions (pause, resume, complete, fail, crash, recover),
 * iterations, tool calls, seed 003's session metrics and the state at any seq. Actions honour
 * `If-Match` (or a `version` in the body): 412 when the session has moved on.
 */
export const sessionActionRoutes: FastifyPluginAsyncTypebox<{ ctx: ServerContext }> = async (app, { ctx }) => {
  const { manager } = ctx;

  /** The session the request names (as its principal may see it) and the version its write must find. */
  const target = async (request: FastifyRequest, ref: string, bodyVersion?: number): Promise<[Session, WriteOptions]> => {
    const session = await sessionFor(ctx, request, ref);
    const expected = expectedVersion(request, session, bodyVersion);
    return [session, expected === undefined ? {} : { expected_version: expected }];
  };
  /** A write to one session: it honours If-Match, and may meet a status it cannot leave (409) or a version it is no longer at (412). */
  const action = (operationId: string, summary: string, description: string) => ({ operationId, summary, description, tags: ["lifecycle"], params: SessionParams });
  const write = (operationId: string, summary: string, description: string) => ({ ...action(operationId, summary, description), headers: IfMatchHeaders });
  const actionErrors = [409, 412, 422] as const;

  app.post(
    "/pause",
    { schema: { ...write("pause", "Pause a session", "active → paused."), body: ReasonBody, response: responses({ 200: SESSION }, actionErrors) } },
    async (request, reply) => {
      const [session, options] = await target(request, request.params.id, request.body.version);
      return sendSession(reply, await manager.pause(session.id, request.body.reason, options));
    },
  );

  app.post(
    "/resume",
    { schema: { ...write("resume", "Resume a session", "paused → active; a crashed session is recovered."), body: VersionBody, response: responses({ 200: SESSION }, actionErrors) } },
    async (request, reply) => {
      const [session, options] = await target(request, request.params.id, request.body.version);
      return sendSession(reply, await manager.resume(session.id, options));
    },
  );

  app.post(
    "/complete",
    { schema: { ...write("complete", "Complete a session", "active|paused → completed, with an optional result."), body: CompleteBody, response: responses({ 200: SESSION }, actionErrors) } },
    async (request, reply) => {
      const [session, options] = await target(request, request.params.id, request.body.version);
      return sendSession(reply, await manager.complete(session.id, request.body.result, options));
    },
  );

  app.post(
    "/fail",
    { schema: { ...write("fail", "Fail a session", "active|paused|crashed → failed, recording the error."), body: FailBody, response: responses({ 200: SESSION }, actionErrors) } },
    async (request, reply) => {
      const [session, options] = await target(request, request.params.id, request.body.version);
      return sendSession(reply, await manager.fail(session.id, request.body.error, options));
    },
  );

  app.post(
    "/crash",
    { schema: { ...write("crash", "Mark a session crashed", "active|paused → crashed, for recovery."), body: ReasonBody, response: responses({ 200: SESSION }, actionErrors) } },
    async (request, reply) => {
      const [session, options] = await target(request, request.params.id, request.body.version);
      return sendSession(reply, await manager.crash(session.id, request.body.reason, options));
    },
  );

  app.post(
    "/recover",
    {
      schema: {
        ...write("recover", "Recover a crashed session", "crashed → active; answers the session and the latest checkpoint to resume from (seed 003's recovery)."),
        body: RecoverBody,
        response: responses({ 200: RecoveryWire }, actionErrors),
      },
    },
    async (request, reply) => {
      const [session, options] = await target(request, request.params.id, request.body.version);
      // Replay runs execs: it needs the roles live sessions need (checked before anything changes).
      if (request.body.replay) {
        assertExecRole(ctx.config, request.principal);
        assertReplayable(session);
      }
      const recovery = await manager.recover(session.id, options);
      const checkpoint = recovery.checkpoint ? toJson(recovery.checkpoint) : "null";
      // The process restarts on the recover event; the replay's execs wait for it.
      const replay = request.body.replay ? `,"replay":${JSON.stringify(await replayCells(ctx.live, manager, session.id))}` : "";
      return sendJson(reply, `{"session":${sessionJson(recovery.session, request.principal)},"checkpoint":${checkpoint}${replay}}`);
    },
  );

  app.post(
    "/iterations",
    {
      schema: {
        ...write("incrementIteration", "Count an iteration", "Records an `iteration` event with `data`; reaching max_iterations moves the session to timeout."),
        tags: ["events"],
        body: IterationBody,
        response: responses({ 200: SESSION }, actionErrors),
      },
    },
    async (request, reply) => {
      const [session, options] = await target(request, request.params.id, request.body.version);
      return sendSession(reply, await manager.incrementIteration(session.id, request.body.data ?? {}, options));
    },
  );

  app.post(
    "/tool-calls",
    {
      schema: {
        ...action("recordToolCall", "Record a tool call", "A `tool_call` event (seed 004); the tool is added to metadata.toolsUsed."),
        tags: ["events"],
        body: ToolCallBody,
        response: responses({ 201: json(Type.Ref("Event"), "the event recorded") }, [409, 422]),
      },
    },
    async (request, reply) => {
      const [session] = await target(request, request.params.id);
      const { tool, args, result, error, duration_ms } = request.body;
      const event = await manager.recordToolCall(session.id, tool, args, result, { error, duration_ms });
      return sendJson(reply, toJson(event), 201);
    },
  );

  app.get(
    "/metrics",
    {
      schema: {
        ...action("metrics", "Session metrics", "Seed 003's session metrics: duration, idle time, iterations, events by type, checkpoints."),
        tags: ["sessions"],
        response: responses({ 200: MetricsWire }),
      },
    },
    async (request, reply) => {
      const session = await sessionFor(ctx, request, request.params.id);
      return sendJson(reply, toJson(await manager.metrics(session.id)));
    },
  );

  app.get(
    "/state",
    {
      schema: {
        ...action("stateAt", "State at a seq", "The session's context, status and iterations right after event `seq` (time travel)."),
        tags: ["checkpoints"],
        querystring: StateQuery,
        response: responses({ 200: StateAtWire }),
      },
    },
    async (request, reply) => {
      const session = await sessionFor(ctx, request, request.params.id);
      return sendJson(reply, toJson(await manager.stateAt(session.id, request.query.seq ?? session.last_seq)));
    },
  );
};
