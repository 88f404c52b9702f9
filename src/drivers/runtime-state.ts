import type { Config, JsonObject, Session } from "../core/index.js";
import type { RuntimeState } from "./driver.js";

/**
 * What a live session's process is started with and restarted into: its environment, and the
 * cwd and exported variables kept in the session's runtime_metadata for recovery.
 */

/**
 * The environment of a new process: the names in config `shellEnv` inherited from the server,
 * sessiond's defaults (TERM, LANG, PAGER=cat — the terminal is a TTY, so a pager would wait for
 * a key that never comes), the caller's (or, on recovery, the saved) variables, then the
 * session's own SESSIOND_SESSION_ID, SESSIOND_SESSION_NAME and SESSIOND_WORKSPACE.
 */
export function processEnv(
  config: Pick<Config, "shellEnv">,
  hostEnv: Readonly<Record<string, string | undefined>>,
  session: Pick<Session, "id" | "name">,
  workspace: string,
  extra: Readonly<Record<string, string>> | undefined,
): Record<string, string> {
  const env: Record<string, string> = {};
  for (const name of config.shellEnv) {
    const value = hostEnv[name];
    if (value !== undefined) env[name] = value;
  }
  env.TERM = "xterm-256color";
  env.LANG ??= "C.UTF-8";
  env.PAGER = "cat";
  env.GIT_PAGER = "cat";
  Object.assign(env, extra ?? {});
  env.SESSIOND_SESSION_ID = session.id;
  env.SESSIOND_SESSION_NAME = session.name;
  env.SESSIOND_WORKSPACE = workspace;
  return env;
}

/** The state a crashed session's runtime_metadata holds, if any. */
export function savedState(session: Session): RuntimeState | undefined {
  const { cwd, env } = session.runtime_metadata;
  if (typeof cwd !== "string") return undefined;
  const vars: Record<string, string> = {};
  if (env && typeof env === "object" && !Array.isArray(env)) {
    for (const [name, value] of Object.entries(env as JsonObject)) if (typeof value === "string") vars[name] = value;
  }
  return { cwd, env: vars };
}

/** The variables sessiond sets itself on every start are not part of the saved state. */
export function withoutSessiondEnv(env: Readonly<Record<string, string>>): Record<string, string> {
  const copy: Record<string, string> = { ...env };
  delete copy.SESSIOND_SESSION_ID;
  delete copy.SESSIOND_SESSION_NAME;
  delete copy.SESSIOND_WORKSPACE;
  return copy;
}

/** Whether two captured states are the same (ignoring the variables sessiond sets itself). */
export function sameState(a: RuntimeState, b: RuntimeState): boolean {
  if (a.cwd !== b.cwd) return false;
  const bEnv = withoutSessiondEnv(b.env);
  const keys = Object.keys(a.env);
  if (keys.length !== Object.keys(bEnv).length) return false;
  return keys.every((key) => a.env[key] === bEnv[key]);
}
