import { LATEST_CHECKPOINT } from "../../core/events.js";
import type { Session } from "../../sdk/client/index.js";
import type { CliClient } from "../client.js";
import { checkpointTable, resolveCheckpoint } from "../commands/checkpoints.js";
import { timelineLine } from "../commands/events.js";
import { sessionDetails, sessionTable } from "../commands/sessions.js";

/** The REPL's `:session` sub-commands, with their usage (for `:session help` and tab completion). */
export const SESSION_COMMANDS = {
  list: "list sessions (newest first; * marks this one)",
  info: "this session's fields",
  trace: "this session's timeline [n: the last n events, default 20]",
  checkpoints: "this session's checkpoints",
  checkpoint: "record a checkpoint [label]",
  restore: "rewind context and iterations to a checkpoint <id|label|latest>",
  fork: "a new session from a checkpoint [id|label|latest] [name], and switch to it",
  new: "start a live session [kind] [name] (kind: shell, python, typescript, llm) and switch to it",
  switch: "switch to another live session <id|name>",
  help: "this list",
} as const;

/** Every `:` command the REPL knows, for tab completion. */
export const COLON_COMMANDS = [...Object.keys(SESSION_COMMANDS).map((c) => `:session ${c}`), ":undo", ":help", ":quit"];

/** What a meta command may change: the REPL's current session. */
export interface ReplState {
  session: Session;
}

/** Completes a line that starts with `:` (node:readline's completer contract: [matches, what was matched]). */
export function completeColon(line: string): [string[], string] {
  if (!line.startsWith(":")) return [[], line];
  const hits = COLON_COMMANDS.filter((c) => c.startsWith(line));
  return [hits.length ? hits : COLON_COMMANDS, line];
}

/** The help text of the `:` commands. */
export function helpText(): string {
  const width = Math.max(...Object.keys(SESSION_COMMANDS).map((k) => k.length));
  const lines = Object.entries(SESSION_COMMANDS).map(([k, v]) => `  :session ${k.padEnd(width)}  ${v}`);
  return [
    "anything else is sent to the session as input; Ctrl-C interrupts the running cell, Ctrl-D leaves",
    ...lines,
    "  :undo" + " ".repeat(width + 4) + "  take back the last cell (python, typescript): the interpreter rebuilt without it",
    "  :help" + " ".repeat(width + 4) + "  this list",
    "  :quit" + " ".repeat(width + 4) + "  leave (the session keeps running)",
    "",
  ].join("\n");
}

/**
 * `:undo`: steps the session back one cell (POST /sessions/{id}/undo) and says what it took back
 * and what the rebuild could not bring back.
 */
export async function undoLast(client: CliClient, state: ReplState): Promise<string> {
  const undone = await client.sessions.undo(state.session.id);
  const lines = [`undid cell ${undone.seq}: ${firstLine(undone.input)}${undone.files === "restored" ? " (files put back)" : ""}`];
  for (const cell of undone.rebuild?.failed ?? []) lines.push(`  cell ${cell.seq} failed when run again: ${cell.error.split("\n").at(-1)}`);
  for (const cell of undone.rebuild?.skipped ?? []) lines.push(`  cell ${cell.seq} not run again (${cell.reason === "replay_false" ? "sent with replay: false" : "it had failed"})`);
  return `${lines.join("\n")}\n`;
}

function firstLine(text: string): string {
  const line = text.split("\n")[0] ?? "";
  return line.length > 60 ? `${line.slice(0, 59)}…` : line;
}

/**
 * Runs one `:session …` command (seed 001's `:session list`, `:session checkpoints`,
 * `:session trace`, and the others in SESSION_COMMANDS) and returns what to print.
 * @throws Error with a usage line when the command or its arguments are wrong
 */
export async function runSessionCommand(client: CliClient, state: ReplState, words: string[]): Promise<string> {
  const [sub = "help", ...args] = words;
  const s = client.sessions;
  const id = state.session.id;
  switch (sub) {
    case "list": {
      const page = await s.listSessions({}, { limit: 50 });
      // The gap after the ID column is two spaces: the mark takes one, the columns stay aligned.
      return sessionTable(page.items).replace(new RegExp(`^${id}  `, "m"), `${id}* `);
    }
    case "info":
      state.session = await s.getSession(id);
      return sessionDetails(state.session);
    case "trace": {
      const n = args[0] === undefined ? 20 : Number(args[0]);
      if (!Number.isInteger(n) || n < 1) throw new Error("usage: :session trace [n]");
      const page = await s.listEvents(id, { order: "desc", limit: n });
      return `${page.items.reverse().map(timelineLine).join("\n")}\n`;
    }
    case "checkpoints":
      return checkpointTable(await s.listCheckpoints(id));
    case "checkpoint": {
      const cp = await s.createCheckpoint(id, args[0] ? { label: args[0] } : {});
      return `checkpoint ${cp.id} at seq ${cp.seq}${cp.label ? ` (${cp.label})` : ""}\n`;
    }
    case "restore": {
      if (!args[0]) throw new Error("usage: :session restore <id|label|latest>");
      state.session = await s.restore(id, await resolveCheckpoint(client, id, args[0]));
      return `restored to ${args[0]}: iterations ${state.session.iterations}\n`;
    }
    case "fork": {
      const cp = await resolveCheckpoint(client, id, args[0] ?? LATEST_CHECKPOINT);
      state.session = await s.fork(id, cp, args[1] ? { name: args[1] } : {});
      return `forked: now in ${state.session.name} (${state.session.kind}, ${state.session.status})\n`;
    }
    case "new": {
      const [kind = "shell", name] = args;
      state.session = await s.createSession({ kind: kind as Session["kind"], ...(name ? { name } : {}) });
      return `started ${state.session.name} (${state.session.kind})\n`;
    }
    case "switch": {
      if (!args[0]) throw new Error("usage: :session switch <id|name>");
      state.session = await s.getSession(args[0]);
      return `now in ${state.session.name} (${state.session.kind}, ${state.session.status})\n`;
    }
    case "help":
      return helpText();
    default:
      throw new Error(`unknown :session command ${JSON.stringify(sub)}; try :session help`);
  }
}
