import type { Config } from "../core/config.js";
import { checkSandbox } from "../drivers/sandbox/probe.js";
import { maskSecrets } from "./mask-secrets.js";
import { print } from "./output.js";

/**
 * Prints the effective configuration, secrets masked: `key = value` lines, or JSON. What the
 * sandbox setting means on this machine goes to stderr as a warning, so JSON stays parseable.
 */
export function printConfig(config: Config, json: boolean): void {
  const warning = sandboxWarning(config);
  if (warning) console.error(`warning: ${warning}`);
  const masked = maskSecrets(config);
  if (json) {
    console.log(JSON.stringify(masked, null, 2));
    return;
  }
  for (const [key, value] of Object.entries(masked)) {
    print(`${key} = ${typeof value === "string" ? value : JSON.stringify(value)}\n`);
  }
}

/** Live sessions that would run unsandboxed, or be refused: said before the configuration. */
export function sandboxWarning(config: Pick<Config, "sandbox">): string | undefined {
  if (config.sandbox === "none") {
    return 'sandbox is "none": live sessions run as the server\'s user and can read its data dir (token, database, socket) and environment (docs/security.md)';
  }
  const check = checkSandbox();
  return check.ok ? undefined : `live sessions will be refused: the sandbox cannot start here, it lacks ${check.missing}`;
}
