import { randomBytes } from "node:crypto";
import { chmodSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { type Config, dataPaths } from "../../core/index.js";
import { tokenWeakness } from "./token-strength.js";

/** The admin token and whether this call created it. */
export interface AdminToken {
  readonly token: string;
  readonly created: boolean;
  /** Set when an existing file was readable by others and its mode was tightened. */
  readonly tightened: boolean;
}

/** 32 random bytes: 43 base64url characters, well over the strength `tokenWeakness` asks. */
const TOKEN_BYTES = 32;

/**
 * Reads the admin token from `$SESSIOND_HOME/token`, generating a random one (mode 0600) on first
 * start. The file is created exclusively, so two servers starting at once agree on one token.
 */
export function ensureAdminToken(config: Pick<Config, "home">): AdminToken {
  const path = dataPaths(config).token;
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const fresh = randomBytes(TOKEN_BYTES).toString("base64url");
  try {
    writeFileSync(path, `${fresh}\n`, { flag: "wx", mode: 0o600 });
    return { token: fresh, created: true, tightened: false };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
  }
  let tightened = false;
  if ((statSync(path).mode & 0o077) !== 0) {
    chmodSync(path, 0o600);
    tightened = true;
  }
  const token = readFileSync(path, "utf8").trim();
  const weakness = tokenWeakness(token);
  if (weakness !== undefined) throw new Error(`the admin token in ${path} is too weak: ${weakness}; delete the file to generate a new one`);
  return { token, created: false, tightened };
}
