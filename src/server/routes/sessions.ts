import { type Static, Type } from "@sinclair/typebox";
import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import {
  type JsonObject,
  type Session,
  type UpdateSessionInput,
  applyMergePatch,
  assertRecoveryAllowed,
  errors,
  isSessiondError,
  validate,
} from "../../core/index.js";
import { assertAdmin, assertMayChooseId, assertMayWriteRuntimeMetadata, assertOwnFields, ownerDefaults, scopedFilter } from "../auth/index.js";
import { isMergePatch } from "../content-types.js";
import { expectedVersion, notModified, setEtag } from "../etag.js";
import {
  CleanupAnswer,
  CleanupBody,
  CreateSessionBody,
  IfMatchHeaders,
  IfNoneMatchHeaders,
  MergePatchSessionBody,
  RecoverAllBody,
  RecoveryWire,
  SessionListQuery,
  SessionParams,
  UpdateSessionBody,
} from "../schemas.js";
import { HEADER, NO_CONTENT, PAGE_HEADERS, SESSION, SESSION_CREATED, json, responses } from "../responses.js";
import { type ServerContext, sendJson, sendSession, sessionFor, setNextPage } from "../server-context.js";
import { arrayJson, sessionJson, toJson } from "../wire.js";
import { EXEC_KINDS, LiveStartSchema, isExecKind } from "../../drivers/index.js";
import { CoalescedLists } from "./coalesced-lists.js";
import { startLive } from "./exec-sessions.js";
import { filterFromQuery } from "./session-filter.js";

/** Attempts of a merge-patch read-modify-write before giving up to a concurrent writer. */
const MERGE_ATTEMPTS = 5;

/**
 * `/sessions`: seed 003's collection and item routes (POST /sessions/, GET /sessions/{id},
 * PATCH /sessions/{id}, GET /sessions/?agent_id=…&limit=…) and its "Remaining Work": DELETE,
 * filters (status, time range…), bulk cleanup and bulk recovery.
 */
