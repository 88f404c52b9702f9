/**
 * The bearer token of this tab: kept in sessionStorage (gone when the tab closes, never shared
 * with another tab, never put in a URL), sent as `Authorization: Bearer …` by the API client.
 */
const KEY = "sessiond.token";

/** The token this tab signed in with, if any. */
export function getToken(): string | null {
  try {
    return sessionStorage.getItem(KEY);
  } catch {
    return null;
  }
}

/** Keeps the token for this tab. */
export function setToken(token: string): void {
  sessionStorage.setItem(KEY, token);
}

/** Forgets the token (sign out, or the server refused it). */
export function clearToken(): void {
  sessionStorage.removeItem(KEY);
}

/** The token as a WebSocket subprotocol entry: base64url of its UTF-8 bytes, no padding. */
export function bearerProtocol(token: string): string {
  let binary = "";
  for (const byte of new TextEncoder().encode(token)) binary += String.fromCharCode(byte);
  return `sessiond.bearer.${btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "")}`;
}
