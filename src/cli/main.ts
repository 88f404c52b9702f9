#!/usr/bin/env node
import { createRequire } from "node:module";
import { Command } from "commander";
import { registerConfig } from "./config.js";
import { registerServe } from "./serve.js";

const { version } = createRequire(import.meta.url)("../../package.json") as { version: string };

/**
 * The `sessiond` command. Each command lives in its own file and registers itself here; client
 * commands (a later issue) load nothing of the server.
 */
const program = new Command("sessiond")
  .description("persistent sessions for AI agents and their tools")
  .version(version)
  .showHelpAfterError();
registerServe(program);
registerConfig(program);
await program.parseAsync(process.argv);