export const sessionRoutes: FastifyPluginAsyncTypebox<{ ctx: ServerContext }> = async (app, { ctx }) => {
  const { manager } = ctx;
  const lists = new CoalescedLists(manager, ctx.config.maxPageBytes);
  app.addHook("onClose", async () => lists.close());

  app.post(
    "/",
    {
      schema: {
        summary: "Create a session",
        description: "Seed 003's POST /sessions/. `session_type` is accepted as an alias of `type`. An agent token's sessions get its agent_id/user_id.",
        operationId: "createSession",
        tags: ["sessions"],
        body: CreateSessionBody,
        response: responses({ 201: SESSION_CREATED }, [409, 422, 501]),
      },
    },
    async (request, reply) => {
      const { session_type, cwd, env, cols, rows, ...body } = request.body;
      const input = { ...body, ...typeAlias(body.type, session_type) };
      assertMayChooseId(request.principal, input);
      assertMayWriteRuntimeMetadata(request.principal, input);
      const processOptions = dropUndefined({ cwd, env, cols, rows });
      if (isExecKind(input.kind)) {
        // An exec kind is a live session: its process starts now (off unless enabled; 400 then).
        const session = await startLive(ctx, request, { ...input, kind: input.kind, ...processOptions }, "kind");
        reply.header("location", `/sessions/${encodeURIComponent(session.id)}`);
        return sendSession(reply, session, 201);
      }
      // Every live-session option (cwd… and a mode's own, interpreter…) names itself, not "unknown field".
      const extra = Object.keys(LiveStartSchema.properties).find((name) => (request.body as Record<string, unknown>)[name] !== undefined);
      if (extra !== undefined) throw errors.validation(extra, `only for a session of an exec kind (${EXEC_KINDS.join(", ")})`);
      assertOwnFields(request.principal, input);
      const session = await manager.create({ ...ownerDefaults(request.principal), ...input });
      reply.header("location", `/sessions/${encodeURIComponent(session.id)}`);
      return sendSession(reply, session, 201);
    },
  );

  app.get(
    "/",
    {
      schema: {
        summary: "List sessions",
        description:
          "Newest first unless `sort` and `order` say otherwise, as a JSON array. Filters combine (AND); `status`, `kind` and `label` (key:value) may repeat; " +
          "`q` searches names and tasks. When there is a next page its cursor is in `X-Next-Cursor` and a `Link: <…>; rel=\"next\"` header; " +
          "a cursor continues only the sort and order it was made for. An agent token lists only its own sessions.",
        operationId: "listSessions",
        tags: ["sessions"],
        querystring: SessionListQuery,
        response: responses({ 200: json(Type.Array(Type.Ref("Session")), "a page of sessions", PAGE_HEADERS) }),
      },
    },
    async (request, reply) => {
      const { limit, cursor, sort, order, ...query } = request.query;
      const filter = scopedFilter(request.principal, filterFromQuery(query));
      if (!filter) return sendJson(reply, "[]");
      const page = await lists.read(filter, dropUndefined({ limit, cursor, sort, order }), request.principal);
      setNextPage(request, reply, page.next_cursor);
      return sendJson(reply, page.json);
    },
  );

  app.get(
    "/:id",
    {
      schema: {
        summary: "Get a session by id or name",
        description: "Sends a weak ETag (the session's version); `If-None-Match` with it answers 304.",
        operationId: "getSession",
        tags: ["sessions"],
        params: SessionParams,
        headers: IfNoneMatchHeaders,
        response: responses({ 200: SESSION, 304: { description: "not modified: the session is still at the version If-None-Match named", headers: { ETag: HEADER.etag } } }),
      },
    },
    async (request, reply) => {
      const session = await sessionFor(ctx, request, request.params.id);
      if (notModified(request, session)) {
        setEtag(reply, session);
        return reply.status(304).send();
      }
      return sendSession(reply, session);
    },
  );

  app.patch(
    "/:id",
    {
      schema: {
        summary: "Update a session",
        description:
          "Seed 003's PATCH: `status` moves through the status machine, `context` replaces the context, `context_patch` merges into it " +
          "(RFC 7396), `checkpoint` records a checkpoint. With `Content-Type: application/merge-patch+json` the body is a merge patch " +
          "of the session: `context`, `metadata`, `runtime_metadata` and `labels` merge (null deletes a key), other fields replace. " +
          "`If-Match` (or `version`) makes the update conditional: 412 when the session has moved on.",
        operationId: "updateSession",
        tags: ["sessions"],
        params: SessionParams,
        headers: IfMatchHeaders,
        body: {
          content: {
            "application/json": { schema: UpdateSessionBody },
            "application/x-www-form-urlencoded": { schema: UpdateSessionBody },
            "application/merge-patch+json": { schema: MergePatchSessionBody },
          },
        } as never,
        response: responses({ 200: SESSION }, [409, 412, 422]),
      },
    },
    async (request, reply) => {
      const ref = request.params.id;
      const merge = isMergePatch(request);
      const body = validate(merge ? MergePatchSessionBody : UpdateSessionBody, request.body ?? {});
      assertMayWriteRuntimeMetadata(request.principal, body);
      let attempt = 0;
      for (;;) {
        const current = await sessionFor(ctx, request, ref);
        const expected = expectedVersion(request, current, body.version);
        const { input, readsCurrent } = merge ? mergeInput(current, body) : plainInput(body as Static<typeof UpdateSessionBody>);
        assertOwnFields(request.principal, input);
        try {
          // A merge of metadata, runtime_metadata or labels is computed on `current`, so it is
          // written only if the session is still at that version; the caller's version wins when given.
          const version = expected ?? (readsCurrent ? current.version : undefined);
          const updated = await manager.update(current.id, input, version === undefined ? {} : { expected_version: version });
          // Its folder follows the name and whether it has an agent_id (workspaceName).
          if (updated.name !== current.name || updated.agent_id !== current.agent_id) await ctx.workspaces.move(current, updated);
          return sendSession(reply, updated);
        } catch (err) {
          const retry = readsCurrent && expected === undefined && isSessiondError(err, "version_conflict") && ++attempt < MERGE_ATTEMPTS;
          if (!retry) throw err;
        }
      }
    },
  );

  app.delete(
    "/:id",
    {
      schema: {
        summary: "Delete a session",
        description: "Deletes the session with its events, checkpoints and workspace. `If-Match` makes it conditional.",
        operationId: "deleteSession",
        tags: ["sessions"],
        params: SessionParams,
        headers: IfMatchHeaders,
        response: responses({ 204: NO_CONTENT }, [412]),
      },
    },
    async (request, reply) => {
      const session = await sessionFor(ctx, request, request.params.id);
      const expected = expectedVersion(request, session);
      await manager.delete(session.id, expected === undefined ? {} : { expected_version: expected });
      return reply.status(204).send();
    },
  );

  app.post(
    "/cleanup",
    {
      schema: {
        summary: "Delete old finished sessions",
        description:
          "Bulk cleanup: deletes sessions that ended (completed, failed, timeout) more than `older_than_days` ago, with their workspaces. " +
          "`dry_run: true` deletes nothing and lists what would go. Admin only.",
        operationId: "cleanupSessions",
        tags: ["sessions"],
        body: CleanupBody,
        response: responses({ 200: CleanupAnswer }),
      },
    },
    async (request, reply) => {
      assertAdmin(request.principal, "bulk cleanup");
      if (request.body.dry_run === true) {
        const { sessions, more } = await manager.cleanupPreview(request.body.older_than_days);
        const wouldDelete = sessions.map((s) => ({ id: s.id, name: s.name, status: s.status, ended_at: s.ended_at ?? null }));
        return sendJson(reply, JSON.stringify({ deleted: 0, would_delete: wouldDelete, more }));
      }
      const deleted = await manager.cleanup(request.body.older_than_days);
      return sendJson(reply, JSON.stringify({ deleted }));
    },
  );

  app.post(
    "/recover",
    {
      schema: {
        summary: "Recover crashed sessions",
        description:
          "Seed 003's auto-resume: every crashed session (of `agent_id`/`user_id` when given; an agent token's own) goes back to active; " +
          "each comes back with the latest checkpoint to resume from.",
        operationId: "recoverAll",
        tags: ["sessions"],
        body: RecoverAllBody,
        response: responses({ 200: Type.Array(RecoveryWire) }, [409, 422]),
      },
    },
    async (request, reply) => {
      const { limit, ...owner } = request.body;
      const filter = scopedFilter(request.principal, { ...owner, status: "crashed" });
      if (!filter) return sendJson(reply, "[]");
      const crashed = await manager.list(filter, { limit: limit ?? 100 });
      // Recovering a live session starts its process: while its kind is off the operation is
      // refused as a start is, before any session moves (rather than halfway through the list).
      for (const session of crashed.items) assertRecoveryAllowed(ctx.config, session);
      const recovered: string[] = [];
      for (const session of crashed.items) {
        try {
          const { session: active, checkpoint } = await manager.recover(session.id, { expected_version: session.version });
          recovered.push(`{"session":${sessionJson(active, request.principal)},"checkpoint":${checkpoint ? toJson(checkpoint) : "null"}}`);
        } catch (err) {
          // Another client recovered (or changed) it meanwhile: it is no longer ours to recover.
          if (!isSessiondError(err, "version_conflict") && !isSessiondError(err, "invalid_transition") && !isSessiondError(err, "not_found")) throw err;
        }
      }
      return sendJson(reply, `[${recovered.join(",")}]`);
    },
  );
};

