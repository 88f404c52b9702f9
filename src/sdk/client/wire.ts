/*
 * The parts of speaking to sessiond that do not depend on the HTTP library: both the SDK's undici
 * transport and the CLI's node:http one use them, and importing this file loads no undici.
 */

/** A request's query parameters. */
export type Query = Record<string, string | number | boolean | readonly (string | number)[] | undefined>;

/** A header's single value. */
export function headerValue(headers: Record<string, string | string[] | undefined>, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** JSON when it parses, else the text; undefined when empty. */
export function parseBody(text: string): unknown {
  if (!text.length) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** The request's path with its query string (array values repeat the key; undefined ones are left out). */
export function requestPath(spec: { path: string; query?: Query }, basePath = ""): string {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(spec.query ?? {})) {
    if (value === undefined) continue;
    if (Array.isArray(value)) for (const v of value) params.append(key, String(v));
    else params.append(key, String(value));
  }
  const qs = params.toString();
  return `${basePath}${spec.path}${qs ? `?${qs}` : ""}`;
}
