import type { Command } from "commander";
import { LATEST_CHECKPOINT } from "../../core/events.js";
import type { Checkpoint } from "../../sdk/client/index.js";
import type { CliClient } from "../client.js";
import { type Opts, action, clientOptions, parseObject } from "../args.js";
import { withClient } from "../client.js";
import { keyValues, print, printJson, shortTime, table, visible } from "../output.js";

/** The checkpoints table (`checkpoint list`, the REPL's `:session checkpoints`). */
export function checkpointTable(checkpoints: readonly Checkpoint[]): string {
  if (checkpoints.length === 0) return "no checkpoints\n";
  return table(checkpoints, [
    { header: "ID", value: (c) => c.id },
    { header: "SEQ", value: (c) => String(c.seq) },
    { header: "LABEL", value: (c) => c.label ?? "", max: 32 },
    { header: "STATUS", value: (c) => c.state.status },
    { header: "ITER", value: (c) => String(c.state.iterations) },
    { header: "FILES", value: (c) => (c.state.workspace ? String(c.state.workspace.files) : "") },
    { header: "CREATED", value: (c) => shortTime(c.created_at) },
  ]);
}

/** `  files 12 (3400 bytes)` for a checkpoint that holds the workspace (and what it left out), else nothing. */
function filesNote(cp: Checkpoint): string {
  const ws = cp.state.workspace;
  if (!ws) return "";
  const leftOut = ws.left_out ? `, ${ws.left_out.count} left out: ${ws.left_out.paths.slice(0, 3).join(", ")}${ws.left_out.count > 3 ? ", …" : ""}` : "";
  return `  files ${ws.files} (${ws.bytes} bytes${leftOut})`;
}

/**
 * A checkpoint id, or `latest` (the newest), or a label: what people type.
 * @throws Error when the session has no checkpoint by that label
 */
export async function resolveCheckpoint(client: CliClient, ref: string, which: string): Promise<string> {
  // An id needs no lookup; a label or `latest` is found in the list.
  if (/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(which)) return which;
  const all = await client.sessions.listCheckpoints(ref);
  const found = which === LATEST_CHECKPOINT ? all.at(-1) : (all.find((c) => c.id === which) ?? all.findLast((c) => c.label === which));
  if (!found) throw new Error(`session ${ref} has no checkpoint ${JSON.stringify(which)}; see \`sessiond checkpoint list ${ref}\``);
  return found.id;
}

/** A checkpoint as the person named it, with its id when they named it by label or `latest`. */
function named(which: string, id: string): string {
  return which === id ? id : `${which} (${id})`;
}

/** Registers `checkpoint create|list|show|restore`, `restore` and `fork`. */
export function registerCheckpointCommands(program: Command): void {
  const checkpoint = program.command("checkpoint").alias("cp").description("create, list, show and restore checkpoints");

  clientOptions(checkpoint.command("create").argument("<session>", "id, name or agent_id/name"))
    .description("record a checkpoint of the session now")
    .option("--label <label>", "a label to find it by")
    .option("--data <json>", "data to keep with it; becomes the session's `checkpoint` (a JSON object)")
    .option("--with-files", "also snapshot the session's workspace files (restore puts them back, fork copies them)")
    .action(
      action(async (ref: string, o: Opts) => {
        const input = {
          ...(o.label !== undefined ? { label: String(o.label) } : {}),
          ...(o.data !== undefined ? { data: parseObject(String(o.data), "--data") } : {}),
          ...(o.withFiles ? { withFiles: true } : {}),
        };
        const cp = await withClient(o, (c) => c.sessions.createCheckpoint(ref, input));
        if (o.json) printJson(cp);
        else print(`${cp.id}  seq ${cp.seq}${cp.label ? `  ${visible(cp.label)}` : ""}${filesNote(cp)}\n`);
      }),
    );

  clientOptions(checkpoint.command("list").alias("ls").argument("<session>", "id, name or agent_id/name"))
    .description("the session's checkpoints, oldest first")
    .action(
      action(async (ref: string, o: Opts) => {
        const all = await withClient(o, (c) => c.sessions.listCheckpoints(ref));
        if (o.json) printJson(all);
        else print(checkpointTable(all));
      }),
    );

  clientOptions(checkpoint.command("show").argument("<session>", "id, name or agent_id/name").argument("<checkpoint>", "id, label or `latest`"))
    .description("one checkpoint with its data and state")
    .action(
      action(async (ref: string, which: string, o: Opts) => {
        const cp = await withClient(o, async (c) => c.sessions.getCheckpoint(ref, await resolveCheckpoint(c, ref, which)));
        if (o.json) printJson(cp);
        else print(keyValues(Object.entries(cp)));
      }),
    );

  // `sessiond restore` too, beside `fork` and `undo`: the commands that go back in a session's history.
  for (const command of [checkpoint.command("restore"), program.command("restore")]) {
    clientOptions(command.argument("<session>", "id, name or agent_id/name").argument("[checkpoint]", "id, label or `latest`", LATEST_CHECKPOINT))
      .description("rewind the session's context and iterations to a checkpoint (history is kept), and its workspace files when the checkpoint holds them")
      .action(
        action(async (ref: string, which: string, o: Opts) => {
          const { session, id } = await withClient(o, async (c) => {
            const id = await resolveCheckpoint(c, ref, which);
            return { session: await c.sessions.restore(ref, id), id };
          });
          if (o.json) printJson(session);
          else print(`${session.name} restored to ${named(which, id)}: iterations ${session.iterations}, context ${JSON.stringify(session.context)}\n`);
        }),
      );
  }

  clientOptions(program.command("fork").argument("<session>", "id, name or agent_id/name").argument("[checkpoint]", "id, label or `latest`", LATEST_CHECKPOINT))
    .description("a new active session from a checkpoint (its parent names the source), with its own copy of the checkpoint's workspace files if it holds them")
    .option("--name <name>", "the new session's name")
    .action(
      action(async (ref: string, which: string, o: Opts) => {
        const { session, id } = await withClient(o, async (c) => {
          const id = await resolveCheckpoint(c, ref, which);
          return { session: await c.sessions.fork(ref, id, o.name === undefined ? {} : { name: String(o.name) }), id };
        });
        if (o.json) printJson(session);
        else print(`${session.id}  ${session.name}  forked from ${ref} at ${named(which, id)}\n`);
      }),
    );
}
