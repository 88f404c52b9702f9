import type { Command } from "commander";
import type { ExecuteResult, Session } from "../../sdk/client/index.js";
import { type Opts, action, clientOptions, jsonOrText, parseCount, parseObject } from "../args.js";
import { withClient } from "../client.js";
import { INTERPRETER_KINDS } from "../../core/modes.js";
import { EXIT, UsageError } from "../fail.js";
import { paint, print, printJson, statusStyle, visible } from "../output.js";

/** `build-42 paused`, or with the status where the verb does not say it: `build-42 resumed: active`. */
function printSession(session: Session, json: boolean | undefined, verb: string): void {
  if (json) printJson(session);
  else if (verb === session.status) print(`${visible(session.name)} ${paint(statusStyle(session.status), verb)}\n`);
  else print(`${visible(session.name)} ${verb}: ${paint(statusStyle(session.status), session.status)}\n`);
}

/** Registers pause, resume, complete, fail, crash, recover, iterate, stop, interrupt, exec, undo and hibernate. */
export function registerLifecycleCommands(program: Command): void {
  const ifVersion = (o: Record<string, unknown>) => (o.ifVersion === undefined ? {} : { ifMatch: parseCount(String(o.ifVersion), "--if-version") });

  clientOptions(program.command("pause").argument("<session>", "id, name or agent_id/name"))
    .description("active → paused")
    .option("--reason <text>", "why (recorded on the pause event)")
    .option("--if-version <n>", "only if the session is at this version")
    .action(
      action(async (ref: string, o: Opts) => {
        printSession(await withClient(o, (c) => c.sessions.pause(ref, o.reason as string | undefined, ifVersion(o))), o.json, "paused");
      }),
    );

  clientOptions(program.command("resume").argument("<session>", "id, name or agent_id/name"))
    .description("paused → active (a crashed session is recovered)")
    .option("--if-version <n>", "only if the session is at this version")
    .action(
      action(async (ref: string, o: Opts) => {
        printSession(await withClient(o, (c) => c.sessions.resume(ref, ifVersion(o))), o.json, "resumed");
      }),
    );

  clientOptions(program.command("complete").argument("<session>", "id, name or agent_id/name").argument("[result]", "the result: JSON, or text"))
    .description("active|paused → completed, with an optional result")
    .option("--if-version <n>", "only if the session is at this version")
    .action(
      action(async (ref: string, result: string | undefined, o: Opts) => {
        const value = result === undefined ? undefined : jsonOrText(result);
        printSession(await withClient(o, (c) => c.sessions.complete(ref, value, ifVersion(o))), o.json, "completed");
      }),
    );

  clientOptions(program.command("fail").argument("<session>", "id, name or agent_id/name").argument("<error>", "what went wrong"))
    .description("active|paused|crashed → failed, recording the error")
    .option("--if-version <n>", "only if the session is at this version")
    .action(
      action(async (ref: string, error: string, o: Opts) => {
        printSession(await withClient(o, (c) => c.sessions.fail(ref, error, ifVersion(o))), o.json, "failed");
      }),
    );

  clientOptions(program.command("crash").argument("<session>", "id, name or agent_id/name"))
    .description("active|paused → crashed, to be recovered")
    .option("--reason <text>", "why")
    .action(
      action(async (ref: string, o: Opts) => {
        printSession(await withClient(o, (c) => c.sessions.crash(ref, o.reason as string | undefined)), o.json, "crashed");
      }),
    );

  clientOptions(program.command("recover").argument("<session>", "id, name or agent_id/name"))
    .description("crashed → active; prints the latest checkpoint to resume from")
    .option("--replay", "python/typescript: run the session's successful cells again once it is back, so its variables return (repeats their side effects)")
    .action(
      action(async (ref: string, o: Opts) => {
        const recovery = await withClient(o, (c) => c.sessions.recover(ref, o.replay === true ? { replay: true } : {}));
        if (o.json) return printJson(recovery);
        const { session, replay } = recovery;
        // The checkpoint is the latest one, to resume from: recover rolls nothing back to it.
        const latest = recovery.checkpoint ? `; latest checkpoint, to resume from: ${recovery.checkpoint.id}${recovery.checkpoint.label ? ` (${recovery.checkpoint.label})` : ""}` : "; no checkpoint";
        print(`${session.name} recovered: ${session.status}${latest}\n`);
        if (replay) {
          const stopped = replay.stopped_at === null ? "" : `; stopped at cell ${replay.stopped_at}, which did not succeed again`;
          print(`${paint(replay.stopped_at === null ? "dim" : "yellow", `[${replay.replayed.length} of ${replay.cells} cells replayed${stopped}]`, process.stderr)}\n`, process.stderr);
        } else if (INTERPRETER_KINDS.has(session.kind)) {
          const hint = `a fresh interpreter: earlier cells' variables are gone (\`sessiond restore ${ref}\` rebuilds it at its newest checkpoint; \`recover --replay\` runs every cell again)`;
          print(`${paint("yellow", `[${hint}]`, process.stderr)}\n`, process.stderr);
        }
      }),
    );

  clientOptions(program.command("iterate").argument("<session>", "id, name or agent_id/name"))
    .description("count an iteration (reaching max_iterations moves the session to timeout)")
    .option("--data <json>", "recorded on the iteration event (a JSON object)")
    .action(
      action(async (ref: string, o: Opts) => {
        const data = o.data === undefined ? {} : parseObject(String(o.data), "--data");
        const session = await withClient(o, (c) => c.sessions.incrementIteration(ref, data));
        if (o.json) printJson(session);
        else print(`${session.name}: iteration ${session.iterations}${session.max_iterations === null ? "" : `/${session.max_iterations}`} (${session.status})\n`);
      }),
    );

  clientOptions(program.command("stop").argument("<session>", "id, name or agent_id/name"))
    .description("stop a live session: its whole process group is killed and the session completed")
    .action(
      action(async (ref: string, o: Opts) => {
        printSession(await withClient(o, (c) => c.sessions.stop(ref)), o.json, "stopped");
      }),
    );

  clientOptions(program.command("interrupt").argument("<session>", "id, name or agent_id/name"))
    .description("interrupt the running exec of a live session (Ctrl-C)")
    .action(
      action(async (ref: string, o: Opts) => {
        const result = await withClient(o, (c) => c.sessions.interrupt(ref));
        if (o.json) printJson(result);
        else print(result.interrupted ? `interrupted exec ${result.exec_id}\n` : "nothing was running\n");
      }),
    );

  clientOptions(program.command("exec").argument("<session>", "id, name or agent_id/name").argument("<input...>", "the command or code (words are joined by spaces)"))
    .description("run input in a live session; prints stdout and stderr; exits with the command's own exit code (124 when the exec timed out, 130 when it was interrupted, 1 when a cell raised); Ctrl-C interrupts it")
    .option("--timeout <ms>", "this exec's timeout (default: the server's execTimeoutMs)")
    .option("--no-replay", "python/typescript: never run this cell again when the interpreter is rebuilt (restore, undo, fork, wake, recovery)")
    .option("--stdin", "shell sessions: pass what is piped to this command on as the exec's stdin, as typed at its terminal (text lines), then end of input (default: the command reads /dev/null)")
    .option("--background", "shell sessions: start it as a background job of the shell, its output to a log in the workspace; prints its pid and log file at once; stop ends it with the session")
    .action(
      action(async (ref: string, words: string[], o: Opts) => {
        const input = words.join(" ");
        if (o.background && o.stdin) throw new UsageError("--background and --stdin exclude each other: a background job reads /dev/null");
        if (o.background) return startInBackground(ref, input, o);
        const options = { ...(o.timeout === undefined ? {} : { timeout_ms: parseCount(String(o.timeout), "--timeout", 1) }), ...(o.replay === false ? { replay: false } : {}) };
        const stopForwarding = forwardCtrlC(ref, o);
        // A person at a terminal sees the output as it comes; a script gets it whole at the end.
        const live = !o.json && !o.stdin && process.stdout.isTTY === true;
        const result = await withClient(o, async (c) => {
          if (live) {
            const { execWritingLive } = await import("../exec-live.js");
            return execWritingLive(c, ref, input, options);
          }
          if (!o.stdin) return c.sessions.exec(ref, input, options);
          const { execWithStdin } = await import("../exec-stdin.js");
          return execWithStdin(c.execs, ref, input, options);
        }).finally(stopForwarding);
        if (o.json) printJson(result);
        else printExec(result, ref, { outputWritten: live });
        process.exitCode = execExitCode(result);
      }),
    );

  clientOptions(program.command("undo").argument("<session>", "id, name or agent_id/name"))
    .description("step a python or typescript session back one exec: its interpreter rebuilt without the last cell (and its files, when started with undo_files)")
    .action(
      action(async (ref: string, o: Opts) => {
        const undone = await withClient(o, (c) => c.sessions.undo(ref));
        if (o.json) return printJson(undone);
        const files = undone.files === "restored" ? "; files put back" : undone.files === "not_kept" ? "; files left (no snapshot of then is kept)" : "";
        print(`undid exec ${undone.seq}${files}\n`);
        if (undone.rebuild) printRebuild(undone.rebuild);
      }),
    );

  clientOptions(program.command("hibernate").argument("<session>", "id, name or agent_id/name"))
    .description("stop a live session's process now, keeping its state; its next exec wakes it")
    .action(
      action(async (ref: string, o: Opts) => {
        printSession(await withClient(o, (c) => c.sessions.hibernate(ref)), o.json, "hibernated");
      }),
    );
}

