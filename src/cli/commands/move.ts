import type { Command } from "commander";
import { type Opts, action, clientOptions } from "../args.js";
import { withClient } from "../client.js";
import { UsageError } from "../fail.js";
import { print, printJson } from "../output.js";

/** Registers `import <dir>` and `export --layout sessions|activity <dir>`. */
export function registerMoveCommands(program: Command): void {
  clientOptions(program.command("import").argument("<dir>", "a folder holding sessions/<id>/session.json or data/activity/YYYY-MM-DD/session_<id>/"))
    .description("bring sessions in from seed 004's or seed 000's files (detected), keeping ids, timestamps and history; importing twice changes nothing")
    .action(
      action(async (dir: string, o: Opts) => {
        const { importDir } = await import("../move/import.js");
        const summary = await withClient(o, (c) => importDir(c, dir));
        if (o.json) printJson(summary);
        else {
          print(
            `${summary.layout} layout: ${summary.found} found, ${summary.imported.length} imported, ${summary.skipped.length} already there, ${summary.failed.length} failed\n`,
          );
          for (const f of summary.failed) print(`  ${f.path}: ${f.reason}\n`);
        }
        if (summary.failed.length) process.exitCode = 1;
      }),
    );

  clientOptions(program.command("export").argument("<dir>", "where to write (created if missing)"))
    .description("write every session to files: seed 004's sessions/<id>/session.json, or seed 000's data/activity/… (exec sessions)")
    .option("--layout <layout>", "sessions or activity", "sessions")
    .action(
      action(async (dir: string, o: Opts) => {
        const { LAYOUTS, exportDir } = await import("../move/export.js");
        const layout = String(o.layout);
        if (!(LAYOUTS as readonly string[]).includes(layout)) throw new UsageError(`--layout must be one of ${LAYOUTS.join(", ")}, got ${JSON.stringify(layout)}`);
        const summary = await withClient(o, (c) => exportDir(c, dir, layout as (typeof LAYOUTS)[number]));
        if (o.json) printJson(summary);
        else print(`exported ${summary.exported} session${summary.exported === 1 ? "" : "s"} to ${dir} (${layout} layout)${summary.skipped ? `; ${summary.skipped} agent sessions have no place in it` : ""}\n`);
      }),
    );
}
