/**
 * The bearer token of this tab: kept in sessionStorage (gone when the tab closes, never shared
 * with another tab, never put in a URL), sent as `Authorization: Bearer …` by the API client.
 */
const KEY = "sessiond.token";
/** How the token came: typed into the form, or from a `sessiond ui` link (a dashboard token the server keeps in memory only). */
const FROM_KEY = "sessiond.token.from";

/** Where the tab's token came from. */
export type TokenSource = "typed" | "link";

/** The token this tab signed in with, if any. */
export function getToken(): string | null {
  try {
    return sessionStorage.getItem(KEY);
  } catch {
    return null;
  }
}

/** Keeps the token for this tab, and where it came from. */
export function setToken(token: string, from: TokenSource = "typed"): void {
  sessionStorage.setItem(KEY, token);
  sessionStorage.setItem(FROM_KEY, from);
}

/** Where the tab's token came from ("typed" when unknown). */
export function tokenSource(): TokenSource {
  try {
    return sessionStorage.getItem(FROM_KEY) === "link" ? "link" : "typed";
  } catch {
    return "typed";
  }
}

/** Forgets the token (sign out, or the server refused it). */
export function clearToken(): void {
  sessionStorage.removeItem(KEY);
  sessionStorage.removeItem(FROM_KEY);
}

/** The token as a WebSocket subprotocol entry: base64url of its UTF-8 bytes, no padding. */
export function bearerProtocol(token: string): string {
  let binary = "";
  for (const byte of new TextEncoder().encode(token)) binary += String.fromCharCode(byte);
  return `sessiond.bearer.${btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "")}`;
}