/**
 * While an exec waits for its answer, Ctrl-C interrupts the session's running exec, as Ctrl-C at
 * its terminal would (as `ssh` and `docker exec` pass it on), and the exec's answer is printed as
 * usual; a second Ctrl-C stops waiting for it at once. The interrupt goes on in the session
 * without the CLI: a command that ignores Ctrl-C is killed after config interruptGraceMs.
 * @returns the undo
 */
function forwardCtrlC(ref: string, o: Opts): () => void {
  let asked = false;
  const onSigint = (): void => {
    if (asked) process.exit(EXIT.interrupted);
    asked = true;
    print(`${paint("dim", "[interrupting the session's running exec; Ctrl-C again stops waiting for it]", process.stderr)}\n`, process.stderr);
    withClient(o, (c) => c.sessions.interrupt(ref)).catch((err: unknown) => {
      print(`${paint("yellow", `[could not interrupt: ${err instanceof Error ? err.message : String(err)}]`, process.stderr)}\n`, process.stderr);
    });
  };
  process.on("SIGINT", onSigint);
  return () => {
    process.off("SIGINT", onSigint);
  };
}

/** Says on stderr what a rebuild of the interpreter could not bring back (cells that failed again, cells skipped). */
export function printRebuild(rebuild: { replayed: number; failed: readonly { seq: number; error: string }[]; skipped: readonly { seq: number; reason: string }[] }): void {
  const notes: string[] = [`${rebuild.replayed} cell${rebuild.replayed === 1 ? "" : "s"} replayed`];
  for (const cell of rebuild.failed) notes.push(`cell ${cell.seq} failed again: ${visible(cell.error.split("\n").at(-1) ?? "")}`);
  for (const cell of rebuild.skipped) notes.push(`cell ${cell.seq} skipped (${cell.reason === "replay_false" ? "sent with replay: false" : "it had failed"})`);
  print(`${paint(rebuild.failed.length ? "yellow" : "dim", `[${notes.join("; ")}]`, process.stderr)}\n`, process.stderr);
}

