import { type TObject, type TSchema, Type } from "@sinclair/typebox";
import { TypeCompiler } from "@sinclair/typebox/compiler";
import { Value } from "@sinclair/typebox/value";
import type { FastifyInstance, FastifySchemaCompiler } from "fastify";
import { UNSTORED_TEXT, errors, findTextFault, validate } from "../core/index.js";

/**
 * Fastify's validator compiler for TypeBox route schemas, sharing the engine's `validate`: one
 * error shape naming the field (`labels.env`, `limit`), unknown fields refused rather than
 * silently dropped (Fastify's default Ajv setup would remove them). Bodies are checked as sent;
 * query strings, params and headers are text on the wire, so they are converted to the schema's
 * types first (`limit=10` → 10), and only when they do not already fit. A number in the text must
 * be written plainly (see {@link assertPlainNumbers}).
 */
export const typeboxValidatorCompiler: FastifySchemaCompiler<TSchema> = ({ schema, httpPart }) => {
  // Header schemas document what a route reads (If-Match…); the route parses each one itself,
  // naming the header when it is malformed (etag.ts), and Fastify hands this compiler a copy
  // with the names lower-cased and TypeBox's markers dropped, which TypeBox cannot compile.
  if (httpPart === "headers") return (input: unknown) => ({ value: input });
  const check = TypeCompiler.Compile(schema);
  const convert = httpPart !== "body";
  return (input: unknown) => {
    // No body at all is an empty object: `curl -X POST …/pause` needs none.
    const value = (input === undefined || input === null) && !convert ? {} : input;
    // A value that fits is still refused for text the stores do not keep (validate names where).
    if (check.Check(value) && (schema[UNSTORED_TEXT] === true || findTextFault(value) === undefined)) return { value };
    try {
      if (convert) assertPlainNumbers(schema, value);
      return { value: validate(schema, convert ? Value.Convert(schema, value) : value) };
    } catch (error) {
      return { error: error as Error };
    }
  };
};

/**
 * Refuses a query parameter that a route which reads its query itself (the streams) does not
 * document, as routes with a validated query do: a misspelt filter must not be silently ignored.
 * @throws validation naming the parameter
 */
export function assertKnownParameters(query: Record<string, unknown>, documented: TObject): void {
  for (const name of Object.keys(query)) {
    if (!(name in documented.properties)) throw errors.validation(name, `unknown parameter (expected one of ${Object.keys(documented.properties).join(", ")})`);
  }
}

const INTEGER_TEXT = /^-?\d+$/;
const NUMBER_TEXT = /^-?\d+(\.\d+)?$/;

/**
 * Refuses text for an integer or number parameter that TypeBox's conversion would read loosely:
 * it takes `1e20` and `1.5` as 1, `0x10` as 16 and `9007199254740993` as …992. An integer is
 * digits (with an optional leading `-`, which the schema's minimum then judges) and within ±2^53−1,
 * where every integer is exact; a number is plain decimal (no exponent, no hex, no spaces).
 * @throws validation naming the parameter
 */
export function assertPlainNumbers(schema: TSchema, value: unknown): void {
  if (schema.type !== "object" || typeof schema.properties !== "object" || value === null || typeof value !== "object") return;
  const properties = schema.properties as Record<string, TSchema>;
  for (const [name, text] of Object.entries(value as Record<string, unknown>)) {
    const property = properties[name];
    if (property === undefined || typeof text !== "string") continue;
    const kind = numericKind(property);
    if (kind === "integer") {
      if (!INTEGER_TEXT.test(text)) throw errors.validation(name, "expected an integer, written as digits");
      if (!Number.isSafeInteger(Number(text))) throw errors.validation(name, `expected an integer from ${Number.MIN_SAFE_INTEGER} to ${Number.MAX_SAFE_INTEGER}`);
    } else if (kind === "number") {
      if (!NUMBER_TEXT.test(text) || !Number.isFinite(Number(text))) throw errors.validation(name, "expected a number in decimal notation");
    }
  }
}

/** Whether the parameter's schema takes only an integer or a number (not also a string). */
function numericKind(schema: TSchema): "integer" | "number" | undefined {
  if (schema.type === "integer" || schema.type === "number") return schema.type;
  const options = (schema.anyOf ?? schema.oneOf) as TSchema[] | undefined;
  if (!Array.isArray(options)) return undefined;
  const kinds = new Set(options.filter((o) => o.type !== "null").map((o) => o.type));
  if (kinds.size === 1 && (kinds.has("integer") || kinds.has("number"))) return [...kinds][0] as "integer" | "number";
  return undefined;
}

/** The query of a route that takes none: every parameter is an unknown one. */
const NO_QUERY = Type.Object({}, { additionalProperties: false });

/**
 * Gives every write route (POST, PUT, PATCH, DELETE) that declares no query one that takes no
 * parameter, so that `POST …/events?x=1` is a 400 naming `x` rather than taken as if `x` were
 * not there (a misspelt option must not be silently ignored). Read routes that take no query
 * are left alone: a cache-busting parameter on a page or an asset is no mistake. Must be
 * installed before the routes are registered.
 */
export function refuseUnknownQueries(app: FastifyInstance): void {
  app.addHook("onRoute", (route) => {
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    if (!methods.every((m) => WRITES.has(m))) return;
    if (route.schema?.querystring !== undefined) return;
    route.schema = { ...route.schema, querystring: NO_QUERY };
  });
}

const WRITES = new Set(["POST", "PUT", "PATCH", "DELETE"]);
