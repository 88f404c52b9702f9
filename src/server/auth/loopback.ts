import { isIP } from "node:net";
import type { Config } from "../../core/index.js";

/** True for an address that only this machine can reach: 127.0.0.0/8, ::1, localhost. */
export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, "").toLowerCase();
  if (h === "localhost" || h === "::1" || h === "0:0:0:0:0:0:0:1") return true;
  if (isIP(h) === 4) return h.startsWith("127.");
  if (h.startsWith("::ffff:")) return isLoopback(h.slice("::ffff:".length));
  return false;
}

/**
 * Refuses a config that turns auth off while listening on an address other machines can reach.
 * @throws Error naming the address
 */
export function assertAuthAllowed(config: Pick<Config, "auth" | "host">): void {
  if (!config.auth && !isLoopback(config.host)) {
    throw new Error(`refusing to turn auth off while listening on ${config.host}, which is not a loopback address`);
  }
}
