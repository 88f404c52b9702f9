import { spawn as spawnChild } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { spawn as spawnPty } from "node-pty";
import { afterAll, describe, expect, it } from "vitest";
import { cliHome, startCli, until, useCompiledCli } from "./run-cli.js";

// Each command is a real process; on a busy 2-core machine a few dozen of them take a while.
const SLOW = { timeout: 180_000 };
const built = useCompiledCli();

/** Runs a command on a real terminal (node-pty, stdout and stderr both on it) and returns what it showed. */
function onTerminal(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number; screen: string }> {
  return new Promise((resolve) => {
    const pty = spawnPty(process.execPath, [built.main, ...args], { name: "xterm", cols: 200, rows: 50, env: env as Record<string, string> });
    let screen = "";
    pty.onData((d) => (screen += d.replace(/\u001b\[[0-9;?]*[A-Za-z]/g, "")));
    pty.onExit((e) => resolve({ code: e.exitCode, screen }));
  });
}

describe("sessiond's usage errors", SLOW, () => {
  const h = cliHome();
  afterAll(() => h.cleanup());

  it("refuses a key=value flag without = in one line naming the flag, exit 2 (no stack trace)", async () => {
    for (const argv of [
      ["start", "--label", "noequals"],
      ["start", "--kind", "shell", "--env", "noequals"],
      ["list", "--label", "noequals"],
    ]) {
      const flag = argv.at(-2)!;
      const r = await h.run(argv);
      expect(r.code, argv.join(" ")).toBe(2);
      expect(r.stderr, argv.join(" ")).toBe(
        `sessiond: option '${flag} <key=value>' argument 'noequals' is invalid. expected key=value (run \`sessiond help ${argv[0]}\` for its flags)\n`,
      );
      expect(r.stdout).toBe("");
    }
    const json = await h.run(["start", "--label", "noequals", "--json"]);
    expect(json.code).toBe(2);
    expect(JSON.parse(json.stderr)).toMatchObject({ error: { code: "usage", message: expect.stringContaining("expected key=value") } });
  });

  it("gives commander's other errors the same one line: an unknown flag, an unknown command", async () => {
    const flag = await h.run(["list", "--no-such-flag"]);
    expect(flag).toMatchObject({ code: 2, stderr: "sessiond: unknown option '--no-such-flag' (run `sessiond help list` for its flags)\n" });
    const command = await h.run(["lst"]);
    expect(command.code).toBe(2);
    expect(command.stderr.trimEnd().split("\n")).toHaveLength(1);
    expect(command.stderr).toMatch(/^sessiond: unknown command 'lst'; did you mean .*list/);
    expect(command.stderr).toMatch(/ \(run `sessiond help` for the commands\)\n$/);
  });

  it("points an unknown flag of a subcommand at that subcommand's own --help", async () => {
    const r = await h.run(["checkpoint", "create", "some-session", "--with-files=yes"]);
    expect(r).toMatchObject({ code: 2, stderr: "sessiond: unknown option '--with-files=yes' (run `sessiond checkpoint create --help` for its flags)\n" });
  });

  it("says how to pass a flag to the command of an exec: after `--`", async () => {
    const r = await h.run(["exec", "some-session", "ls", "-la"]);
    expect(r).toMatchObject({ code: 2, stderr: expect.stringContaining("put `--` before the command: `sessiond exec some-session -- ls -la`") });
  });

  it("lists the valid values of --status and --kind when one is not", async () => {
    const status = await h.run(["list", "--status", "active,bogus"]);
    expect(status).toMatchObject({ code: 2, stderr: "sessiond: invalid status: expected one of active, paused, completed, failed, timeout, crashed\n" });
    // Any mode name is a kind (a registered driver's mode may be one, docs/drivers.md); what is not one is refused.
    const kind = await h.run(["list", "--kind", "Bogus!"]);
    expect(kind.code).toBe(2);
    expect(kind.stderr).toMatch(/^sessiond: invalid kind: expected agent, shell, python, typescript, llm, or a registered mode's name/);
    expect((await h.run(["stats", "--status", "bogus"])).stderr).toContain("expected one of active, paused");
  });

  it("asks for at least 1 where the server does (--cols, --rows, --limit), naming the flag", async () => {
    for (const argv of [["start", "--kind", "shell", "--cols", "0"], ["start", "--kind", "shell", "--rows", "0"], ["list", "--limit", "0"], ["events", "some-session", "--limit", "0"]]) {
      const flag = argv[argv.length - 2]!;
      expect(await h.run(argv), argv.join(" ")).toMatchObject({ code: 2, stderr: `sessiond: ${flag} must be an integer of at least 1, got "0"\n` });
    }
  });

  it("takes --json before the command's name as after it", async () => {
    const started = await h.run(["--json", "start", "--name", "json-first"]);
    expect(started.code).toBe(0);
    expect(JSON.parse(started.stdout)).toMatchObject({ name: "json-first", status: "active" });
    expect(await h.run(["--json", "show", "no-such-session"])).toMatchObject({
      code: 1,
      stderr: '{"error":{"code":"not_found","message":"session no-such-session not found"}}\n',
    });
  });

  it("says what to do when a session name is taken", async () => {
    await h.json(["start", "--name", "taken-1"]);
    expect(await h.run(["start", "--name", "taken-1"])).toMatchObject({
      code: 1,
      stderr: "sessiond: a session named taken-1 without an agent_id already exists (choose another --name; `sessiond show taken-1` shows the one there, and `sessiond delete taken-1` frees the name once it has ended)\n",
    });
  });

  it("says a relative --cwd must be an absolute path, not which pattern it missed", async () => {
    expect(await h.run(["start", "--kind", "shell", "--cwd", "relative/path"])).toMatchObject({ code: 2, stderr: "sessiond: invalid cwd: expected an absolute path (starting with /)\n" });
  });
});

describe("sessiond and sessions that cannot take the command", SLOW, () => {
  const h = cliHome();
  afterAll(() => h.cleanup());

  it("names the recover command when an exec ends the shell, and again on the next exec; running it brings the shell back", async () => {
    await h.json(["start", "--kind", "shell", "--name", "sh-exit"]);
    const ended = await h.run(["exec", "sh-exit", "exit 3"]);
    expect(ended.code).toBe(3); // the command's own exit code, as for any exec that ends in error
    expect(ended.stderr).toContain("[error, exit 3]");
    expect(ended.stderr).toContain("[the session's process exited; run `sessiond recover sh-exit` for a fresh one]");
    const next = await h.run(["exec", "sh-exit", "echo hi"]);
    expect(next.code).toBe(1);
    expect(next.stderr).toBe("sessiond: cannot exec: session sh-exit is crashed; recover it first (run `sessiond recover sh-exit` for a fresh process)\n");
    expect((await h.run(["recover", "sh-exit"])).code).toBe(0);
    expect(await h.run(["exec", "sh-exit", "echo hi"])).toMatchObject({ code: 0, stdout: "hi\n" });
  });

  it("interrupts the session's running exec on Ctrl-C and prints its answer; the next exec runs at once", async () => {
    await h.json(["start", "--kind", "shell", "--name", "sh-ctrl-c"]);
    const exec = spawnChild(process.execPath, [built.main, "exec", "sh-ctrl-c", "echo started; touch running; sleep 30; echo never"], { env: h.env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    exec.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    exec.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => exec.once("exit", (code) => resolve(code)));
    await until(() => existsSync(join(h.home, "workspaces", "sh-ctrl-c", "running")));
    exec.kill("SIGINT");
    expect(await exited).toBe(130);
    expect(stdout).toMatch(/^started\n/);
    expect(stdout).not.toContain("never");
    expect(stderr).toContain("[interrupting the session's running exec; Ctrl-C again stops waiting for it]");
    expect(stderr).toContain("[interrupted, exit 130]");
    expect(await h.run(["exec", "sh-ctrl-c", "echo next"])).toMatchObject({ code: 0, stdout: "next\n" });
  });

  it("adds no start-a-shell hint to a finished session's refusal, which says what to do itself", async () => {
    await h.json(["start", "--name", "done-1"]);
    await h.json(["checkpoint", "create", "done-1", "--label", "c1"]);
    await h.json(["complete", "done-1"]);
    const r = await h.run(["checkpoint", "restore", "done-1", "c1"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^sessiond: cannot restore a checkpoint: session done-1 is completed; fork from the checkpoint instead\n$/);
  });

  it("tells attach on an agent session that attach needs a shell session, in one line", async () => {
    await h.json(["start", "--name", "agent-1"]);
    const r = await h.run(["attach", "agent-1"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      "sessiond: attach needs a shell session: agent-1 is an agent session (it runs no process; start a shell with `sessiond start --kind shell`)\n",
    );
  });

  it("points at what lists the thing not found: the sessions, or the session's checkpoints", async () => {
    await h.json(["start", "--name", "with-cps"]);
    const session = await h.run(["show", "no-such-session"]);
    expect(session).toMatchObject({ code: 1, stderr: "sessiond: session no-such-session not found (run `sessiond list` to see the sessions)\n" });
    // An id (a label is looked up by the CLI, which names the session in its own message).
    const id = "01a2ffff-0000-7000-8000-000000000000";
    const checkpoint = await h.run(["checkpoint", "show", "with-cps", id]);
    expect(checkpoint).toMatchObject({ code: 1, stderr: `sessiond: checkpoint ${id} not found (run \`sessiond checkpoint list <session>\` to see its checkpoints)\n` });
  });

  it("does not crash when the reader of its output goes away early (`| head -0`)", async () => {
    await h.json(["start", "--name", "listed"]);
    for (const argv of [["server", "status"], ["list"]]) {
      const child = spawnChild(process.execPath, [built.main, ...argv], { env: h.env, stdio: ["ignore", "pipe", "pipe"] });
      // The read end is closed before the command has written anything: its writes fail with EPIPE.
      child.stdout.destroy();
      let stderr = "";
      child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
      const code = await new Promise<number | null>((resolve) => child.once("exit", resolve));
      expect(stderr, argv.join(" ")).toBe("");
      expect(code, argv.join(" ")).toBe(0);
    }
  });
});

describe("sessiond server status for a server in the foreground", SLOW, () => {
  const h = cliHome();
  afterAll(() => h.cleanup());

  it("names no log file when there is none", async () => {
    const serve = startCli(["serve"], h.env);
    try {
      // It logs that it listens once its record is written (what `server status` reads).
      await until(() => {
        if (serve.child.exitCode !== null) throw new Error(`sessiond serve exited ${serve.child.exitCode}:\n${serve.output()}`);
        return serve.output().includes("sessiond listening");
      });
      expect(existsSync(join(h.home, "server.log"))).toBe(false);
      const status = await h.json<{ running: boolean; log: string | null }>(["server", "status"]);
      expect(status).toMatchObject({ running: true, log: null });
      const text = await h.run(["server", "status"]);
      expect(text.stdout).toMatch(/^socket:/m);
      expect(text.stdout).not.toMatch(/^log:/m);
    } finally {
      await serve.stop();
    }
  });
});

describe("the server start a command does on its own", SLOW, () => {
  const homes = [cliHome(), cliHome(), cliHome()];
  afterAll(() => Promise.all(homes.map((h) => h.cleanup())));

  it("says 'starting sessiond…' on a terminal, and nothing with --json or when stderr is piped", async () => {
    const [terminal, json, piped] = homes as [ReturnType<typeof cliHome>, ReturnType<typeof cliHome>, ReturnType<typeof cliHome>];
    // Three data dirs, three servers started: at once, as nothing is shared.
    const [shown, quiet, plain] = await Promise.all([onTerminal(["list"], terminal.env), onTerminal(["list", "--json"], json.env), piped.run(["list"])]);
    expect(shown.code).toBe(0);
    expect(shown.screen).toMatch(/^starting sessiond…\r?\nno sessions/);
    expect(quiet.code).toBe(0);
    expect(quiet.screen).not.toContain("starting");
    expect(plain).toMatchObject({ code: 0, stderr: "", stdout: "no sessions\n" });
    // Each started its own server: the line was said when one was started, not skipped.
    for (const status of await Promise.all(homes.map((h) => h.json<{ running: boolean }>(["server", "status"])))) expect(status.running).toBe(true);
  });
});

describe("sessiond exec on a terminal", SLOW, () => {
  const h = cliHome();
  afterAll(() => h.cleanup());

  it("shows the output as it comes, each byte once, with the command's exit code", async () => {
    await h.json(["start", "--kind", "shell", "--name", "live-out"]);
    const pty = spawnPty(process.execPath, [built.main, "exec", "live-out", "echo first; sleep 3; echo second; printf tail; (exit 3)"], {
      name: "xterm",
      cols: 200,
      rows: 50,
      env: h.env as Record<string, string>,
    });
    let screen = "";
    pty.onData((d) => (screen += d.replace(/\u001b\[[0-9;?]*[A-Za-z]/g, "")));
    const exited = new Promise<number>((resolve) => pty.onExit((e) => resolve(e.exitCode)));
    await until(() => screen.includes("first"));
    // The command still sleeps: its first line came before the rest, not with the result.
    expect(screen).not.toContain("second");
    expect(await exited).toBe(3);
    expect(screen).toMatch(/^first\r\nsecond\r\ntail\r\n\[error, exit 3\]\r\n$/);
    // Piped, the output is the result's, whole at the end, as before.
    expect(await h.run(["exec", "live-out", "echo piped"])).toMatchObject({ code: 0, stdout: "piped\n" });
  });
});
