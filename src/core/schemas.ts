import { FormatRegistry, type Static, type TSchema, Type } from "@sinclair/typebox";
import { TypeCompiler, type TypeCheck } from "@sinclair/typebox/compiler";
import { type ValueError, ValueErrorType } from "@sinclair/typebox/errors";
import { errors } from "./errors.js";
import { MAX_GIVEN_PARTICIPANTS, PARTICIPANT_KINDS } from "./participants.js";
import { MAX_SEARCH_LENGTH, MODE_NAME_PATTERN, RUNTIME_BACKENDS, SESSION_KINDS, SESSION_SORT_KEYS, SESSION_STATUSES, SORT_ORDERS } from "./session.js";
import { MAX_STORED_INTEGER, faultField, findTextFault, textFault } from "./storable.js";

/**
 * Input schemas shared by the engine (which validates every call, embedded or not) and the HTTP
 * routes (which reuse them for request validation and OpenAPI). Unknown fields are refused so a
 * typo is an error, not a silently ignored field. Every value they pass is one both stores keep
 * exactly (storable.ts): `validate` refuses NUL and lone surrogates in any string, and counts,
 * seqs and versions are bounded by `storedInteger`.
 */

/**
 * A count, seq or version: an integer from `minimum` (default 0) to 2^53 - 1, which both stores
 * keep exactly (PostgreSQL BIGINT, SQLite INTEGER) and JSON carries without rounding.
 */
export function storedInteger(options: { minimum?: number; description?: string } = {}) {
  const minimum = options.minimum ?? 0;
  return Type.Integer({
    ...options,
    minimum,
    maximum: MAX_STORED_INTEGER,
    "x-expected": `an integer from ${minimum} to ${MAX_STORED_INTEGER}`,
  });
}

/**
 * Text a store indexes (type, mode, agent_id, user_id, channel_id): at most 1024 bytes of UTF-8,
 * so that with the rest of an index entry it stays under PostgreSQL's b-tree entry limit (2704
 * bytes); 1024 characters of a script with 3-byte characters would not.
 */
export const INDEXED_TEXT_MAX_BYTES = 1024;
const INDEXED_TEXT = "indexed-text";
if (!FormatRegistry.Has(INDEXED_TEXT)) {
  // A string of at most a third of the limit in UTF-16 units cannot be over it in UTF-8.
  FormatRegistry.Set(INDEXED_TEXT, (value) => value.length * 3 <= INDEXED_TEXT_MAX_BYTES || Buffer.byteLength(value) <= INDEXED_TEXT_MAX_BYTES);
}
/** A string of at most INDEXED_TEXT_MAX_BYTES bytes of UTF-8. */
export function indexedText(options: { description?: string } = {}) {
  return Type.String({ ...options, maxLength: INDEXED_TEXT_MAX_BYTES, format: INDEXED_TEXT });
}

const nullableString = Type.Union([indexedText(), Type.Null()], { "x-expected": `a string of at most ${INDEXED_TEXT_MAX_BYTES} bytes (UTF-8), or null` });
const jsonObject = Type.Object({}, { additionalProperties: true, description: "a JSON object" });
/** What a label key may be: letters, digits, '.', '_', '/', '-', up to 63, starting alphanumeric. */
export const LABEL_KEY_PATTERN = "^[A-Za-z0-9][A-Za-z0-9._/-]{0,62}$";

const labels = Type.Record(Type.String({ pattern: LABEL_KEY_PATTERN }), Type.String({ maxLength: 256 }), {
  description: "string labels, filterable; keys: letters, digits, . _ / -",
  // Without it, a key that misses the pattern would pass with any value.
  additionalProperties: false,
});
const maxIterations = Type.Union([storedInteger(), Type.Null()], {
  description: "the bound on iterations; reaching it moves the session to timeout; null for none",
  "x-expected": `an integer from 0 to ${MAX_STORED_INTEGER}, or null`,
});

