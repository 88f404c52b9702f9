#!/usr/bin/env node
import { createRequire } from "node:module";
import { Command, CommanderError } from "commander";
import { registerCommands } from "./command-groups.js";
import { EXIT } from "./fail.js";

const { version } = createRequire(import.meta.url)("../../package.json") as { version: string };

/**
 * The `sessiond` command. Each command lives in its own file (command-groups.ts lists them) and
 * only the one a command line names is registered. What a command needs beyond the HTTP client
 * (the server, the config schema, import/export, the REPL) is imported inside its action, so a
 * client command loads nothing of the server. Exit codes: 0 ok, 1 failure, 2 usage error.
 */
const program = new Command("sessiond")
  .description("persistent sessions for AI agents and their tools")
  .version(version)
  .showHelpAfterError("(run `sessiond help <command>` for its flags)")
  // Throw instead of exiting, so usage errors exit 2 (commander's own default is 1).
  .exitOverride();
registerCommands(program, process.argv.slice(2));

/** Runs the command line; commander's own errors become exit codes. */
async function main(): Promise<void> {
  try {
    await program.parseAsync(process.argv);
  } catch (err) {
    if (!(err instanceof CommanderError)) throw err;
    // Help and version "errors" exit 0; every other commander error is a usage error.
    process.exitCode = err.exitCode === 0 ? EXIT.ok : EXIT.usage;
  }
}

// No top-level await: the installed CLI is a CommonJS bundle of this file (scripts/bundle-cli.mjs).
void main();
