import type { Reply } from "./transport.js";

/**
 * A header's single value. Kept apart from the undici transport so that code which only reads
 * replies (the CLI, with a transport of its own) does not load undici.
 */
export function headerValue(headers: Reply<unknown>["headers"], name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}
