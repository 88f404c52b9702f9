import type { Config } from "./config.js";
import { errors } from "./errors.js";
import type { Session, SessionKind } from "./session.js";

/** The kinds of session that run something (every kind but `agent`, which is a record only). */
export const EXEC_KINDS = ["shell", "python", "typescript", "llm"] as const satisfies readonly SessionKind[];
/** A kind of session that runs something. */
export type ExecKind = (typeof EXEC_KINDS)[number];

/** True for shell, python, typescript and llm (not agent, not an unknown string). */
export function isExecKind(kind: unknown): kind is ExecKind {
  return typeof kind === "string" && (EXEC_KINDS as readonly string[]).includes(kind);
}

/**
 * Whether a kind may start, per seed 000's switches:
 * 1. live sessions are on when `enableSessions` (env ENABLE_SESSIONS=true) or
 *    `executionModes.session` is true — otherwise every kind is off;
 * 2. then `executionModes.<kind>: false` turns one kind off (`code: false` covers python and
 *    typescript unless they are set themselves).
 */
export function isModeEnabled(config: Pick<Config, "enableSessions" | "executionModes">, kind: ExecKind): boolean {
  const modes = config.executionModes;
  if (!(config.enableSessions || modes.session === true)) return false;
  const own = modes[kind];
  const flag = own ?? (kind === "python" || kind === "typescript" ? modes.code : undefined);
  return flag !== false;
}

/** The kinds that may start now, optionally only among those with a driver (`available`). */
export function enabledModes(config: Pick<Config, "enableSessions" | "executionModes">, available?: readonly string[]): ExecKind[] {
  return EXEC_KINDS.filter((kind) => isModeEnabled(config, kind) && (available === undefined || available.includes(kind)));
}

/**
 * Refuses a kind that is unknown, an agent record, turned off, or (with `available`) without a
 * driver in this build, with a validation error (400) that lists the kinds that are enabled.
 *
 * @example
 * assertModeEnabled(config, body.mode, { field: "mode", available: registry.kinds() });
 * @throws validation naming `field` (default `kind`)
 */
export function assertModeEnabled(
  config: Pick<Config, "enableSessions" | "executionModes">,
  kind: unknown,
  options: { field?: string; available?: readonly string[] } = {},
): asserts kind is ExecKind {
  const field = options.field ?? "kind";
  const enabled = enabledModes(config, options.available);
  const listing = enabled.length
    ? `enabled modes: ${enabled.join(", ")}`
    : "no mode is enabled (set ENABLE_SESSIONS=true, or executionModes.session in the config file, for the server: sessiond server restart picks it up)";
  const name = typeof kind === "string" ? kind : JSON.stringify(kind);
  if (!isExecKind(kind)) throw errors.validation(field, `${name} is not an execution mode; ${listing}`);
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
  if (isExecKind(session.kind)) assertModeEnabled(config, session.kind);
}