/** A kind: a built-in one, or a registered driver's mode (which one is known is checked where it matters: starting a live session). */
export const SessionKindSchema = Type.String({
  pattern: MODE_NAME_PATTERN,
  description: `${SESSION_KINDS.join(", ")}, or a mode a registered driver adds (docs/drivers.md)`,
  "x-expected": `${SESSION_KINDS.join(", ")}, or a registered mode's name (lower case, digits, _ and -)`,
});
export const SessionStatusSchema = Type.Union(SESSION_STATUSES.map((s) => Type.Literal(s)));
export const RuntimeBackendSchema = Type.Union(RUNTIME_BACKENDS.map((b) => Type.Literal(b)));
export const ParticipantKindSchema = Type.Union(PARTICIPANT_KINDS.map((k) => Type.Literal(k)));

/** One participant a caller names (seed 002): a human, an AI or a persona. */
export const ParticipantSchema = Type.Object(
  {
    kind: ParticipantKindSchema,
    id: Type.String({ minLength: 1, maxLength: INDEXED_TEXT_MAX_BYTES, format: INDEXED_TEXT }),
    joined_at: Type.Optional(Type.String({ format: "date-time", description: "when it first took part; the moment it is added when left out" })),
  },
  { additionalProperties: false },
);

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
    participants: Type.Optional(
      Type.Array(ParticipantSchema, {
        maxItems: MAX_GIVEN_PARTICIPANTS,
        description: "who takes part from the start besides agent_id (an AI) and user_id (a human), which are added by themselves",
      }),
    ),
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
    q: Type.Optional(searchTextSchema()),
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

/**
 * The text a session search looks for in names and tasks. Its length is counted in UTF-16 code
 * units, as every `maxLength` of the API is (JavaScript's `length`): a character past U+FFFF — most
 * emoji — counts two. The refusal says so.
 */
export function searchTextSchema(options: { description?: string } = {}) {
  return Type.String({
    ...options,
    maxLength: MAX_SEARCH_LENGTH,
    "x-expected": `at most ${MAX_SEARCH_LENGTH} UTF-16 code units (a character past U+FFFF, such as most emoji, counts two)`,
  });
}

/** What a session listing is ordered by. */
export function sessionSortSchema(options: { description?: string } = {}) {
  return Type.Union(SESSION_SORT_KEYS.map((k) => Type.Literal(k)), options);
}

/** Which way a listing runs. */
export function sortOrderSchema(options: { description?: string } = {}) {
  return Type.Union(SORT_ORDERS.map((o) => Type.Literal(o)), options);
}

/** A page of a session listing: PageRequestSchema plus its order. */
export const SessionPageRequestSchema = Type.Object(
  {
    ...PageRequestSchema.properties,
    sort: Type.Optional(sessionSortSchema()),
    order: Type.Optional(sortOrderSchema()),
  },
  { additionalProperties: false },
);

export const EventQuerySchema = Type.Object(
  {
    after_seq: Type.Optional(storedInteger()),
    to_seq: Type.Optional(storedInteger()),
    types: Type.Optional(Type.Array(Type.String({ minLength: 1 }))),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000 })),
    descending: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);

export const EventTypeSchema = Type.String({ minLength: 1, maxLength: 128, pattern: "^[A-Za-z0-9][A-Za-z0-9._:-]*$" });

const importTimestamp = Type.String({ minLength: 1, maxLength: 64, description: "an ISO 8601 timestamp" });

