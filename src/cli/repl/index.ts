import { appendFileSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { type Interface, createInterface } from "node:readline";
import type { Session } from "../../sdk/client/index.js";
import { type CliClient, withClient } from "../client.js";
import type { ClientFlags } from "../home.js";
import { humanText, paint, visible } from "../output.js";
import { type ReplState, completeColon, helpText, runSessionCommand, undoLast } from "./meta-commands.js";
import { runCell } from "./run-cell.js";

/** How `sessiond repl` was started. */
export interface ReplOptions {
  /** A live session's id or name; without it a new session of `kind` starts. */
  ref?: string;
  kind: string;
  flags: ClientFlags;
  input?: NodeJS.ReadableStream;
  output?: NodeJS.WritableStream;
}

/**
 * `sessiond repl`: a prompt on a live session. Each line is an exec (its output printed as it
 * streams, with its status when not ok); lines starting with `:` are REPL commands (`:session help`).
 * Ctrl-C interrupts the running cell (or clears the line), Ctrl-D leaves with the session still
 * running. History is kept across runs in the data dir (`replHistoryLines` lines).
 */
export async function runRepl(options: ReplOptions): Promise<void> {
  const [{ clientConfig }, { dataPaths }] = await Promise.all([import("../autostart.js"), import("../../core/config.js")]);
  const config = clientConfig(options.flags);
  const historyPath = dataPaths(config).replHistory;
  await withClient(options.flags, async (client) => {
    const session = options.ref ? await client.sessions.getSession(options.ref) : await client.sessions.createSession({ kind: options.kind as Session["kind"] });
    const state: ReplState = { session };
    await loop(client, state, options, historyPath, config.replHistoryLines);
  });
}

function prompt(state: ReplState): string {
  return `${paint("cyan", visible(state.session.name))}${paint("dim", ` (${state.session.kind})`)}> `;
}

function loop(client: CliClient, state: ReplState, options: ReplOptions, historyPath: string, historySize: number): Promise<void> {
  const input = options.input ?? process.stdin;
  const output = options.output ?? process.stdout;
  const rl: Interface = createInterface({
    input,
    output,
    prompt: prompt(state),
    completer: completeColon,
    history: readHistory(historyPath, historySize),
    historySize,
    removeHistoryDuplicates: true,
    terminal: (output as NodeJS.WriteStream).isTTY === true,
  });
  let running = false;
  let closed = false;
  // What the repl says itself (not a cell's output, which is the session's terminal) goes out as human output.
  const write = (text: string) => output.write(humanText(text, output as NodeJS.WriteStream));
  write(`${state.session.name} (${state.session.kind}, ${state.session.status}) — :session help for commands, Ctrl-D to leave\n`);

  rl.on("SIGINT", () => {
    if (running) {
      // The cell's answer (status interrupted) ends the wait below.
      client.sessions.interrupt(state.session.id).catch((err: unknown) => write(`${paint("red", `interrupt failed: ${(err as Error).message}`)}\n`));
      return;
    }
    rl.write(null, { ctrl: true, name: "u" });
    write("\n(Ctrl-D to leave)\n");
    rl.prompt();
  });

  return new Promise<void>((resolve) => {
    let draining: Promise<void> = Promise.resolve();
    rl.on("close", () => {
      closed = true;
      // Piped input ends right after its last line: let the queued cells finish first.
      void draining.then(() => {
        write("\n");
        resolve();
      });
    });
    // Lines typed while a cell runs wait their turn; input keeps flowing so Ctrl-C still arrives.
    const queue: string[] = [];
    const drain = async () => {
      running = true;
      while (queue.length) {
        const line = queue.shift()!;
        if (line.trim()) saveHistoryLine(historyPath, line, historySize);
        try {
          await handle(client, state, line.trim(), line, write, () => rl.close());
        } catch (err) {
          write(`${paint("red", `error: ${(err as Error).message}`)}\n`);
        }
      }
      running = false;
      if (closed) return;
      rl.setPrompt(prompt(state));
      rl.prompt();
    };
    rl.on("line", (line) => {
      queue.push(line);
      if (!running) draining = drain();
    });
    rl.prompt();
  });
}

async function handle(client: CliClient, state: ReplState, trimmed: string, line: string, write: (t: string) => void, quit: () => void): Promise<void> {
  if (!trimmed) return;
  if (trimmed === ":quit" || trimmed === ":exit") return quit();
  if (trimmed === ":help") return void write(helpText());
  if (trimmed === ":undo") return void write(await undoLast(client, state));
  if (trimmed.startsWith(":session")) {
    write(await runSessionCommand(client, state, trimmed.split(/\s+/).slice(1)));
    return;
  }
  if (trimmed.startsWith(":")) throw new Error(`unknown command ${trimmed.split(/\s/)[0]}; try :help`);
  await runCell(client, state.session.id, line);
}

function readHistory(path: string, size: number): string[] {
  try {
    // The file is oldest first; readline wants newest first.
    return readFileSync(path, "utf8").split("\n").filter(Boolean).slice(-size).reverse();
  } catch {
    return [];
  }
}

/** Appends a line to the history file, rewriting it when it has grown to twice its size. */
function saveHistoryLine(path: string, line: string, size: number): void {
  if (size === 0) return;
  try {
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    appendFileSync(path, `${line.replace(/\n/g, " ")}\n`, { mode: 0o600 });
    const lines = readFileSync(path, "utf8").split("\n").filter(Boolean);
    if (lines.length > 2 * size) writeFileSync(path, `${lines.slice(-size).join("\n")}\n`, { mode: 0o600 });
  } catch {
    // History is a convenience: a read-only data dir must not break the REPL.
  }
}
