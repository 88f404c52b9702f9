import type { FastifyInstance, FastifyRequest } from "fastify";
import { MAX_NESTING, errors, nestsDeeperThan } from "../core/index.js";

/** Media types whose body is JSON. `+json` suffixes (RFC 6839) included. */
const JSON_TYPES = ["application/json", "application/merge-patch+json"];
const JSON_SUFFIX = /^application\/[a-z0-9!#$&^_.-]+\+json$/;

type Done = (err: Error | null, body?: unknown) => void;

/**
 * Bodies longer than this are scanned for their nesting before they are parsed. Shorter ones
 * parse in a few milliseconds however deep, and validation then names the field too deep.
 */
const SCANNED_BODY_CHARS = 64 * 1024;

/**
 * Request bodies sessiond reads:
 * - JSON (`application/json`, `application/merge-patch+json`, any `+json`); an empty body is
 *   no body, so `curl -X POST -H 'Content-Type: application/json' …/pause` works;
 * - `application/x-www-form-urlencoded` whose text is JSON, parsed as JSON: that is what
 *   `curl -d '{…}'` sends when no Content-Type is given, and seed 003's examples do exactly that.
 *   A real form (`a=1&b=2`) becomes an object of strings, and validation judges it. A page of
 *   another site can make a browser send this type without asking first (no CORS preflight);
 *   such a request carries that site's `Origin` and is refused before its body is read
 *   (auth/request-origin.ts).
 * Anything else is refused with 415 (artifact uploads install their own streaming parser).
 */
export function installContentTypes(app: FastifyInstance): void {
  const parseJson = app.getDefaultJsonParser("error", "error");
  const json = (request: FastifyRequest, body: string, done: Done): void => {
    if (isBlank(body)) done(null, undefined);
    // Too deep to keep is refused before JSON.parse builds it (nestsDeeperThan says why).
    else if (body.length > SCANNED_BODY_CHARS && nestsDeeperThan(body)) done(errors.validation("body", `nests deeper than ${MAX_NESTING} levels, which the stores do not keep`));
    else parseJson(request, body, done);
  };
  app.removeContentTypeParser(["application/json", "text/plain"]);
  app.addContentTypeParser(JSON_TYPES, { parseAs: "string" }, (request, body, done) => json(request, body as string, done));
  app.addContentTypeParser(JSON_SUFFIX, { parseAs: "string" }, (request, body, done) => json(request, body as string, done));
  app.addContentTypeParser("application/x-www-form-urlencoded", { parseAs: "string" }, (request, body, done) => {
    const text = body as string;
    const first = text.trimStart()[0];
    if (first === "{" || first === "[" || isBlank(text)) json(request, text, done);
    else done(null, parseForm(text));
  });
}

/** True when the request's body is a JSON Merge Patch (RFC 7396). */
export function isMergePatch(request: FastifyRequest): boolean {
  const type = request.headers["content-type"];
  return typeof type === "string" && type.toLowerCase().split(";")[0]!.trim() === "application/merge-patch+json";
}

function isBlank(text: string): boolean {
  return text.trim() === "";
}

/** A form body as an object; a repeated key becomes an array. Prototype keys are dropped. */
function parseForm(text: string): Record<string, string | string[]> {
  const result: Record<string, string | string[]> = Object.create(null);
  for (const [key, value] of new URLSearchParams(text)) {
    if (key === "__proto__" || key === "constructor" || key === "prototype") continue;
    const previous = result[key];
    result[key] = previous === undefined ? value : Array.isArray(previous) ? [...previous, value] : [previous, value];
  }
  return { ...result };
}
