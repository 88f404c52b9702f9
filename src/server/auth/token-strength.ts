/** The fewest characters a bearer token may have. */
export const MIN_TOKEN_LENGTH = 32;

/**
 * The fewest different characters a bearer token may use. A random token of 32 characters from
 * even the smallest usual alphabet (hex) has about 14; fewer betrays a pattern ("aaaa…", "abab…").
 */
export const MIN_TOKEN_DISTINCT_CHARACTERS = 10;

/**
 * Why a bearer token is too weak to accept, or undefined when it is strong enough: it needs at
 * least {@link MIN_TOKEN_LENGTH} characters and {@link MIN_TOKEN_DISTINCT_CHARACTERS} different
 * ones. The reason never quotes the token.
 *
 * @example
 * tokenWeakness("x".repeat(40)); // "it uses fewer than 10 different characters"
 */
export function tokenWeakness(token: string): string | undefined {
  if ([...token].length < MIN_TOKEN_LENGTH) return `it is shorter than ${MIN_TOKEN_LENGTH} characters`;
  if (new Set(token).size < MIN_TOKEN_DISTINCT_CHARACTERS) return `it uses fewer than ${MIN_TOKEN_DISTINCT_CHARACTERS} different characters`;
  return undefined;
}

/** How to make a token that passes, for error messages. */
export const STRONG_TOKEN_HINT = "use a random one, e.g. from `openssl rand -base64 32`";
