import { randomBytes } from "node:crypto";
import { type AddRefusal, OwnedSecrets } from "./owned-secrets.js";
import type { Principal } from "./principal.js";
import { type IssuedTokens, tokenDigest } from "./token-registry.js";

/** How long codes and dashboard tokens live, and how many are held, per principal and in all. */
export interface UiLoginOptions {
  /** How long a login code may be exchanged (config `uiLoginCodeTtlMs`). */
  readonly codeTtlMs: number;
  /** How long a dashboard token is accepted (config `uiSessionTtlMs`). */
  readonly sessionTtlMs: number;
  /** Codes one principal may hold unexchanged; past it a new one is refused (config `uiMaxLoginCodesPerPrincipal`). */
  readonly maxCodesPerPrincipal: number;
  /** Dashboard tokens of one principal's codes alive at once; past it its oldest is signed out (config `uiMaxSessionsPerPrincipal`). */
  readonly maxSessionsPerPrincipal: number;
  /** Codes held over all principals; past it new ones are refused (config `uiMaxLoginCodes`). */
  readonly maxCodes: number;
  /** Dashboard tokens held over all principals; past it exchanges are refused (config `uiMaxSessions`). */
  readonly maxSessions: number;
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

/** A code or a token the limits did not let be made: why, for the answer (429), and when to retry. */
export interface UiLoginRefusal {
  readonly refused: string;
  readonly retryInMs?: number;
}

/** 32 random bytes, as the admin token: 43 base64url characters. */
const SECRET_BYTES = 32;

/**
 * The dashboard's sign-in without the admin token reaching a browser (docs/api.md#dashboard-sign-in):
 * a caller already authenticated (the CLI on the Unix socket, or with its token) asks for a
 * one-time code bound to its principal; the page exchanges the code, once and within
 * `codeTtlMs`, for a new bearer token with that same principal that lives `sessionTtlMs`.
 *
 * Both live in this process's memory only, with a TTL, held by their SHA-256 digests as
 * configured tokens are (a heap dump shows no usable secret). A code is deleted as it is
 * exchanged, before the token is made, so two exchanges of one code cannot both succeed. The
 * tokens are accepted by the {@link TokenRegistry} this is given to (`registry.accept(logins)`).
 *
 * Both are counted per principal (the code's creator), so that no token — a reader's included —
 * can push out another's: a principal holding `maxCodesPerPrincipal` codes gets no more until one
 * is used or expires, and its dashboard tokens past `maxSessionsPerPrincipal` sign out its own
 * oldest. The totals over all principals (`maxCodes`, `maxSessions`) refuse what is new rather
 * than forget anyone's.
 *
 * A dashboard token cannot ask for a code: the sign-in of a browser ends when its token does.
 *
 * @example
 * const logins = new UiLogins({ codeTtlMs: 60_000, sessionTtlMs: 43_200_000, maxCodesPerPrincipal: 20, maxSessionsPerPrincipal: 50, maxCodes: 1000, maxSessions: 10_000 });
 * registry.accept(logins);
 * const made = logins.createCode(request.principal); // { code, expiresAt }, or { refused } past a limit
 * if (!isRefusal(made)) logins.redeem(made.code); // a dashboard token; undefined the second time
 */
export class UiLogins implements IssuedTokens {
  /** Codes by digest; the value is unused (the owner is the principal the code signs in as). */
  private readonly codes: OwnedSecrets<true>;
  /** Dashboard tokens by digest, owned by the principal whose code made them; the value is the token's own principal. */
  private readonly sessions: OwnedSecrets<Principal>;
  /** The principals of dashboard tokens (each token gets an object of its own). */
  private readonly issued = new WeakSet<Principal>();
  private readonly clock: () => number;

  constructor(private readonly options: UiLoginOptions) {
    this.clock = options.clock ?? Date.now;
    const clock = this.clock;
    this.codes = new OwnedSecrets({ ttlMs: options.codeTtlMs, maxPerOwner: options.maxCodesPerPrincipal, maxTotal: options.maxCodes, whenOwnerFull: "refuse", clock });
    this.sessions = new OwnedSecrets({ ttlMs: options.sessionTtlMs, maxPerOwner: options.maxSessionsPerPrincipal, maxTotal: options.maxSessions, whenOwnerFull: "forget-oldest", clock });
  }

  /** A new single-use code that signs a page in as `principal`, unless a limit refuses it. */
  createCode(principal: Principal): LoginCode | UiLoginRefusal {
    const code = randomBytes(SECRET_BYTES).toString("base64url");
    const refusal = this.codes.add(principal, tokenDigest(code), true);
    if (refusal !== undefined) return codeRefusal(refusal, this.options.codeTtlMs);
    return { code, expiresAt: this.clock() + this.options.codeTtlMs };
  }

  /**
   * Exchanges a code for a new dashboard token with the code's principal. A full server
   * (`maxSessions`) refuses the exchange and leaves the code as it was, good for a retry.
   * @returns undefined when the code is unknown, expired or already exchanged
   */
  redeem(code: string): UiSession | UiLoginRefusal | undefined {
    const key = tokenDigest(code);
    const creator = this.codes.get(key)?.owner;
    if (creator === undefined) return undefined;
    const refusal = this.sessions.refusalFor(creator);
    if (refusal !== undefined) {
      return { refused: `the server holds ${refusal.max} dashboard tokens, its limit (config uiMaxSessions); the code stays good until it expires: try again once some have expired, or sign the page in with a configured token` };
    }
    this.codes.delete(key);
    const token = randomBytes(SECRET_BYTES).toString("base64url");
    const principal: Principal = Object.freeze({ ...creator });
    this.issued.add(principal);
    // Room was checked above and nothing ran since: this cannot be refused.
    this.sessions.add(creator, tokenDigest(token), principal);
    return { token, principal, expiresAt: this.clock() + this.options.sessionTtlMs };
  }

  /** The principal of the dashboard token with this digest, while it lives. */
  principalOf(digest: string): Principal | undefined {
    return this.sessions.get(digest)?.value;
  }

  /** Whether the principal came from a dashboard token. */
  isDashboard(principal: Principal): boolean {
    return this.issued.has(principal);
  }
}

function codeRefusal(refusal: AddRefusal, codeTtlMs: number): UiLoginRefusal {
  if (refusal.limit === "owner") {
    return {
      refused: `this caller already holds ${refusal.max} login codes not yet exchanged, its limit (config uiMaxLoginCodesPerPrincipal); use one, or wait for the oldest to expire (uiLoginCodeTtlMs, ${codeTtlMs} ms)`,
      ...(refusal.retryInMs !== undefined ? { retryInMs: refusal.retryInMs } : {}),
    };
  }
  return { refused: `the server holds ${refusal.max} login codes not yet exchanged, its limit (config uiMaxLoginCodes); try again once some have expired (uiLoginCodeTtlMs, ${codeTtlMs} ms)`, retryInMs: codeTtlMs };
}

/** Whether an answer of {@link UiLogins.createCode} or {@link UiLogins.redeem} is a refusal. */
export function isRefusal(value: object): value is UiLoginRefusal {
  return "refused" in value;
}
