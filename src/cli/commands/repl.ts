import type { Command } from "commander";
import { type Opts, action } from "../args.js";

/** Registers `sessiond repl [session]`; the REPL itself loads only when it runs. */
export function registerReplCommand(program: Command): void {
  program
    .command("repl")
    .argument("[session]", "a live session's id, name or agent_id/name (default: a new shell session)")
    .description("an interactive prompt on a live session, with :session commands (:session help)")
    .option("--kind <kind>", "the kind of a new session: shell, python, typescript or llm", "shell")
    .option("--home <dir>", "the data dir (env SESSIOND_HOME)")
    .option("--config <file>", "a JSON config file (env SESSIOND_CONFIG)")
    .action(
      action(async (ref: string | undefined, o: Opts) => {
        const { runRepl } = await import("../repl/index.js");
        await runRepl({ ...(ref !== undefined ? { ref } : {}), kind: String(o.kind), flags: o });
      }),
    );
}
