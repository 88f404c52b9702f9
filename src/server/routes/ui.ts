import { randomBytes } from "node:crypto";
import { existsSync, statSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { extname, join } from "node:path";
import { fileURLToPath } from "node:url";
import fastifyStatic from "@fastify/static";
import { Type } from "@sinclair/typebox";
import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import type { FastifyReply } from "fastify";
import { type Config, SessiondError, errors } from "../../core/index.js";
import { responses } from "../responses.js";
import { sendJson } from "../server-context.js";

/** Where the dashboard is served. */
export const UI_PREFIX = "/ui";

/** The placeholder `npm run build` leaves in index.html where each answer puts its own CSP nonce. */
export const NONCE_PLACEHOLDER = "__SESSIOND_CSP_NONCE__";

/**
 * The package's own build of the dashboard: `<package>/dist/ui`. This module sits two folders
 * below the package root both in the sources (src/server/routes) and in the compiled tree
 * (dist/server/routes).
 */
const PACKAGE_UI_DIR = fileURLToPath(new URL("../../../dist/ui/", import.meta.url));

/** Hashed build outputs never change under their name: a year, and no revalidation. */
const ASSET_CACHE = "public, max-age=31536000, immutable";
/** index.html names the current hashed assets: always asked for again (an ETag-less 200 is cheap). */
const PAGE_CACHE = "no-cache";

/** The principal as the dashboard learns it. */
const WhoAmI = Type.Object(
  {
    role: Type.Union([Type.Literal("admin"), Type.Literal("agent"), Type.Literal("reader")]),
    name: Type.String({ description: "the token's name (config `tokens[].name`), never its secret" }),
    agent_id: Type.Union([Type.String(), Type.Null()], { description: "an agent token's agent_id scope" }),
    user_id: Type.Union([Type.String(), Type.Null()], { description: "an agent token's user_id scope" }),
  },
  { $id: "WhoAmI" },
);

/**
 * The Content-Security-Policy of every dashboard answer. Scripts only from the server's own
 * files (no inline script, no eval); styles from its files and from `<style>` elements carrying
 * this answer's nonce — the terminal (xterm.js) writes its measured cell sizes and colours into
 * style elements it creates at run time, and the page stamps the nonce on them (docs/ui.md#security).
 * `connect-src 'self'` admits the same host's WebSocket (attach) in current browsers.
 */
export function contentSecurityPolicy(nonce?: string): string {
  return [
    "default-src 'self'",
    "script-src 'self'",
    nonce === undefined ? "style-src 'self'" : `style-src 'self' 'nonce-${nonce}'`,
    "img-src 'self' data:",
    "font-src 'self'",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
  ].join("; ");
}

/**
 * `/ui`: the dashboard (docs/ui.md), the static files `npm run build` writes to dist/ui (config
 * `uiDir` to serve another build). Public, as a page must load before it can ask for a token;
 * every API call it makes carries the token. Hashed assets under `/ui/assets/` are cached for a
 * year; index.html is never cached and carries a fresh CSP nonce; every path under
 * `/ui/sessions/` (a session's name may hold dots) and any other path under `/ui/` without a file
 * extension is the page too (the app routes in the browser), and an unknown file is a 404, never
 * cached. Without a build the page answers 503 `ui_not_built`, naming `npm run build`.
 * `GET /ui/whoami` tells the page what the token may do (its role and scope).
 */
export const uiRoutes: FastifyPluginAsyncTypebox<{ config: Pick<Config, "uiDir"> }> = async (app, { config }) => {
  const root = config.uiDir === "" ? PACKAGE_UI_DIR : config.uiDir;
  const index = join(root, "index.html");
  // Encapsulated here (this plugin is not fastify-plugin wrapped): the docs page registers its own.
  await app.register(fastifyStatic, { root, serve: false, dotfiles: "ignore", index: false, etag: true, lastModified: true });

  const hidden = { hide: true } as const;
  const open = { public: true } as const;

  async function sendPage(reply: FastifyReply): Promise<FastifyReply> {
    let html: string;
    try {
      html = await readFile(index, "utf8");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
      throw new SessiondError("ui_not_built", { dir: root });
    }
    const nonce = randomBytes(18).toString("base64");
    setSecurityHeaders(reply, nonce);
    reply.header("cache-control", PAGE_CACHE);
    return reply.type("text/html; charset=utf-8").send(html.replaceAll(NONCE_PLACEHOLDER, nonce));
  }

  function sendStatic(reply: FastifyReply, file: string, cache: string): FastifyReply {
    if (!existsSync(index)) throw new SessiondError("ui_not_built", { dir: root });
    // Looked for before any header is set: a 404 must not go out with an asset's year-long,
    // immutable cache header (a browser would keep the miss after the file appears).
    if (!isFile(join(root, file))) throw new SessiondError("not_found", { what: "file", ref: `${UI_PREFIX}/${file}` });
    // No nonce: a script or stylesheet is no page, and nothing in it reads one.
    setSecurityHeaders(reply);
    reply.header("cache-control", cache);
    return reply.sendFile(file, { cacheControl: false });
  }

  // Every answer under /ui carries the policy, errors too (a 404 echoes the path it did not find);
  // the page replaces it with one naming its nonce.
  app.addHook("onRequest", (_request, reply, done) => {
    setSecurityHeaders(reply);
    done();
  });

  app.get("/", { config: open, schema: hidden }, async (_request, reply) => sendPage(reply));

  app.get("/assets/*", { config: open, schema: hidden }, async (request, reply) => {
    const file = (request.params as { "*": string })["*"];
    if (!isPlainPath(file)) throw errors.validation("path", "an asset path is plain names joined by /");
    return sendStatic(reply, `assets/${file}`, ASSET_CACHE);
  });

  app.get("/*", { config: open, schema: hidden }, async (request, reply) => {
    const path = (request.params as { "*": string })["*"];
    // Every path under sessions/ is a session's page, whatever its name: names may hold dots
    // (release-1.2), and no file of the build lives there.
    if (path.startsWith("sessions/")) return sendPage(reply);
    // A dotfile is never served, not even as the page: a name like .env is no page of the app.
    if (path.split("/").some((name) => name.startsWith("."))) return reply.callNotFound();
    // A path with an extension names a file (favicon.svg); anything else is a page of the app.
    if (extname(path) === "" || path === "index.html") return sendPage(reply);
    if (!isPlainPath(path)) throw errors.validation("path", "a file path is plain names joined by /");
    return sendStatic(reply, path, PAGE_CACHE);
  });

  app.get(
    "/whoami",
    {
      schema: {
        operationId: "whoAmI",
        summary: "The caller's role and scope",
        description: "What the dashboard shows and offers depends on it: admin buttons for the admin only, an agent token's own sessions.",
        tags: ["operations"],
        response: responses({ 200: WhoAmI }),
      },
    },
    async (request, reply) => {
      const p = request.principal;
      return sendJson(reply, JSON.stringify({ role: p.role, name: p.name, agent_id: p.agent_id ?? null, user_id: p.user_id ?? null }));
    },
  );

  // A file the page names that is not there (an asset of another build) is a 404 in the error shape.
  app.setNotFoundHandler((request) => {
    throw new SessiondError("not_found", { what: "file", ref: request.url.split("?")[0] ?? request.url });
  });
};

function setSecurityHeaders(reply: FastifyReply, nonce?: string): void {
  reply.header("content-security-policy", contentSecurityPolicy(nonce));
  reply.header("x-content-type-options", "nosniff");
  reply.header("referrer-policy", "no-referrer");
  reply.header("x-frame-options", "DENY");
}

function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

/** Names of letters, digits, `.`, `_` and `-` joined by `/`, no name of dots alone: nothing that walks out of the folder. */
function isPlainPath(path: string): boolean {
  return path.length > 0 && path.split("/").every((name) => /^[\w.-]+$/.test(name) && !/^\.+$/.test(name));
}