/** Whether an exec result counts as success for the exit code: status ok and exit code 0 (or none, for REPL kinds). */
export function execSucceeded(result: ExecuteResult): boolean {
  return result.status === "ok" && (result.exit_code === 0 || result.exit_code === null);
}

/**
 * The CLI's exit code for an exec, as `ssh` and `docker exec` pass theirs on: the command's own
 * when it ended by itself with one (a shell's `exit 3` is 3); as `timeout(1)` and a shell report
 * theirs, 124 when the exec timed out and 130 when it was interrupted; 1 for an error in a python
 * or typescript cell; 0 when it succeeded.
 */
export function execExitCode(result: ExecuteResult): number {
  if (execSucceeded(result)) return EXIT.ok;
  if (result.status === "timeout") return EXIT.timedOut;
  if (result.status === "interrupted") return EXIT.interrupted;
  const code = result.exit_code;
  return result.status === "error" && code !== null && Number.isInteger(code) && code > 0 && code < 256 ? code : EXIT.failure;
}

/** `exec --background`: the job's pid and log, at once. */
async function startInBackground(ref: string, input: string, o: Opts): Promise<void> {
  const result = await withClient(o, (c) => c.sessions.exec(ref, input, { background: true }));
  if (o.json) return printJson(result);
  print(`started in the background: pid ${String(result.pid)}, output to ${String(result.log_path)}\n`);
}

/**
 * Prints an exec's output the way a terminal would have shown it (as is: it is the output of a
 * command this caller ran, as `ssh` and `docker exec` pass theirs on), and a note when it did not end
 * well — with the command that brings the session back when the exec ended its process. With
 * `outputWritten` (exec-live.ts wrote it as it came), the notes only.
 */
export function printExec(result: ExecuteResult, ref?: string, options: { outputWritten?: boolean } = {}): void {
  if (!options.outputWritten) {
    if (result.stdout) process.stdout.write(result.stdout.endsWith("\n") ? result.stdout : `${result.stdout}\n`);
    if (result.stderr) process.stderr.write(result.stderr.endsWith("\n") ? result.stderr : `${result.stderr}\n`);
  }
  const notes: string[] = [];
  if (result.status !== "ok") notes.push(result.status);
  if (result.exit_code !== null && result.exit_code !== 0) notes.push(`exit ${result.exit_code}`);
  if (result.truncated) notes.push("output truncated");
  if (notes.length) print(`${paint("yellow", `[${notes.join(", ")}]`, process.stderr)}\n`, process.stderr);
  if (result.status === "timeout") {
    const after = `${(result.duration_ms / 1000).toFixed(1)} s`;
    print(`${paint("dim", `[stopped at its timeout, after ${after}: --timeout <ms> gives an exec longer, up to the server's maxExecTimeoutMs (1 h by default); a shell runs a long job apart with --background]`, process.stderr)}\n`, process.stderr);
  }
  if (result.woke) {
    print(`${paint("dim", "[woke from hibernation]", process.stderr)}\n`, process.stderr);
    printRebuild(result.woke);
  }
  if (result.process_exited) {
    print(`${paint("yellow", `[the session's process exited; run \`sessiond recover ${ref ?? "<session>"}\` for a fresh one]`, process.stderr)}\n`, process.stderr);
  }
}
