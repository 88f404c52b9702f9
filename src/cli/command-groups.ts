import type { Command } from "commander";
import { registerAttachCommand } from "./commands/attach.js";
import { registerCheckpointCommands } from "./commands/checkpoints.js";
import { registerConfig } from "./commands/config.js";
import { registerContextCommands } from "./commands/context.js";
import { registerEventCommands } from "./commands/events.js";
import { registerLifecycleCommands } from "./commands/lifecycle.js";
import { registerMcpCommand } from "./commands/mcp.js";
import { registerMoveCommands } from "./commands/move.js";
import { registerReplCommand } from "./commands/repl.js";
import { registerServe } from "./commands/serve.js";
import { registerServerCommands } from "./commands/server.js";
import { registerSessionCommands } from "./commands/sessions.js";
import { registerUiCommand } from "./commands/ui.js";

/** A file's commands: the names and aliases they answer to, and what registers them. */
export interface CommandGroup {
  readonly names: readonly string[];
  readonly register: (program: Command) => void;
}

/** Every command of `sessiond`, in help order. A test checks each group registers exactly its names. */
export const COMMAND_GROUPS: readonly CommandGroup[] = [
  { names: ["serve"], register: registerServe },
  { names: ["config"], register: registerConfig },
  { names: ["server"], register: registerServerCommands },
  { names: ["start", "list", "ls", "show", "update", "delete", "rm", "stats", "cleanup"], register: registerSessionCommands },
  { names: ["pause", "resume", "complete", "fail", "crash", "recover", "iterate", "stop", "interrupt", "exec", "undo", "hibernate"], register: registerLifecycleCommands },
  { names: ["events", "trace", "logs", "emit", "tool-call", "state", "metrics"], register: registerEventCommands },
  { names: ["checkpoint", "cp", "restore", "fork"], register: registerCheckpointCommands },
  { names: ["context", "ctx"], register: registerContextCommands },
  { names: ["repl"], register: registerReplCommand },
  { names: ["attach"], register: registerAttachCommand },
  { names: ["import", "export"], register: registerMoveCommands },
  { names: ["mcp"], register: registerMcpCommand },
  { names: ["ui"], register: registerUiCommand },
];

/**
 * Registers the commands a command line needs: only the group of the command it names, since
 * defining all ~40 commands with their options costs about 7 ms of a ~30 ms client command.
 * Help, --version, no command or an unknown one register them all (for the listing and the
 * "did you mean" suggestions).
 */
export function registerCommands(program: Command, args: readonly string[]): void {
  const named = args.find((a) => !a.startsWith("-"));
  const group = named === undefined ? undefined : COMMAND_GROUPS.find((g) => g.names.includes(named));
  for (const g of group ? [group] : COMMAND_GROUPS) g.register(program);
}
