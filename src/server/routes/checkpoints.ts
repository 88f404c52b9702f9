import { Type } from "@sinclair/typebox";
import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import type { Checkpoint, JsonObject, Session } from "../../core/index.js";
import { INTERPRETER_KINDS, type InterpreterState, interpreterStateAt, interpreterStates } from "../../drivers/index.js";
import { assertOwnFields } from "../auth/index.js";
import { expectedVersion } from "../etag.js";
import { CheckpointBody, CheckpointParams, ForkBody, IfMatchHeaders, SessionParams, VersionBody } from "../schemas.js";
import { HEADER, SESSION, SESSION_CREATED, json, responses } from "../responses.js";
import { type ServerContext, sendJson, sendSession, sessionFor } from "../server-context.js";
import { arrayJson, toJson } from "../wire.js";

const CHECKPOINT = Type.Ref("Checkpoint");

/**
 * `/sessions/{id}/checkpoints`: record, list and read checkpoints; restore one (rewinds context
 * and iterations, appends a `restore` event) or fork a new session from it.
 */
export const checkpointRoutes: FastifyPluginAsyncTypebox<{ ctx: ServerContext }> = async (app, { ctx }) => {
  const { manager, live } = ctx;
  /** A python or typescript session's checkpoint shows the interpreter it holds: the cells up to it (docs/checkpoints.md#interpreter-state). */
  const withInterpreter = async (session: Session, checkpoint: Checkpoint): Promise<Checkpoint & { interpreter?: InterpreterState }> =>
    INTERPRETER_KINDS.has(session.kind) ? { ...checkpoint, interpreter: await interpreterStateAt(manager, session, checkpoint.seq) } : checkpoint;

  app.post(
    "/",
    {
      schema: {
        operationId: "createCheckpoint",
        summary: "Record a checkpoint",
        description:
          "Captures the session's context, status and iterations now, with your `data` and `label`; `data` becomes the session's `checkpoint`. With `with_files: true` it also snapshots the session's workspace (`state.workspace`; docs/checkpoints.md).",
        tags: ["checkpoints"],
        params: SessionParams,
        headers: IfMatchHeaders,
        body: CheckpointBody,
        response: responses({ 201: json(CHECKPOINT, "the checkpoint recorded", { Location: HEADER.location }) }, [409, 412, 413, 422]),
      },
    },
    async (request, reply) => {
      const session = await sessionFor(ctx, request, request.params.id);
      const expected = expectedVersion(request, session, request.body.version);
      const { label, data, with_files } = request.body;
      const checkpoint = await manager.createCheckpoint(
        session.id,
        { ...(label !== undefined ? { label } : {}), ...(data !== undefined ? { data } : {}), ...(with_files ? { with_files } : {}) },
        expected === undefined ? {} : { expected_version: expected },
      );
      reply.header("location", `/sessions/${encodeURIComponent(session.id)}/checkpoints/${checkpoint.id}`);
      return sendJson(reply, toJson(await withInterpreter(session, checkpoint)), 201);
    },
  );

  app.get(
    "/",
    {
      schema: {
        operationId: "listCheckpoints",
        summary: "List checkpoints",
        description: "Oldest first, as a JSON array.",
        tags: ["checkpoints"],
        params: SessionParams,
        response: responses({ 200: Type.Array(CHECKPOINT) }),
      },
    },
    async (request, reply) => {
      const session = await sessionFor(ctx, request, request.params.id);
      const checkpoints = await manager.listCheckpoints(session.id);
      if (!INTERPRETER_KINDS.has(session.kind)) return sendJson(reply, arrayJson(checkpoints, toJson));
      const states = await interpreterStates(manager, session, checkpoints.map((c) => c.seq));
      return sendJson(reply, arrayJson(checkpoints.map((c) => ({ ...c, ...(states.has(c.seq) ? { interpreter: states.get(c.seq)! } : {}) })), toJson));
    },
  );

  app.get(
    "/:cid",
    { schema: { operationId: "getCheckpoint", summary: "Get a checkpoint", tags: ["checkpoints"], params: CheckpointParams, response: responses({ 200: CHECKPOINT }) } },
    async (request, reply) => {
      const session = await sessionFor(ctx, request, request.params.id);
      return sendJson(reply, toJson(await withInterpreter(session, await manager.getCheckpoint(session.id, request.params.cid))));
    },
  );

  /** What a restore of a python or typescript session records of its interpreter (`interpreter` in the restore event). */
  const interpreterNote = async (session: Session, checkpointId: string): Promise<{ interpreter?: JsonObject }> => {
    if (!INTERPRETER_KINDS.has(session.kind)) return {};
    const checkpoint = await manager.getCheckpoint(session.id, checkpointId);
    return { interpreter: { ...(await interpreterStateAt(manager, session, checkpoint.seq)) } };
  };

  app.post(
    "/:cid/restore",
    {
      schema: {
        operationId: "restore",
        summary: "Restore a checkpoint",
        description:
          "Rewinds context and iterations to the checkpoint and appends a `restore` event; history is kept. A checkpoint `with_files` also puts the workspace back as it was (files added since removed), and the event says so. A finished session cannot be restored: fork it.",
        tags: ["checkpoints"],
        params: CheckpointParams,
        headers: IfMatchHeaders,
        body: VersionBody,
        response: responses({ 200: SESSION }, [409, 412, 422]),
      },
    },
    async (request, reply) => {
      const session = await sessionFor(ctx, request, request.params.id);
      const expected = expectedVersion(request, session, request.body.version);
      const note = await interpreterNote(session, request.params.cid);
      // A live python or typescript session's interpreter is rebuilt at the checkpoint: stopped, the
      // restore made (workspace first), then a fresh one replaying the checkpoint's cells.
      const { value, rebuild } = await live.rebuildAround(session.id, "restore", () =>
        manager.restore(session.id, request.params.cid, expected === undefined ? {} : { expected_version: expected }, note),
      );
      return sendSession(reply, rebuild ? await manager.get(session.id) : value);
    },
  );

  app.post(
    "/:cid/fork",
    {
      schema: {
        operationId: "fork",
        summary: "Fork from a checkpoint",
        description:
          "A new active session with the source's settings and the checkpoint's context and iterations; `parent` names the source. A checkpoint `with_files` gives it its own copy of the checkpoint's workspace.",
        tags: ["checkpoints"],
        params: CheckpointParams,
        body: ForkBody,
        response: responses({ 201: SESSION_CREATED }, [409, 422]),
      },
    },
    async (request, reply) => {
      const session = await sessionFor(ctx, request, request.params.id);
      // The fork inherits the source's owner, which the principal was just shown to own.
      assertOwnFields(request.principal, session);
      const note = await interpreterNote(session, request.params.cid);
      let child = await manager.fork(session.id, request.params.cid, request.body.name === undefined ? {} : { name: request.body.name }, note);
      // A fork of a live kind gets its own process: an interpreter replays the checkpoint's cells.
      if (live.kinds().includes(child.kind as never)) {
        await live.startFork(session, child);
        child = await manager.get(child.id);
      }
      reply.header("location", `/sessions/${encodeURIComponent(child.id)}`);
      return sendSession(reply, child, 201);
    },
  );
};
