import { FormatRegistry, type Static, type TSchema, Type } from "@sinclair/typebox";
import { TypeCompiler, type TypeCheck } from "@sinclair/typebox/compiler";
import { errors } from "./errors.js";
import { RUNTIME_BACKENDS, SESSION_KINDS, SESSION_STATUSES } from "./session.js";

/**
 * Input schemas shared by the engine (which validates every call, embedded or not) and the HTTP
 * routes (which reuse them for request validation and OpenAPI). Unknown fields are refused so a
 * typo is an error, not a silently ignored field.
 */

const nullableString = Type.Union([Type.String({ maxLength: 1024 }), Type.Null()], { "x-expected": "a string or null" });
const jsonObject = Type.Object({}, { additionalProperties: true, description: "a JSON object" });
/** What a label key may be: letters, digits, '.', '_', '/', '-', up to 63, starting alphanumeric. */
export const LABEL_KEY_PATTERN = "^[A-Za-z0-9][A-Za-z0-9._/-]{0,62}$";

const labels = Type.Record(Type.String({ pattern: LABEL_KEY_PATTERN }), Type.String({ maxLength: 256 }), {
  description: "string labels, filterable; keys: letters, digits, . _ / -",
  // Without it, a key that misses the pattern would pass with any value.
  additionalProperties: false,
});
const maxIterations = Type.Union([Type.Integer({ minimum: 0 }), Type.Null()], {
  description: "the bound on iterations; reaching it moves the session to timeout; null for none",
  "x-expected": "a non-negative integer or null",
});

export const SessionKindSchema = Type.Union(SESSION_KINDS.map((k) => Type.Literal(k)));
export const SessionStatusSchema = Type.Union(SESSION_STATUSES.map((s) => Type.Literal(s)));
export const RuntimeBackendSchema = Type.Union(RUNTIME_BACKENDS.map((b) => Type.Literal(b)));

/** Fields a caller may set both when creating and when updating a session. */
const settableFields = {
  name: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
  type: Type.Optional(nullableString),
  mode: Type.Optional(nullableString),
  agent_id: Type.Optional(nullableString),
  user_id: Type.Optional(nullableString),
  channel_id: Type.Optional(nullableString),
  labels: Type.Optional(labels),
  task: Type.Optional(Type.Union([Type.String(), Type.Null()])),
  workspace: Type.Optional(nullableString),
  max_iterations: Type.Optional(maxIterations),
  context: Type.Optional(jsonObject),
  runtime_backend: Type.Optional(RuntimeBackendSchema),
  runtime_metadata: Type.Optional(jsonObject),
  server: Type.Optional(Type.String({ minLength: 1, maxLength: 256 })),
  metadata: Type.Optional(jsonObject),
};

export const CreateSessionSchema = Type.Object(
  {
    id: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
    kind: Type.Optional(SessionKindSchema),
    ...settableFields,
    checkpoint: Type.Optional(Type.Union([jsonObject, Type.Null()])),
  },
  { additionalProperties: false },
);

export const UpdateSessionSchema = Type.Object(
  {
    ...settableFields,
    status: Type.Optional(SessionStatusSchema),
    context_patch: Type.Optional(jsonObject),
    checkpoint: Type.Optional(jsonObject),
    result: Type.Optional(Type.Unknown()),
    error: Type.Optional(Type.Union([Type.String(), Type.Null()])),
  },
  { additionalProperties: false },
);

const oneOrMany = <T extends TSchema>(schema: T, values: readonly string[]) =>
  Type.Union([schema, Type.Array(schema, { minItems: 1 })], { "x-expected": `one of ${values.join(", ")}, or a list of them` });
const isoTimestamp = Type.String({ format: "date-time", description: "an ISO 8601 timestamp" });

export const SessionFilterSchema = Type.Object(
  {
    agent_id: Type.Optional(Type.String()),
    user_id: Type.Optional(Type.String()),
    channel_id: Type.Optional(Type.String()),
    status: Type.Optional(oneOrMany(SessionStatusSchema, SESSION_STATUSES)),
    kind: Type.Optional(oneOrMany(SessionKindSchema, SESSION_KINDS)),
    type: Type.Optional(Type.String()),
    mode: Type.Optional(Type.String()),
    labels: Type.Optional(labels),
    created_after: Type.Optional(isoTimestamp),
    created_before: Type.Optional(isoTimestamp),
  },
  { additionalProperties: false },
);

export const PageRequestSchema = Type.Object(
  {
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })),
    cursor: Type.Optional(Type.String({ minLength: 1 })),
  },
  { additionalProperties: false },
);

export const EventQuerySchema = Type.Object(
  {
    after_seq: Type.Optional(Type.Integer({ minimum: 0 })),
    to_seq: Type.Optional(Type.Integer({ minimum: 0 })),
    types: Type.Optional(Type.Array(Type.String({ minLength: 1 }))),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000 })),
    descending: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);

export const EventTypeSchema = Type.String({ minLength: 1, maxLength: 128, pattern: "^[A-Za-z0-9][A-Za-z0-9._:-]*$" });

export type CreateSessionBody = Static<typeof CreateSessionSchema>;
export type UpdateSessionBody = Static<typeof UpdateSessionSchema>;

// TypeBox does not check string formats until one is registered; date-time is the only one used.
if (!FormatRegistry.Has("date-time")) {
  FormatRegistry.Set("date-time", (value) => !Number.isNaN(Date.parse(value)) && /^\d{4}-\d{2}-\d{2}/.test(value));
}

const compiled = new WeakMap<TSchema, TypeCheck<TSchema>>();

/**
 * Validates `value` against `schema` and returns it typed, or throws a validation error that
 * names the first offending field (its JSON pointer path, dots for nesting: `labels.env`).
 */
export function validate<T extends TSchema>(schema: T, value: unknown, root?: string): Static<T> {
  let check = compiled.get(schema);
  if (!check) {
    check = TypeCompiler.Compile(schema);
    compiled.set(schema, check);
  }
  if (check.Check(value)) return value as Static<T>;
  const first = check.Errors(value).First();
  const path = first?.path.replace(/^\//, "").replace(/\//g, ".") ?? "";
  const field = [root, path].filter(Boolean).join(".") || "body";
  throw errors.validation(field, describe(first?.schema, first?.message));
}

function describe(schema: TSchema | undefined, message: string | undefined): string {
  if (schema && typeof schema["x-expected"] === "string") return `expected ${schema["x-expected"]}`;
  if (schema && Array.isArray(schema.anyOf)) {
    const literals = (schema.anyOf as TSchema[]).map((s) => s.const).filter((c) => c !== undefined);
    if (literals.length) return `expected one of ${literals.join(", ")}`;
  }
  if (message === "Unexpected property") return "unknown field";
  return (message ?? "invalid value").replace(/^Expected/, "expected");
}
