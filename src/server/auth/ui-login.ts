import { randomBytes } from "node:crypto";
import { LRUCache } from "lru-cache";
import type { Principal } from "./principal.js";
import { type IssuedTokens, tokenDigest } from "./token-registry.js";

/** How long codes and dashboard tokens live, and how many are held at once. */
export interface UiLoginOptions {
  /** How long a login code may be exchanged (config `uiLoginCodeTtlMs`). */
  readonly codeTtlMs: number;
  /** How long a dashboard token is accepted (config `uiSessionTtlMs`). */
  readonly sessionTtlMs: number;
  /** @default {@link UI_LOGIN_MAX_CODES} */
  readonly maxCodes?: number;
  /** @default {@link UI_LOGIN_MAX_SESSIONS} */
  readonly maxSessions?: number;
  /** @default Date.now */
  readonly clock?: () => number;
}

/** A login code as handed to its creator. */
export interface LoginCode {
  readonly code: string;
  /** Epoch ms after which it is refused. */
  readonly expiresAt: number;
}

/** A dashboard token, the answer to a login code. */
export interface UiSession {
  readonly token: string;
  readonly principal: Principal;
  /** Epoch ms after which it is refused. */
  readonly expiresAt: number;
}

/** Codes waiting to be exchanged at once; past it the oldest is forgotten (and refused). */
export const UI_LOGIN_MAX_CODES = 1_000;
/** Dashboard tokens held at once; past it the least recently used is forgotten (signed out). */
export const UI_LOGIN_MAX_SESSIONS = 10_000;

/** 32 random bytes, as the admin token: 43 base64url characters. */
const SECRET_BYTES = 32;

/**
 * The dashboard's sign-in without the admin token reaching a browser (docs/api.md#dashboard-sign-in):
 * a caller already authenticated (the CLI on the Unix socket, or with its token) asks for a
 * one-time code bound to its principal; the page exchanges the code, once and within
 * `codeTtlMs`, for a new bearer token with that same principal that lives `sessionTtlMs`.
 *
 * Both live in this process's memory only, in LRU caches with a TTL, held by their SHA-256
 * digests as configured tokens are (a heap dump shows no usable secret). A code is deleted as it
 * is exchanged, before the token is made, so two exchanges of one code cannot both succeed. The
 * tokens are accepted by the {@link TokenRegistry} this is given to (`registry.accept(logins)`).
 *
 * A dashboard token cannot ask for a code: the sign-in of a browser ends when its token does.
 *
 * @example
 * const logins = new UiLogins({ codeTtlMs: 60_000, sessionTtlMs: 43_200_000 });
 * registry.accept(logins);
 * const { code } = logins.createCode(request.principal);
 * const session = logins.redeem(code); // undefined the second time
 */
export class UiLogins implements IssuedTokens {
  private readonly codes: LRUCache<string, Principal>;
  private readonly sessions: LRUCache<string, Principal>;
  /** The principals of dashboard tokens (each token gets an object of its own). */
  private readonly issued = new WeakSet<Principal>();
  private readonly clock: () => number;

  constructor(private readonly options: UiLoginOptions) {
    this.clock = options.clock ?? Date.now;
    const perf = { now: this.clock };
    // ttlResolution 0: expiry is read from the clock on every lookup, not from a cached reading.
    this.codes = new LRUCache({ max: options.maxCodes ?? UI_LOGIN_MAX_CODES, ttl: options.codeTtlMs, ttlResolution: 0, perf });
    this.sessions = new LRUCache({ max: options.maxSessions ?? UI_LOGIN_MAX_SESSIONS, ttl: options.sessionTtlMs, ttlResolution: 0, perf });
  }

  /** A new single-use code that signs a page in as `principal`. */
  createCode(principal: Principal): LoginCode {
    const code = randomBytes(SECRET_BYTES).toString("base64url");
    this.codes.set(tokenDigest(code), principal);
    return { code, expiresAt: this.clock() + this.options.codeTtlMs };
  }

  /**
   * Exchanges a code for a new dashboard token with the code's principal.
   * @returns undefined when the code is unknown, expired or already exchanged
   */
  redeem(code: string): UiSession | undefined {
    const key = tokenDigest(code);
    const creator = this.codes.get(key);
    if (creator === undefined) return undefined;
    this.codes.delete(key);
    const token = randomBytes(SECRET_BYTES).toString("base64url");
    const principal: Principal = Object.freeze({ ...creator });
    this.issued.add(principal);
    this.sessions.set(tokenDigest(token), principal);
    return { token, principal, expiresAt: this.clock() + this.options.sessionTtlMs };
  }

  /** The principal of the dashboard token with this digest, while it lives. */
  principalOf(digest: string): Principal | undefined {
    return this.sessions.get(digest);
  }

  /** Whether the principal came from a dashboard token. */
  isDashboard(principal: Principal): boolean {
    return this.issued.has(principal);
  }
}
