#!/usr/bin/env node
import { createRequire } from "node:module";
import { Command, CommanderError } from "commander";
import { registerCommands } from "./command-groups.js";
import { applyEnvFiles } from "./env-files.js";
import { EXIT, UsageError, reportError } from "./fail.js";

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
  // Before the command's name too (`sessiond --json exec …`), as after it.
  .option("--json", "print JSON (errors too, on stderr)")
  // commander's own errors (an unknown flag, a flag value its parser refused) in the one-line
  // form every error of the CLI takes, JSON with --json.
  .configureOutput({ outputError: (text) => reportError(new UsageError(commanderMessage(text)), process.argv.includes("--json")) })
  // Throw instead of exiting, so usage errors exit 2 (commander's own default is 1).
  .exitOverride();
registerCommands(program, process.argv.slice(2));
// The .env files are read once the command's flags are parsed: `--home` says whose data dir's.
program.hook("preAction", (_program, action) => {
  // commander gives a program's option to the program wherever it stands on the line, also after
  // the command's name: the command gets it back, whichever of the two took it.
  if (program.opts<{ json?: boolean }>().json === true) action.setOptionValue("json", true);
  applyEnvFiles(action.opts<{ home?: string; json?: boolean }>());
});

/** commander's error text as `<what> (<what to do>)`: `error: ` dropped, its "Did you mean" kept on the line. */
function commanderMessage(text: string): string {
  const what = text
    .trim()
    .replace(/^error: /, "")
    .replace(/\s*\(Did you mean (.*)\?\)$/, "; did you mean $1?");
  const [named, subNamed] = process.argv.slice(2).filter((a) => !a.startsWith("-"));
  const command = findCommand(program.commands, named);
  // A command's subcommand (`checkpoint create`) has flags of its own, which only its own --help lists.
  const sub = command && findCommand(command.commands, subNamed);
  if (command && sub) return `${what} (run \`sessiond ${command.name()} ${sub.name()} --help\` for its flags)`;
  // `sessiond exec sh ls -la`: the flag was meant for the command, which `--` passes on.
  if (command?.name() === "exec" && what.startsWith("unknown option")) {
    return `${what} (for the command's own flags, put \`--\` before the command: \`sessiond exec ${subNamed ?? "<session>"} -- ls -la\`; \`sessiond help exec\` lists exec's)`;
  }
  if (command) return `${what} (run \`sessiond help ${command.name()}\` for its flags)`;
  return `${what} (run \`sessiond help\` for the commands)`;
}

function findCommand(commands: readonly Command[], name: string | undefined): Command | undefined {
  return name === undefined ? undefined : commands.find((c) => c.name() === name || c.aliases().includes(name));
}

// A reader that stops early (`sessiond list | head -1`) closes the pipe: the rest of the output
// has nowhere to go, which is not an error of the command.
for (const stream of [process.stdout, process.stderr]) {
  stream.on("error", (err: NodeJS.ErrnoException) => {
    if (err.code !== "EPIPE") throw err;
    process.exit(process.exitCode ?? EXIT.ok);
  });
}

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
