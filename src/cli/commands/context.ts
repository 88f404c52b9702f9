import type { Command } from "commander";
import { type Opts, action, clientOptions, parseCount, parseObject } from "../args.js";
import { withClient } from "../client.js";
import { printJson } from "../output.js";

/** Registers `context get|set|patch`. */
export function registerContextCommands(program: Command): void {
  const context = program.command("context").alias("ctx").description("read and change a session's context (a JSON object)");

  clientOptions(context.command("get").argument("<session>", "id, name or agent_id/name").argument("[key]", "one top-level key"))
    .description("print the context (or one key of it) as JSON")
    .action(
      action(async (ref: string, key: string | undefined, o: Opts) => {
        const session = await withClient(o, (c) => c.sessions.getSession(ref));
        printJson(key === undefined ? session.context : (session.context[key] ?? null));
      }),
    );

  clientOptions(context.command("set").argument("<session>", "id, name or agent_id/name").argument("<json>", "the new context, a JSON object"))
    .description("replace the context")
    .option("--if-version <n>", "only if the session is at this version")
    .action(
      action(async (ref: string, json: string, o: Opts) => {
        const value = parseObject(json, "the context");
        const ifMatch = o.ifVersion === undefined ? {} : { ifMatch: parseCount(String(o.ifVersion), "--if-version") };
        const session = await withClient(o, (c) => c.sessions.updateSession(ref, { context: value }, ifMatch));
        printJson(o.json ? session : session.context);
      }),
    );

  clientOptions(context.command("patch").argument("<session>", "id, name or agent_id/name").argument("<json>", "a JSON Merge Patch (RFC 7396): null deletes a key"))
    .description("merge into the context")
    .option("--if-version <n>", "only if the session is at this version")
    .action(
      action(async (ref: string, json: string, o: Opts) => {
        const patch = parseObject(json, "the patch");
        const ifMatch = o.ifVersion === undefined ? {} : { ifMatch: parseCount(String(o.ifVersion), "--if-version") };
        const session = await withClient(o, (c) => c.sessions.updateSession(ref, { context_patch: patch }, ifMatch));
        printJson(o.json ? session : session.context);
      }),
    );
}
