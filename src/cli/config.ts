import type { Command } from "commander";
import { reportError } from "./fail.js";
import { type ConfigFlags, loadConfig } from "./load-config.js";
import { maskSecrets } from "./mask-secrets.js";

/** `sessiond config`: prints the effective configuration, secrets masked. */
export function registerConfig(program: Command): void {
  program
    .command("config")
    .description("print the effective configuration (defaults < config file < SESSIOND_* env < flags), secrets masked")
    .option("--config <file>", "a JSON config file (env SESSIOND_CONFIG)")
    .option("--home <dir>", "the data dir (env SESSIOND_HOME)")
    .option("--host <host>", "the TCP address (env SESSIOND_HOST)")
    .option("--port <port>", "the TCP port (env SESSIOND_PORT)")
    .option("--json", "print JSON")
    .action((options: ConfigFlags & { json?: boolean }) => {
      try {
        const masked = maskSecrets(loadConfig(options, process.env));
        if (options.json) {
          console.log(JSON.stringify(masked, null, 2));
          return;
        }
        for (const [key, value] of Object.entries(masked)) {
          console.log(`${key} = ${typeof value === "string" ? value : JSON.stringify(value)}`);
        }
      } catch (err) {
        reportError(err, options.json);
      }
    });
}
