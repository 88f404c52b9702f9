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
 * Refuses a config that turns auth off where someone it does not trust can reach the server:
 * listening on an address other machines can reach, or with sandboxed live sessions that share
 * this host's network — their code would reach the API on loopback as the local admin, every
 * session and admin route included. (Unsandboxed sessions, `sandbox: "none"`, run as the server's
 * user and can read its token anyway: that choice is warned about on its own.)
 * @throws Error naming the address, or the settings that let sessions in
 */
export function assertAuthAllowed(config: Pick<Config, "auth" | "host" | "enableSessions" | "sandbox" | "sandboxNetwork">): void {
  if (config.auth) return;
  if (!isLoopback(config.host)) {
    throw new Error(`refusing to turn auth off while listening on ${config.host}, which is not a loopback address`);
  }
  if (config.enableSessions && config.sandbox === "bwrap" && config.sandboxNetwork) {
    throw new Error(
      "refusing to turn auth off while live sessions share this host's network (enableSessions with sandboxNetwork): code in a session would reach the API on loopback as the admin; keep auth on, or set sandboxNetwork: false (sessions then get a loopback of their own)",
    );
  }
}
