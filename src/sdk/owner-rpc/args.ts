import { type TProperties, type TSchema, Type } from "@sinclair/typebox";
import { TypeCompiler, type TypeCheck } from "@sinclair/typebox/compiler";
import { validate } from "../../core/index.js";
import type { OwnerArgs, OwnerOp } from "./wire.js";

/**
 * The shape of each op's arguments on the owner's write channel, checked before the engine call:
 * the engine's own checks assume the types its TypeScript signature promises, which a line of
 * JSON from another process need not keep (`{ref: 123}`). Types only: what a value must be (a
 * non-empty error, a storable string, a context under its cap) the engine checks as it does for
 * the owner's own calls, naming the fields the same way.
 */

/** A JSON object (the engine checks what is in it). */
const object = Type.Record(Type.String(), Type.Unknown());
/** Whatever JSON value (a tool call's args, a completion's result). */
const value = Type.Unknown();
const ref = Type.String();

function args<P extends TProperties>(properties: P) {
  return Type.Object(properties, { additionalProperties: false });
}

const ARG_SCHEMAS = {
  create: args({ input: object }),
  pause: args({ ref, reason: Type.Optional(Type.String()) }),
  resume: args({ ref }),
  complete: args({ ref, result: Type.Optional(value) }),
  fail: args({ ref, error: Type.String() }),
  incrementIteration: args({ ref, data: Type.Optional(object) }),
  recordToolCall: args({
    ref,
    tool: Type.String(),
    args: Type.Optional(value),
    result: Type.Optional(value),
    outcome: Type.Optional(
      args({
        // The caller's error object, kept as given (the owner's own call keeps extra fields too).
        error: Type.Optional(Type.Object({ name: Type.String(), message: Type.String(), code: Type.Optional(Type.String()) })),
        duration_ms: Type.Optional(Type.Number()),
      }),
    ),
  }),
  appendEvent: args({ ref, type: Type.String(), data: Type.Optional(object) }),
  mergeContext: args({ ref, patch: object }),
  delete: args({ ref }),
  cleanup: args({ olderThanDays: Type.Number() }),
  // Nothing checks a webhook after this: the engine stores it as given.
  putWebhook: args({
    webhook: args({
      id: Type.String(),
      url: Type.String(),
      events: Type.Array(Type.String()),
      secret: Type.Union([Type.String(), Type.Null()], { "x-expected": "a string or null" }),
      created_at: Type.String(),
    }),
  }),
  createCheckpoint: args({
    ref,
    label: Type.Optional(Type.Union([Type.String(), Type.Null()], { "x-expected": "a string or null" })),
    data: Type.Optional(object),
    with_files: Type.Optional(Type.Boolean()),
  }),
} satisfies { [K in OwnerOp]: TSchema };

// Compiled on first use: an owner whose channel is never called pays nothing at start.
const checks = new Map<OwnerOp, TypeCheck<TSchema>>();

function compiled(op: OwnerOp): TypeCheck<TSchema> {
  let check = checks.get(op);
  if (!check) {
    check = TypeCompiler.Compile(ARG_SCHEMAS[op]);
    checks.set(op, check);
  }
  return check;
}

/**
 * The op's arguments, typed. A webhook's strings must also be text the store keeps (no NUL, no
 * lone surrogate), as nothing downstream checks them.
 * @throws validation naming the first offending field (`ref`, `webhook.url`, `outcome.error.name`)
 */
export function checkArgs<K extends OwnerOp>(op: K, value: unknown): OwnerArgs[K] {
  const schema = ARG_SCHEMAS[op];
  // The common case costs one compiled check, and skips `validate`'s walk over every string of a
  // large context (the engine makes that walk); a refusal goes through `validate` for its wording.
  if (!compiled(op).Check(value)) validate(schema, value);
  if (op === "putWebhook") validate(schema, value);
  return value as OwnerArgs[K];
}
