import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import { Type } from "@sinclair/typebox";
import { ImportRequestSchema } from "../../core/index.js";
import { type SessionFiles, type SessionImport, readSessionFiles } from "../../engine/index.js";
import { assertAdmin } from "../auth/index.js";
import { responses } from "../responses.js";
import { type ServerContext, sendJson } from "../server-context.js";

const ImportResult = Type.Object({ id: Type.String(), name: Type.String(), imported: Type.Boolean() });

/**
 * `/import`: sessions brought from elsewhere keep their ids, timestamps and history. Admin only
 * (the Unix socket is). Idempotent by id: 201 when stored, 200 with `imported: false` when a
 * session with that id already exists (it is left as it is). The body is a session as sessiond
 * records it, or one session's files as the seeds write them (read by readSessionFiles).
 */
export const importRoutes: FastifyPluginAsyncTypebox<{ ctx: ServerContext }> = async (app, { ctx }) => {
  app.post(
    "/sessions",
    {
      schema: {
        operationId: "importSession",
        summary: "Import a session with its history",
        description:
          "Stores a session with its original id, timestamps, status, events (seq 1, 2, 3… with no gap) and checkpoints; " +
          "or reads one session's files as `sessiond import` sends them, `{layout, files: [{name, content, mtime?}]}`: seed 004's session.json (layout `sessions`) " +
          "or seed 000's meta.json with 01-exec.json, 02-exec.json… (layout `activity`; docs/import-export.md). A wrong field names the file and the field (`files.1.content.exitCode`). " +
          "Idempotent by id (200, `imported: false`, when it exists). A live kind (shell…) that was active or paused comes in as crashed: no process runs it. Admin only.",
        tags: ["import"],
        body: ImportRequestSchema,
        response: responses({ 200: ImportResult, 201: ImportResult }, [409, 422]),
      },
    },
    async (request, reply) => {
      assertAdmin(request.principal, "import");
      const files = "files" in request.body ? readSessionFiles(request.body as SessionFiles, ctx.live.modes()) : undefined;
      const input = files?.body ?? (request.body as unknown as SessionImport);
      const { session: s } = input;
      const live = s.kind !== undefined && s.kind !== "agent" && (s.status === undefined || s.status === "active" || s.status === "paused");
      const { imported, session } = await ctx.manager.importSession(live ? { ...input, session: { ...s, status: "crashed" } } : input).catch((err: unknown) => {
        throw files ? files.blame(err) : err;
      });
      return sendJson(reply, JSON.stringify({ id: session.id, name: session.name, imported }), imported ? 201 : 200);
    },
  );
};
