/**
 * The defaults a client needs to find and call a server, without loading the config schema
 * (config.ts builds its defaults from these, so the two cannot drift). Kept dependency-free so
 * `sessiond/client` and the CLI load it cheaply.
 */

/** Config `host`'s default: the TCP listener's address. */
export const DEFAULT_HOST = "127.0.0.1";
/** Config `port`'s default. */
export const DEFAULT_PORT = 8011;
/** Config `clientTimeoutMs`'s default: longer than `execTimeoutMs` (30 s) so a timed-out exec still answers. */
export const DEFAULT_CLIENT_TIMEOUT_MS = 60_000;

/**
 * How the SDK retries a request the server refused without applying it (a session that moved to
 * another node, an owner node that does not answer yet, a server shutting down): attempts in
 * all, and the exponential backoff between them. The delays add up past a default lease (5 s),
 * so a request for a dead node's session reaches the node that takes it over.
 */
export const DEFAULT_CLIENT_RETRY = { attempts: 7, baseMs: 200, maxMs: 2000 } as const;
/** The data dir under the user's home when `SESSIOND_HOME` is not set. */
export const DEFAULT_HOME_DIR = ".sessiond";
/** File names inside the data dir that clients read. */
export const DATA_FILES = { socket: "sessiond.sock", token: "token" } as const;

/**
 * Env names read besides `SESSIOND_<KEY>`, by config key, for names other systems fixed first
 * (seed 000's `ENABLE_SESSIONS`). The `SESSIOND_` name wins when both are set.
 */
export const ENV_ALIASES: Readonly<Record<string, string>> = { enableSessions: "ENABLE_SESSIONS", llmApiKey: "OPENAI_API_KEY" };

/** The names of {@link ENV_ALIASES}: with `SESSIOND_*`, every variable sessiond reads (and takes from a `.env`). */
export const ENV_ALIAS_NAMES: readonly string[] = Object.values(ENV_ALIASES);
