import type { Config } from "../core/config.js";
import { maskSecrets } from "./mask-secrets.js";

/** Prints the effective configuration, secrets masked: `key = value` lines, or JSON. */
export function printConfig(config: Config, json: boolean): void {
  const masked = maskSecrets(config);
  if (json) {
    console.log(JSON.stringify(masked, null, 2));
    return;
  }
  for (const [key, value] of Object.entries(masked)) {
    console.log(`${key} = ${typeof value === "string" ? value : JSON.stringify(value)}`);
  }
}
