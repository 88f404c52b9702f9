/**
 * The defaults a client needs to find and call a server, and those a store opened without a
 * config falls back on, without loading the config schema (config.ts builds its defaults from
 * these, so the two cannot drift). Kept dependency-free so `sessiond/client` and the CLI load it
 * cheaply.
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
/**
 * Config `listScanRows`'s default, which a store opened without a config (a reader of the owner's
 * SQLite file) also takes: the most sessions one page of a search (`q`) examines. On SQLite, on a
 * 2-core machine under a load of about 10, one page over this many takes 20–60 ms for an ordinary
 * text and 70–140 ms for the worst (200 characters that nearly match the start of every task);
 * the cost is linear in it. The dashboard's list pages through 10,000 sessions of an agent.
 */
export const DEFAULT_LIST_SCAN_ROWS = 10_000;
/**
 * How long `sessiond ui --open` watches the desktop's opener: one that gives up (no browser, no
 * display) exits within this with a status and a reason, which are then reported; one still
 * running by then has handed the page to a browser (or is the browser).
 */
export const OPENER_WATCH_MS = 1_500;
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