/** A session brought from elsewhere with its history (`sessiond import`, POST /import/sessions). */
export const ImportSessionSchema = Type.Object(
  {
    session: Type.Object(
      {
        ...CreateSessionSchema.properties,
        id: Type.String({ minLength: 1, maxLength: 128 }),
        status: Type.Optional(SessionStatusSchema),
        iterations: Type.Optional(storedInteger()),
        result: Type.Optional(Type.Unknown()),
        error: Type.Optional(Type.Union([Type.String(), Type.Null()])),
        parent: Type.Optional(Type.Union([Type.String({ maxLength: 128 }), Type.Null()])),
        created_at: importTimestamp,
        updated_at: Type.Optional(importTimestamp),
        started_at: Type.Optional(importTimestamp),
        ended_at: Type.Optional(Type.Union([importTimestamp, Type.Null()])),
        version: Type.Optional(storedInteger({ minimum: 1 })),
      },
      { additionalProperties: false },
    ),
    events: Type.Array(
      Type.Object({ seq: storedInteger({ minimum: 1 }), ts: importTimestamp, type: EventTypeSchema, data: jsonObject }, { additionalProperties: false }),
    ),
    checkpoints: Type.Optional(
      Type.Array(
        Type.Object(
          {
            id: Type.String({ minLength: 1, maxLength: 128 }),
            seq: storedInteger({ minimum: 1 }),
            label: Type.Union([Type.String({ maxLength: 256 }), Type.Null()]),
            data: jsonObject,
            state: Type.Object({ context: jsonObject, status: SessionStatusSchema, iterations: storedInteger() }, { additionalProperties: false }),
            created_at: importTimestamp,
          },
          { additionalProperties: false },
        ),
      ),
    ),
  },
  { additionalProperties: false },
);

/** The file layouts `sessiond export` writes and `sessiond import` reads (docs/import-export.md). */
export const FILE_LAYOUTS = ["sessions", "activity"] as const;

/**
 * One session's files as they lie on disk, for the server to read: seed 004's `session.json`
 * (layout `sessions`), or seed 000's `meta.json` with `01-exec.json`, `02-exec.json`… (layout
 * `activity`). `mtime` stands in for a time a file does not hold itself.
 */
export const ImportFilesSchema = Type.Object(
  {
    layout: Type.Union(FILE_LAYOUTS.map((l) => Type.Literal(l))),
    files: Type.Array(
      Type.Object(
        {
          name: Type.String({ minLength: 1, maxLength: 255, description: "the file's name: session.json, meta.json, 01-exec.json…" }),
          content: Type.Unknown({ description: "the file's JSON, as written" }),
          mtime: Type.Optional(Type.String({ minLength: 1, maxLength: 64, description: "the file's modification time (ISO 8601)" })),
        },
        { additionalProperties: false },
      ),
      { minItems: 1 },
    ),
  },
  { additionalProperties: false },
);

/** POST /import/sessions: a session as sessiond records it, or one session's files. */
export const ImportRequestSchema = Type.Union([ImportSessionSchema, ImportFilesSchema]);

export type CreateSessionBody = Static<typeof CreateSessionSchema>;
export type UpdateSessionBody = Static<typeof UpdateSessionSchema>;

// TypeBox does not check string formats until one is registered; date-time is the only one used.
if (!FormatRegistry.Has("date-time")) {
  FormatRegistry.Set("date-time", (value) => !Number.isNaN(Date.parse(value)) && /^\d{4}-\d{2}-\d{2}/.test(value));
}

/**
 * Marks a schema whose strings go to a process and are never stored (a terminal's stdin, where
 * a NUL byte is a keystroke): `validate` does not apply the text rule to values of it.
 */
export const UNSTORED_TEXT = "x-unstored-text";

const compiled = new WeakMap<TSchema, TypeCheck<TSchema>>();

/**
 * Validates `value` against `schema` and returns it typed, or throws a validation error that
 * names the first offending field (its JSON pointer path, dots for nesting: `labels.env`). Every
 * string in the value, nested JSON included, must be text the stores keep (no NUL, no lone
 * surrogate), unless the schema is marked UNSTORED_TEXT.
 */
export function validate<T extends TSchema>(schema: T, value: unknown, root?: string): Static<T> {
  let check = compiled.get(schema);
  if (!check) {
    check = TypeCompiler.Compile(schema);
    compiled.set(schema, check);
  }
  if (check.Check(value)) {
    if (schema[UNSTORED_TEXT] !== true) assertStorableText(value, root);
    return value as Static<T>;
  }
  const first = closestError(check.Errors(value).First());
  const segments = first?.path.split("/").slice(1) ?? [];
  // An unknown key the stores could not keep is named by its object, for the text rule's reason.
  const badKey = segments.findIndex((s) => textFault(s) !== undefined);
  if (badKey !== -1) {
    throw errors.validation(faultField(root, { path: segments.slice(0, badKey), reason: "" }), `has a key that ${textFault(segments[badKey]!)}`);
  }
  const field = [root, ...segments].filter(Boolean).join(".") || "body";
  throw errors.validation(field, describe(first?.schema, first?.message, segments.at(-1)));
}

