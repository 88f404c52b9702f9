import { type Config, type JsonObject, type Session, textFault } from "../core/index.js";
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

/**
 * Substrings of a variable's name (upper-cased) that mark it as a secret. With {@link SECRET_ENV_WORDS}
 * and {@link hasUrlPassword} this is the rule docs/exec-sessions.md ("Recovery") states.
 */
export const SECRET_ENV_SUBSTRINGS = [
  "SECRET",
  "TOKEN",
  "PASSWORD",
  "PASSWD",
  "PASSPHRASE",
  "CREDENTIAL",
  "APIKEY",
  "API_KEY",
  "PRIVATEKEY",
  "PRIVATE_KEY",
  "ACCESS_KEY",
] as const;

/**
 * Whole `_`-separated words of a variable's name (upper-cased) that mark it as a secret: `DB_PASS`,
 * `STRIPE_KEY`, `SSH_AUTH_SOCK`. Whole words only, so `GIT_AUTHOR_NAME`, `KEYMAP` and `PWD` (the
 * cwd) are kept.
 */
export const SECRET_ENV_WORDS: ReadonlySet<string> = new Set(["AUTH", "KEY", "PASS", "PW", "COOKIE"]);

/**
 * Whether a variable looks like a secret, by its name ({@link SECRET_ENV_SUBSTRINGS},
 * {@link SECRET_ENV_WORDS}) or by its value (a URL with a password: `postgres://app:pw@db/x`).
 * @example
 * isSecretEnv("GITHUB_TOKEN", "ghp_…");              // true
 * isSecretEnv("DATABASE_URL", "postgres://u:pw@h/d"); // true
 * isSecretEnv("GIT_AUTHOR_NAME", "Ada");             // false
 */
export function isSecretEnv(name: string, value: string): boolean {
  const upper = name.toUpperCase();
  if (SECRET_ENV_SUBSTRINGS.some((s) => upper.includes(s))) return true;
  if (upper.split("_").some((word) => SECRET_ENV_WORDS.has(word))) return true;
  return hasUrlPassword(value);
}

/**
 * `scheme://user:password@…` somewhere in the value. Looked for from each `://` (one regular
 * expression over the whole value backtracks quadratically on a long run of letters: a session's
 * 200 KB variable held the server for seconds at every state capture).
 */
export function hasUrlPassword(value: string): boolean {
  for (let at = value.indexOf("://"); at >= 0; at = value.indexOf("://", at + 1)) {
    if (hasScheme(value, at) && USERINFO_WITH_PASSWORD.test(value.slice(at + 3, at + 3 + MAX_USERINFO_CHARS + 1))) return true;
  }
  return false;
}

/** `user:password@` at the start: no whitespace, `/`, `@` (nor `:` in the user). */
const USERINFO_WITH_PASSWORD = /^[^\s/@:]*:[^\s/@]+@/;
/** Userinfo longer than this is no credential anyone typed; looking further would make each `://` cost the rest of the value. */
const MAX_USERINFO_CHARS = 4096;

/** Whether a URL scheme (a letter, then letters, digits, `+`, `-`, `.`) ends just before `at`. */
function hasScheme(value: string, at: number): boolean {
  for (let i = at - 1; i >= 0; i--) {
    const c = value.charCodeAt(i);
    const letter = (c >= 97 && c <= 122) || (c >= 65 && c <= 90);
    if (letter) return true;
    const schemeChar = (c >= 48 && c <= 57) || c === 43 || c === 45 || c === 46;
    if (!schemeChar) return false;
  }
  return false;
}

/**
 * The part of a process's environment that is kept in runtime_metadata for recovery: every
 * variable except those that look secret ({@link isSecretEnv}), unless config `saveSecretEnv`
 * names them (`["*"]`: all), and those holding text the stores do not keep. A session recovered
 * later simply lacks the variables left out.
 */
export function envToSave(env: Readonly<Record<string, string>>, config: Pick<Config, "saveSecretEnv">): Record<string, string> {
  const allowed = config.saveSecretEnv;
  const kept: Record<string, string> = {};
  for (const [name, value] of Object.entries(env)) {
    // Text the stores do not keep (a NUL code in the session can put in a value): that variable
    // is left out, rather than the whole state refused.
    if (textFault(name) !== undefined || textFault(value) !== undefined) continue;
    if (allowed.includes("*") || !isSecretEnv(name, value) || allowed.includes(name)) kept[name] = value;
  }
  return kept;
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
