import type { Command } from "commander";
import { EXIT, reportError } from "../fail.js";
import type { ConfigFlags } from "../load-config.js";

/** `sessiond serve`: the server, on the Unix socket and on TCP, until SIGTERM or SIGINT. */
export function registerServe(program: Command): void {
  program
    .command("serve")
    .description("run the server in the foreground: $SESSIOND_HOME/sessiond.sock (no token) and TCP host:port (bearer token)")
    .option("--config <file>", "a JSON config file (env SESSIOND_CONFIG)")
    .option("--home <dir>", "the data dir (env SESSIOND_HOME)")
    .option("--host <host>", "the TCP address (env SESSIOND_HOST)", undefined)
    .option("--port <port>", "the TCP port; 0 takes a free one and logs it (env SESSIOND_PORT)")
    .action(async (options: ConfigFlags) => {
      // Loaded here: the other commands never load the config schema or the server.
      const [{ loadConfig }, { serve }] = await Promise.all([import("../load-config.js"), import("../serve.js")]);
      let config;
      try {
        config = loadConfig(options, process.env);
        (await import("../../server/index.js")).assertAuthAllowed(config);
      } catch (err) {
        reportError(err);
        process.exitCode = EXIT.usage;
        return;
      }
      await serve(config);
    });
}
