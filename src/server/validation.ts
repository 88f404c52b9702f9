import type { TSchema } from "@sinclair/typebox";
import { TypeCompiler } from "@sinclair/typebox/compiler";
import { Value } from "@sinclair/typebox/value";
import type { FastifySchemaCompiler } from "fastify";
import { validate } from "../core/index.js";

/**
 * Fastify's validator compiler for TypeBox route schemas, sharing the engine's `validate`: one
 * error shape naming the field (`labels.env`, `limit`), unknown fields refused rather than
 * silently dropped (Fastify's default Ajv setup would remove them). Bodies are checked as sent;
 * query strings, params and headers are text on the wire, so they are converted to the schema's
 * types first (`limit=10` → 10), and only when they do not already fit.
 */
export const typeboxValidatorCompiler: FastifySchemaCompiler<TSchema> = ({ schema, httpPart }) => {
  const check = TypeCompiler.Compile(schema);
  const convert = httpPart !== "body";
  return (input: unknown) => {
    // No body at all is an empty object: `curl -X POST …/pause` needs none.
    const value = (input === undefined || input === null) && !convert ? {} : input;
    if (check.Check(value)) return { value };
    try {
      return { value: validate(schema, convert ? Value.Convert(schema, value) : value) };
    } catch (error) {
      return { error: error as Error };
    }
  };
};