/** `session_type` (seed 003) as `type`; both given and different is an error. */
function typeAlias(type: string | null | undefined, sessionType: string | null | undefined): { type?: string | null } {
  if (sessionType === undefined) return {};
  if (type !== undefined && type !== sessionType) throw errors.validation("session_type", "differs from type; give one of them");
  return { type: sessionType };
}

function plainInput(body: Static<typeof UpdateSessionBody>): { input: UpdateSessionInput; readsCurrent: boolean } {
  const { session_type, version: _version, ...rest } = body;
  return { input: { ...rest, ...typeAlias(rest.type, session_type) }, readsCurrent: false };
}

/** A merge patch of the session resource as an engine update: context merges atomically in the engine; the other maps merge here. */
function mergeInput(current: Session, body: Static<typeof MergePatchSessionBody>): { input: UpdateSessionInput; readsCurrent: boolean } {
  const { session_type, version: _version, context, metadata, runtime_metadata, labels, ...rest } = body;
  const input: UpdateSessionInput = { ...rest, ...typeAlias(rest.type, session_type) };
  if (context !== undefined) input.context_patch = context;
  if (metadata !== undefined) input.metadata = applyMergePatch(current.metadata, metadata) as JsonObject;
  if (runtime_metadata !== undefined) input.runtime_metadata = applyMergePatch(current.runtime_metadata, runtime_metadata) as JsonObject;
  if (labels !== undefined) input.labels = applyMergePatch(current.labels, labels) as Record<string, string>;
  return { input, readsCurrent: metadata !== undefined || runtime_metadata !== undefined || labels !== undefined };
}

function dropUndefined<T extends Record<string, unknown>>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
