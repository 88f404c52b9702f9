import { api } from "./client.js";
import { clearToken, setToken } from "./token.js";
import type { Role, WhoAmI } from "./types.js";

/** The answer of `POST /ui/login`: a short-lived token with the code creator's role. */
interface LoginAnswer {
  readonly token: string;
  readonly role: Role;
  readonly expires_at: string;
}

/**
 * The one-time code of a `sessiond ui` link (`/ui/#code=…`), taken off the address bar at once
 * (history.replaceState), so it is neither kept in the history nor shown, and never sent in a
 * URL: the fragment never reaches the server. Undefined when the page was opened without one.
 */
export function takeLoginCode(): string | undefined {
  const hash = location.hash;
  if (!hash.startsWith("#code=")) return undefined;
  history.replaceState(history.state, "", location.pathname + location.search);
  const code = decodeURIComponent(hash.slice("#code=".length));
  return code === "" ? undefined : code;
}

/** Exchanges a login code for a dashboard token, kept for the tab. */
export async function exchangeCode(code: string): Promise<void> {
  const { data } = await api<LoginAnswer>("/ui/login", { method: "POST", body: { code } });
  setToken(data.token, "link");
}

/** Who the stored token is; a token the server refuses is forgotten (the ApiError says why). */
export async function whoAmI(): Promise<WhoAmI> {
  const { data } = await api<WhoAmI>("/ui/whoami");
  return data;
}

/** Keeps a typed token for the tab once the server accepts it. */
export async function signInWith(token: string): Promise<WhoAmI> {
  setToken(token);
  try {
    return await whoAmI();
  } catch (err) {
    clearToken();
    throw err;
  }
}
