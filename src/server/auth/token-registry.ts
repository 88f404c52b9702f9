import * as crypto from "node:crypto";
import type { Config } from "../../core/index.js";
import type { Principal } from "./principal.js";
import { STRONG_TOKEN_HINT, tokenWeakness } from "./token-strength.js";

/**
 * Tokens the server issued itself and holds in memory (the dashboard's short-lived tokens,
 * ui-login.ts), looked up by the same digest as the configured ones.
 */
export interface IssuedTokens {
  /** The principal of the token with this digest ({@link tokenDigest}), or undefined. */
  principalOf(digest: string): Principal | undefined;
}

/**
 * The bearer tokens the server accepts, held as SHA-256 digests: a lookup hashes the presented
 * token and finds its digest, so no comparison ever runs on the secret itself (no timing
 * channel) and the secrets are not kept in memory longer than startup. Each configured token
 * must be as strong as `tokenWeakness` asks: a weak one stops the server at startup, the error
 * naming the token's place, name and role, never the secret.
 */
export class TokenRegistry {
  private readonly byDigest = new Map<string, Principal>();
  private issued: IssuedTokens | undefined;

  constructor(adminToken: string, tokens: Config["tokens"]) {
    this.add(adminToken, { role: "admin", name: "admin" });
    tokens.forEach((t, i) => {
      if (t.role === "agent" && t.agent_id === undefined && t.user_id === undefined) {
        throw new Error(`config tokens[${i}]: an agent token needs an agent_id or a user_id`);
      }
      const weakness = tokenWeakness(t.token);
      if (weakness !== undefined) {
        const role = `${t.role === "reader" ? "a" : "an"} ${t.role} token`;
        const label = t.name !== undefined ? `"${t.name}", ${role}` : role;
        throw new Error(`config tokens[${i}] (${label}) is too weak: ${weakness}; ${STRONG_TOKEN_HINT}`);
      }
      const principal: Principal = {
        role: t.role,
        name: t.name ?? `${t.role}-${i + 1}`,
        ...(t.agent_id !== undefined ? { agent_id: t.agent_id } : {}),
        ...(t.user_id !== undefined ? { user_id: t.user_id } : {}),
      };
      this.add(t.token, principal);
    });
  }

  /**
   * A digest of every token with what it grants: equal for two servers exactly when they accept
   * the same tokens the same way (nodes behind one load balancer must; docs/scale-out.md). It
   * reveals nothing of the secrets (digests of their digests).
   */
  fingerprint(): string {
    const entries = [...this.byDigest].map(([key, p]) => JSON.stringify([key, p.role, p.agent_id ?? null, p.user_id ?? null])).sort();
    return tokenDigest(entries.join("\n"));
  }

  /**
   * Also accepts the tokens `issued` holds, after the configured ones. They are not part of the
   * {@link fingerprint}: they live in this node's memory only, for as long as it gives them.
   */
  accept(issued: IssuedTokens): void {
    this.issued = issued;
  }

  /** The principal of a bearer token, or undefined when it is not one of ours. */
  lookup(token: string): Principal | undefined {
    const key = tokenDigest(token);
    return this.byDigest.get(key) ?? this.issued?.principalOf(key);
  }

  private add(token: string, principal: Principal): void {
    const key = tokenDigest(token);
    if (this.byDigest.has(key)) throw new Error(`token ${principal.name} is configured twice`);
    this.byDigest.set(key, Object.freeze(principal));
  }
}

// crypto.hash (Node >= 20.12) is the one-shot form, several times faster than createHash per call.
const oneShot = (crypto as { hash?: (algorithm: string, data: string, encoding: "base64") => string }).hash;

/** The SHA-256 digest (base64) a token is held and looked up by. */
export function tokenDigest(token: string): string {
  return oneShot ? oneShot("sha256", token, "base64") : crypto.createHash("sha256").update(token).digest("base64");
}
