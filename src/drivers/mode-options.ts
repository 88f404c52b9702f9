import { type Static, Type } from "@sinclair/typebox";

/**
 * Start options that belong to one mode: each driver lists those it takes
 * (`SessionDriver.startOptions`), and a start giving another mode's option is refused naming it.
 * Flat on the wire beside `mode` (seed 000's `{ "mode": "python", "server": "local", … }`), as
 * the common options are. Kept in the session's `runtime_metadata.mode_options` (so a recovered
 * process runs with the same ones) — except a non-empty `api_key`, which is held in memory only.
 */
export const ModeOptionsSchema = Type.Object(
  {
    /** Kind llm: the model. Default: the session's `metadata.model`, else config `llmModel`. */
    model: Type.Optional(Type.String({ minLength: 1, maxLength: 256, description: "kind llm: the model (default: metadata.model, else config llmModel)" })),
    /** Kind llm: the OpenAI-compatible endpoint (`…/v1`). Default: `metadata.base_url`, else config `llmBaseUrl`. */
    base_url: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 2048,
        pattern: "^https?://[^\\s/?#]+",
        description: "kind llm: the OpenAI-compatible endpoint, http(s)://…/v1 (default: metadata.base_url, else config llmBaseUrl)",
        "x-expected": "an http:// or https:// URL",
      }),
    ),
    /**
     * Kind llm: the endpoint's key, held in this server's memory only (never stored, logged or
     * returned), over config `llmApiKey`. `""` says the endpoint takes no key (a local server on
     * another host); an endpoint on loopback needs none anyway (docs/interpreters.md#llm-keys).
     */
    api_key: Type.Optional(
      Type.String({ maxLength: 16_384, description: 'kind llm: the endpoint\'s key, kept in memory only (over config llmApiKey); "" for an endpoint that takes none' }),
    ),
    /** Kind python: the python3 to run, an absolute path to an executable. Default: config `pythonPath`. */
    interpreter: Type.Optional(
      Type.String({ minLength: 2, maxLength: 4096, pattern: "^/", description: "kind python: the python3 to run, an absolute path to an executable (default: config pythonPath)", "x-expected": "an absolute path" }),
    ),
    /** Kind typescript: type-check each cell (with the cells before it) before it runs; a type error is the cell's error. Default: config `typescriptTypecheck`. */
    typecheck: Type.Optional(Type.Boolean({ description: "kind typescript: type-check each cell before it runs (default: config typescriptTypecheck)" })),
  },
  { additionalProperties: false },
);

/** One mode's start options, as validated (`api_key` only when it is `""`: a key is a secret). */
export type ModeOptions = Static<typeof ModeOptionsSchema>;

/** The names of every mode option, whichever mode takes it. */
export const MODE_OPTION_NAMES: readonly (keyof ModeOptions)[] = Object.keys(ModeOptionsSchema.properties) as (keyof ModeOptions)[];

/**
 * Whether `url`'s host is this machine by name or address (localhost, 127.0.0.0/8, ::1, and
 * 127.x as an IPv4-mapped IPv6 address): an endpoint there needs no key. A name that merely
 * resolves to loopback does not count (nothing is resolved here).
 */
export function isLoopbackUrl(url: string): boolean {
  let host: string;
  try {
    host = new URL(url).hostname.toLowerCase();
  } catch {
    return false;
  }
  if (host === "localhost" || host.endsWith(".localhost") || host === "[::1]") return true;
  if (/^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host)) return true;
  // WHATWG URL writes ::ffff:127.0.0.1 as [::ffff:7f00:1].
  return /^\[::ffff:7f[0-9a-f]{2}:[0-9a-f]{1,4}\]$/.test(host);
}
