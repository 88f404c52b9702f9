import type { Command } from "commander";
import { type Opts, action } from "../args.js";
import { withClient } from "../client.js";
import { UsageError } from "../fail.js";
import { visible } from "../output.js";

/** Registers `sessiond attach <session>`. */
export function registerAttachCommand(program: Command): void {
  program
    .command("attach")
    .argument("<session>", "a live shell session's id, name or agent_id/name")
    .description("the session's terminal, like tmux attach: raw keys, resize follows; Ctrl-] detaches and leaves it running")
    .option("--home <dir>", "the data dir (env SESSIOND_HOME)")
    .option("--config <file>", "a JSON config file, used if this command starts the server (env SESSIOND_CONFIG)")
    .action(
      action(async (ref: string, o: Opts) => {
        // The request starts the server if needed and checks the session before the terminal goes raw.
        const { session, socketPath } = await withClient(o, async (c) => ({ session: await c.sessions.getSession(ref), socketPath: c.socketPath }));
        if (session.kind !== "shell") throw new Error(`attach needs a shell session: ${ref} is ${session.kind === "agent" || session.kind === "llm" ? "an" : "a"} ${session.kind} session (${notShellHint(ref, session.kind)})`);
        if (!process.stdin.isTTY) throw new UsageError("attach needs a terminal on stdin; use `sessiond exec` or `sessiond repl` from scripts");
        const { attach } = await import("../attach.js");
        const end = await attach({ socketPath }, ref);
        if (end.how === "detached") process.stderr.write(`\r\n[detached from ${visible(ref)}; it keeps running: sessiond attach ${visible(ref)}]\r\n`);
        else {
          process.stderr.write(`\r\n[connection closed: ${visible(end.reason || String(end.code))}]\r\n`);
          if (end.code !== 1000) process.exitCode = 1;
        }
      }),
    );
}

/** What to use instead of attach for a session that has no terminal. */
function notShellHint(ref: string, kind: string): string {
  if (kind === "agent") return "it runs no process; start a shell with `sessiond start --kind shell`";
  return `use \`sessiond repl ${ref}\` for its prompt, or \`sessiond exec ${ref} …\``;
}
