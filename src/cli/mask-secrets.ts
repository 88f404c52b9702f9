import type { Config } from "../core/config.js";

const MASK = "********";

/**
 * Keys whose string values are secrets wherever they appear in the config: `token` (of `tokens`),
 * `secret` (of `webhooks`), `llmApiKey`, and any key named or ending like these in camelCase
 * (`password`, `passphrase`, `…Token`, `…Secret`, `…ApiKey`, `…PrivateKey`, `…Credentials`).
 * `llmHistoryTokens` is a number, and only strings are masked.
 */
const SECRET_KEY = /(^|[a-z])(token|secret|password|passwd|passphrase|api_?key|private_?key|credentials?)$/i;

/** Query parameters of a URL whose values are secrets (`?password=…`, `?access_token=…`, `?sig=…`). */
const SECRET_PARAM = /(token|secret|password|passwd|pass|pwd|key|sig|signature|auth|credential)/i;

/**
 * The config with its secrets masked, for `sessiond config`: every secret-named string (token
 * values, webhook secrets, the llm API key), and in every string that holds a URL — whatever its
 * key (`pgUrl`, `redisUrl`, `llmBaseUrl`, a webhook's `url`) — the password of its user info
 * (`postgres://user:********@host/db`) and the values of secret-looking query parameters. A value
 * of a URL-named key (`…Url`, `url`) that cannot be parsed is masked whole: a secret could be
 * anywhere in it. The config itself is not changed.
 */
export function maskSecrets(config: Config): Record<string, unknown> {
  return maskObject(config as unknown as Record<string, unknown>);
}

function maskObject(value: Record<string, unknown>): Record<string, unknown> {
  const masked: Record<string, unknown> = {};
  for (const [key, child] of Object.entries(value)) masked[key] = maskValue(key, child);
  return masked;
}

function maskValue(key: string, value: unknown): unknown {
  if (typeof value === "string") {
    if (SECRET_KEY.test(key)) return MASK;
    return maskUrls(value, /(^|[a-z])(url|uri|dsn)$/i.test(key));
  }
  if (Array.isArray(value)) return value.map((item) => maskValue(key, item));
  if (value !== null && typeof value === "object") return maskObject(value as Record<string, unknown>);
  return value;
}

/** The text with the credentials of each URL in it masked; `urlKey`: a value that should be a URL and is not is masked whole. */
function maskUrls(text: string, urlKey: boolean): string {
  if (!text.includes("://")) return urlKey && text !== "" ? maskUrl(text) : text;
  return text.replace(/[a-z][a-z0-9+.-]*:\/\/[^\s"'<>]+/gi, (found) => maskUrl(found));
}

function maskUrl(text: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    // Not a URL we can parse: it may hold a secret anywhere, so none of it is shown.
    return MASK;
  }
  let changed = false;
  if (url.password) {
    url.password = MASK;
    changed = true;
  }
  for (const name of [...url.searchParams.keys()]) {
    if (SECRET_PARAM.test(name) && url.searchParams.get(name) !== "") {
      url.searchParams.set(name, MASK);
      changed = true;
    }
  }
  // Unchanged text is shown as written (URL would normalize it, adding a slash to a bare host).
  return changed ? url.toString() : text;
}
