import type { Config } from "../core/config.js";

const MASK = "********";

/** The config with its secrets masked: token values, and passwords inside connection URLs. */
export function maskSecrets(config: Config): Record<string, unknown> {
  const masked: Record<string, unknown> = { ...config };
  masked.tokens = config.tokens.map((t) => ({ ...t, token: MASK }));
  if (config.llmApiKey !== undefined) masked.llmApiKey = MASK;
  for (const key of ["pgUrl", "redisUrl"] as const) {
    const url = config[key];
    if (url !== undefined) masked[key] = maskUrl(url);
  }
  return masked;
}

function maskUrl(text: string): string {
  try {
    const url = new URL(text);
    if (url.password) url.password = MASK;
    return url.toString();
  } catch {
    // Not a URL we can parse: it may hold a secret anywhere, so none of it is shown.
    return MASK;
  }
}
