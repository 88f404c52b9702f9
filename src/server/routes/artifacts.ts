import { Readable } from "node:stream";
import { Type } from "@sinclair/typebox";
import { UNSTORED_TEXT } from "../../core/index.js";
import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import { ARTIFACT_CATEGORIES, type ArtifactEntry, MAX_LISTING, artifactStream } from "../workspaces/index.js";
import { SessionParams } from "../schemas.js";
import { HEADER, NO_CONTENT, json, responses } from "../responses.js";
import { discardRestOfBody } from "../discard-body.js";
import { type ServerContext, sendJson, sessionFor } from "../server-context.js";
import { arrayJson, toJson } from "../wire.js";

const Category = Type.Union(ARTIFACT_CATEGORIES.map((c) => Type.Literal(c)));
const CategoryParams = Type.Object({ id: SessionParams.properties.id, category: Category }, { additionalProperties: false });
const PathParams = Type.Object(
  { id: SessionParams.properties.id, category: Category, "*": Type.String({ minLength: 1, description: "the artifact's path inside the category, e.g. `notes/plan.md` (`notes%2Fplan.md` as generated clients encode it)" }) },
  // A path is never stored: artifactSegments refuses NUL itself, naming `path`.
  { additionalProperties: false, [UNSTORED_TEXT]: true },
);
const EntryWire = Type.Object({
  category: Category,
  path: Type.String(),
  type: Type.Union([Type.Literal("file"), Type.Literal("directory")]),
  size: Type.Integer(),
  modified_at: Type.String({ format: "date-time" }),
  content_type: Type.Optional(Type.String()),
});
const Listing = Type.Array(EntryWire);
/** A listing as answered: `X-Truncated` when it stopped at its cap. */
const LISTING = json(Listing, "the entries, depth first", { "X-Truncated": HEADER.truncated });
/** An upload's body, as documented: any bytes (the route reads the raw stream itself). */
const UPLOAD_BODY = { content: { "application/octet-stream": { schema: { type: "string", contentMediaType: "application/octet-stream" } }, "*/*": { schema: {} } } };

/**
 * `/sessions/{id}/artifacts`: the session's workspace (seed 002's categorized sandbox). Files
 * stream both ways — an upload is never held in memory — with a size cap (`maxArtifactBytes`).
 * Downloads carry a media type from the file's extension, `nosniff` and a sandboxing CSP, so an
 * uploaded HTML page cannot script the API's origin. Every path resolves inside the workspace
 * without following links, whatever the session does meanwhile (see Workspaces).
 */
export const artifactRoutes: FastifyPluginAsyncTypebox<{ ctx: ServerContext }> = async (app, { ctx }) => {
  const { workspaces } = ctx;
  // Uploads are bytes of any type: hand the raw request stream to the handler (this scope only).
  app.removeAllContentTypeParsers();
  app.addContentTypeParser("*", (_request, payload, done) => done(null, payload));

  const sendListing = (reply: Parameters<typeof sendJson>[0], entries: ArtifactEntry[]) => {
    if (entries.length >= MAX_LISTING) reply.header("x-truncated", "true");
    return sendJson(reply, arrayJson(entries, toJson));
  };

  app.get(
    "/",
    {
      schema: {
        operationId: "listArtifacts",
        summary: "List a session's artifacts",
        description: `Every file and folder in the five categories (${ARTIFACT_CATEGORIES.join(", ")}), depth first, at most ${MAX_LISTING}.`,
        tags: ["artifacts"],
        params: SessionParams,
        response: responses({ 200: LISTING }),
      },
    },
    async (request, reply) => {
      const session = await sessionFor(ctx, request, request.params.id);
      return sendListing(reply, await workspaces.list(session));
    },
  );

  app.get(
    "/:category",
    { schema: { operationId: "listArtifactCategory", summary: "List one category", tags: ["artifacts"], params: CategoryParams, response: responses({ 200: LISTING }) } },
    async (request, reply) => {
      const session = await sessionFor(ctx, request, request.params.id);
      return sendListing(reply, await workspaces.list(session, request.params.category));
    },
  );

  app.get(
    "/:category/*",
    {
      schema: {
        operationId: "downloadArtifact",
        summary: "Download an artifact",
        description: "Streams the file with its media type; a folder answers its listing (JSON).",
        tags: ["artifacts"],
        params: PathParams,
        response: responses({
          200: {
            description: "the file's bytes with its media type (from its extension; `application/octet-stream` when unknown), or a folder's listing as JSON",
            types: ["*/*"],
            headers: { "Last-Modified": { description: "the file's modification time", schema: Type.String() } },
          },
        }),
      },
    },
    async (request, reply) => {
      const session = await sessionFor(ctx, request, request.params.id);
      const found = await workspaces.read(session, request.params.category, request.params["*"]);
      if (Array.isArray(found)) return sendListing(reply, found);
      return reply
        .header("content-length", found.size)
        .header("last-modified", new Date(found.modified_at).toUTCString())
        .header("x-content-type-options", "nosniff")
        .header("content-security-policy", "sandbox; default-src 'none'")
        .type(found.content_type)
        .send(artifactStream(found));
    },
  );

  app.put(
    "/:category/*",
    {
      schema: {
        operationId: "uploadArtifact",
        summary: "Upload an artifact",
        description: "Streams the body (any content type) into the file, creating folders on the way and replacing a file already there. 201 when new, 200 when replaced.",
        tags: ["artifacts"],
        params: PathParams,
        response: responses({ 200: json(EntryWire, "the file replaced"), 201: json(EntryWire, "the file created") }, [409]),
      },
      config: { documentedInput: { body: UPLOAD_BODY } },
      // The stream parser of this scope enforces no limit itself (the handler caps what it
      // writes); declared so that what reads the route's limit (forwarding) finds this one.
      bodyLimit: ctx.config.maxArtifactBytes,
    },
    async (request, reply) => {
      const body = request.body instanceof Readable ? request.body : Readable.from([]);
      const declared = Number(request.headers["content-length"]);
      try {
        const session = await sessionFor(ctx, request, request.params.id);
        const { entry, created } = await workspaces.write(session, request.params.category, request.params["*"], body, Number.isFinite(declared) ? declared : undefined);
        return sendJson(reply, toJson(entry), created ? 201 : 200);
      } catch (err) {
        // A refused upload may still be arriving: drop the rest rather than reset the connection under the answer.
        discardRestOfBody(request.raw, ctx.config.refusedUploadDrainMs);
        throw err;
      }
    },
  );

  app.delete(
    "/:category/*",
    {
      schema: {
        operationId: "deleteArtifact",
        summary: "Delete an artifact",
        description: "A file, or a folder with its contents.",
        tags: ["artifacts"],
        params: PathParams,
        response: responses({ 204: NO_CONTENT }),
      },
    },
    async (request, reply) => {
      const session = await sessionFor(ctx, request, request.params.id);
      await workspaces.delete(session, request.params.category, request.params["*"]);
      return reply.status(204).send();
    },
  );
};
