import type { Config } from "./config.js";
import { errors } from "./errors.js";
import { MODE_NAME_PATTERN, type Session, type SessionKind } from "./session.js";

/** The kinds of session this build runs something for (every built-in kind but `agent`, which is a record only). */
export const EXEC_KINDS = ["shell", "python", "typescript", "llm"] as const satisfies readonly SessionKind[];
/** A built-in kind of session that runs something. */
export type BuiltinExecKind = (typeof EXEC_KINDS)[number];
/** A kind of session that runs something: a built-in one, or a mode a registered driver adds (docs/drivers.md). */
export type ExecKind = BuiltinExecKind | (string & {});
/** Kinds whose state lives in an interpreter: rebuilt by replaying cells (restore, undo, fork, wake, `recover` with replay). */
export const INTERPRETER_KINDS: ReadonlySet<string> = new Set<BuiltinExecKind>(["python", "typescript"]);

const MODE_NAME = new RegExp(MODE_NAME_PATTERN);

/**
 * True for every kind that runs something: shell, python, typescript, llm, and any other mode name
 * (a registered driver's; whether it has one here is {@link assertModeEnabled}'s `available`).
 * False for `agent` (a record) and for what is not a mode name.
 */
export function isExecKind(kind: unknown): kind is ExecKind {
  return typeof kind === "string" && kind !== "agent" && MODE_NAME.test(kind);
}

function isBuiltinExecKind(kind: string): kind is BuiltinExecKind {
  return (EXEC_KINDS as readonly string[]).includes(kind);
}

/**
 * Whether a kind may start, per seed 000's switches:
 * 1. live sessions are on when `enableSessions` (env ENABLE_SESSIONS=true) or
 *    `executionModes.session` is true — otherwise every kind is off;
 * 2. then `executionModes.<kind>: false` turns one built-in kind off (`code: false` covers python
 *    and typescript unless they are set themselves). A registered driver's mode has no switch of
 *    its own: loading its driver is the opt-in.
 */
export function isModeEnabled(config: Pick<Config, "enableSessions" | "executionModes">, kind: ExecKind): boolean {
  const modes = config.executionModes;
  if (!(config.enableSessions || modes.session === true)) return false;
  if (!isBuiltinExecKind(kind)) return true;
  const own = modes[kind];
  const flag = own ?? (kind === "python" || kind === "typescript" ? modes.code : undefined);
  return flag !== false;
}

/**
 * The kinds that may start now, optionally only among those with a driver (`available`): the
 * built-in ones in their order, then the registered modes among `available`.
 */
export function enabledModes(config: Pick<Config, "enableSessions" | "executionModes">, available?: readonly string[]): ExecKind[] {
  const builtin = EXEC_KINDS.filter((kind) => isModeEnabled(config, kind) && (available === undefined || available.includes(kind)));
  const added = (available ?? []).filter((kind) => !isBuiltinExecKind(kind) && isExecKind(kind) && isModeEnabled(config, kind));
  return [...builtin, ...added];
}

/**
 * Refuses a kind that is unknown, an agent record, turned off, or (with `available`) without a
 * driver in this build, with a validation error (400) that lists the kinds that are enabled (and,
 * for an unknown one, `alsoAccepted`: what else the same field takes).
 *
 * @example
 * assertModeEnabled(config, body.mode, { field: "mode", available: registry.kinds() });
 * @throws validation naming `field` (default `kind`)
 */
export function assertModeEnabled(
  config: Pick<Config, "enableSessions" | "executionModes">,
  kind: unknown,
  options: { field?: string; available?: readonly string[]; alsoAccepted?: string } = {},
): asserts kind is ExecKind {
  const field = options.field ?? "kind";
  const enabled = enabledModes(config, options.available);
  const listing = enabled.length
    ? `enabled modes: ${enabled.join(", ")}`
    : "no mode is enabled (set ENABLE_SESSIONS=true, or executionModes.session in the config file, for the server: sessiond server restart picks it up)";
  const name = typeof kind === "string" ? kind : JSON.stringify(kind);
  const known = isExecKind(kind) && (isBuiltinExecKind(kind) || options.available?.includes(kind) === true);
  if (!known) throw errors.validation(field, `${name} is not an execution mode; ${listing}${options.alsoAccepted ? `; or ${options.alsoAccepted}` : ""}`);
  if (!isModeEnabled(config, kind)) throw errors.validation(field, `${kind} is not enabled; ${listing}`);
  if (options.available && !options.available.includes(kind)) {
    throw errors.validation(field, `${kind} has no driver in this build yet; ${listing}`);
  }
}

/**
 * Recovering a crashed session of an exec kind restarts its process, so it is refused exactly as
 * starting one is while its kind is off (ENABLE_SESSIONS unset, or `executionModes`). Agent
 * sessions are records and always recover.
 * @throws validation naming `kind`, listing the enabled modes
 */
export function assertRecoveryAllowed(config: Pick<Config, "enableSessions" | "executionModes">, session: Pick<Session, "kind">): void {
  if (!isExecKind(session.kind)) return;
  // A registered mode's driver is LiveSessions' to check (it holds the registry); here only the switch.
  assertModeEnabled(config, session.kind, isBuiltinExecKind(session.kind) ? {} : { available: [session.kind] });
}