/**
 * For a value that fits no branch of a union of objects (a request body of several forms), the
 * first error of the branch it comes closest to (fewest errors): "files.1.name" rather than
 * "body: expected union value".
 */
function closestError(error: ValueError | undefined): ValueError | undefined {
  if (error?.type !== ValueErrorType.Union || !Array.isArray(error.schema.anyOf)) return error;
  if (!(error.schema.anyOf as TSchema[]).every((branch) => branch.type === "object")) return error;
  let best: ValueError[] | undefined;
  for (const branch of error.errors) {
    const list = [...branch];
    if (best === undefined || list.length < best.length) best = list;
  }
  return best?.length ? closestError(best[0]) : error;
}

/**
 * Refuses a value holding a string the stores do not keep as given: U+0000 or a lone UTF-16
 * surrogate, in any string or object key, however deeply nested.
 * @throws validation naming the string's path under `root` (`context.notes.2`)
 */
export function assertStorableText(value: unknown, root?: string): void {
  const fault = findTextFault(value);
  if (fault) throw errors.validation(faultField(root, fault), fault.reason);
}

/** The literal values a schema takes, through unions and lists (`status=active` or a list of statuses). */
function literalsIn(schema: TSchema): unknown[] {
  if (schema.const !== undefined) return [schema.const];
  if (Array.isArray(schema.anyOf)) return (schema.anyOf as TSchema[]).flatMap(literalsIn);
  if (schema.type === "array" && schema.items && !Array.isArray(schema.items)) return literalsIn(schema.items as TSchema);
  return [];
}

/**
 * An object schema's `x-set-elsewhere`: fields a caller may expect to set here (the resource has
 * them) that are set some other way, each with how. Such a field is refused with that, not as an
 * unknown one.
 */
export const SET_ELSEWHERE = "x-set-elsewhere";

/** An unknown field's error lists the object's fields when it has at most this many. */
const KNOWN_FIELDS_LISTED = 12;

function describe(schema: TSchema | undefined, message: string | undefined, key?: string): string {
  if (schema && typeof schema["x-expected"] === "string") return `expected ${schema["x-expected"]}`;
  if (schema?.format === INDEXED_TEXT) return `expected at most ${INDEXED_TEXT_MAX_BYTES} bytes of UTF-8`;
  if (schema && Array.isArray(schema.anyOf)) {
    const literals = [...new Set(literalsIn(schema))];
    if (literals.length) return `expected one of ${literals.join(", ")}`;
    // A value or a list of values (a repeatable filter) whose value says what it expects.
    const branches = schema.anyOf as TSchema[];
    const item = branches.find((branch) => typeof branch["x-expected"] === "string");
    const list = branches.some((branch) => branch.type === "array" && (branch.items as TSchema | undefined)?.["x-expected"] === item?.["x-expected"]);
    if (item) return `expected ${item["x-expected"]}${list ? ", or a list of them" : ""}`;
  }
  if (message === "Unexpected property") {
    const elsewhere = (schema?.[SET_ELSEWHERE] as Record<string, string> | undefined)?.[key ?? ""];
    if (elsewhere) return elsewhere;
    // A misnamed field (`cmd` for `input`) is found at once among a short list of the right ones.
    const known = Object.keys((schema?.properties as Record<string, unknown> | undefined) ?? {});
    return known.length > 0 && known.length <= KNOWN_FIELDS_LISTED ? `unknown field (known: ${known.join(", ")})` : "unknown field";
  }
  if (message === "Expected required property") return "required";
  return (message ?? "invalid value").replace(/^Expected/, "expected");
}
