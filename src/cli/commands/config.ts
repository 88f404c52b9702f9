import type { Command } from "commander";
import { reportError } from "../fail.js";
import type { ConfigFlags } from "../load-config.js";

/** `sessiond config`: prints the effective configuration, secrets masked. */
export function registerConfig(program: Command): void {
  program
    .command("config")
    .description(
      "print the configuration this command line resolves (defaults < config file < SESSIOND_* env < flags), secrets masked; a running server keeps what it started with (`sessiond server restart` applies changes)",
    )
    .option("--config <file>", "a JSON config file (env SESSIOND_CONFIG)")
    .option("--home <dir>", "the data dir (env SESSIOND_HOME)")
    .option("--host <host>", "the TCP address (env SESSIOND_HOST)")
    .option("--port <port>", "the TCP port (env SESSIOND_PORT)")
    .option("--json", "print JSON")
    .action(async (options: ConfigFlags & { json?: boolean }) => {
      try {
        const [{ loadConfig }, { printConfig }] = await Promise.all([import("../load-config.js"), import("../config.js")]);
        printConfig(loadConfig(options, process.env), options.json === true);
      } catch (err) {
        reportError(err, options.json);
      }
    });
}
