import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { type AddressInfo, createServer } from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cliHome, startCli, until, useCompiledCli } from "./run-cli.js";

// Each command is a real process; on a busy 2-core machine a few dozen of them take a while.
const SLOW = { timeout: 180_000 };
useCompiledCli();

interface S {
  id: string;
  name: string;
  status: string;
  iterations: number;
  context: Record<string, unknown>;
  labels: Record<string, string>;
  parent: string | null;
  task: string | null;
  kind: string;
}

describe("sessiond client commands against a server they start themselves", SLOW, () => {
  const h = cliHome();
  afterAll(() => h.cleanup());

  it("starts one server for two commands started together, and reports it", async () => {
    const [a, b] = await Promise.all([h.run(["list"]), h.run(["stats", "--json"])]);
    expect(a.stderr).toBe("");
    expect(a.code).toBe(0);
    expect(a.stdout).toBe("no sessions\n");
    expect(b.code).toBe(0);
    expect(JSON.parse(b.stdout).total).toBe(0);
    const log = readFileSync(join(h.home, "server.log"), "utf8");
    expect(log.match(/sessiond listening/g)).toHaveLength(1);
    expect(log).not.toMatch(/could not start/);
    const status = await h.json<{ running: boolean; pid: number }>(["server", "status"]);
    expect(status.running).toBe(true);
    expect(JSON.parse(readFileSync(join(h.home, "server.pid"), "utf8")).pid).toBe(status.pid);
  });

  it("runs a session through its whole life: start, list, show, update, iterate, pause, resume, complete", async () => {
    const s = await h.json<S>(["start", "--name", "build-1", "--task", "fix the build", "--label", "team=core", "--agent", "a1", "--max-iterations", "5", "--context", '{"step": 1}']);
    expect(s).toMatchObject({ name: "build-1", status: "active", task: "fix the build", labels: { team: "core" }, context: { step: 1 } });
    await h.json(["start", "--name", "other", "--agent", "a2"]);

    const table = await h.run(["list", "--label", "team=core"]);
    const lines = table.stdout.trimEnd().split("\n");
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/^ID\s+NAME\s+KIND\s+STATUS\s+ITER\s+CREATED\s+TASK$/);
    expect(lines[1]).toContain("build-1");
    // Columns are aligned: every row's NAME starts where the header's does.
    expect(lines[1]!.indexOf("build-1")).toBe(lines[0]!.indexOf("NAME"));
    const page = await h.json<{ items: S[] }>(["list", "--agent", "a2"]);
    expect(page.items.map((x) => x.name)).toEqual(["other"]);
    expect((await h.json<{ items: S[] }>(["list", "--limit", "1"])).items).toHaveLength(1);

    expect((await h.run(["show", "build-1"])).stdout).toMatch(/^task:\s+fix the build$/m);
    expect((await h.json<S>(["update", "build-1", "--task", "fix it now"])).task).toBe("fix it now");
    expect((await h.json<S>(["iterate", "build-1", "--data", '{"phase": "plan"}'])).iterations).toBe(1);
    expect((await h.json<S>(["pause", "build-1", "--reason", "lunch"])).status).toBe("paused");
    const again = await h.run(["pause", "build-1"]);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/^sessiond: .*paused.*\(run `sessiond show <session>` to see its status\)\n$/);
    // A human line names the new status once: beside the verb only when the verb does not say it.
    expect((await h.run(["resume", "build-1"])).stdout).toBe("build-1 resumed: active\n");
    expect((await h.run(["complete", "build-1", '{"pr": 42}'])).stdout).toBe("build-1 completed\n");
    expect(await h.json<S>(["show", "build-1"])).toMatchObject({ status: "completed", result: { pr: 42 } });
    const events = (await h.run(["events", "build-1", "--json"])).stdout.trim().split("\n").map((l) => JSON.parse(l) as { seq: number; type: string });
    expect(events.map((e) => e.type)).toEqual(["start", "iteration", "pause", "resume", "complete"]);
    expect(events.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5]);
    const trace = await h.run(["trace", "build-1"]);
    expect(trace.stdout).toMatch(/^build-1 .* completed/);
    expect(trace.stdout).toMatch(/#3\s+\S+ \S+\s+pause\s+.*lunch/);
  });

  it("checkpoints, restores by label, forks and edits the context", async () => {
    const s = await h.json<S>(["start", "--name", "cp-1", "--context", '{"a": 1}']);
    const cp = await h.json<{ id: string; label: string }>(["checkpoint", "create", "cp-1", "--label", "before", "--data", '{"step": 3}']);
    expect(cp.label).toBe("before");
    expect((await h.json<S>(["context", "patch", "cp-1", '{"b": 2, "a": null}'])).context).toEqual({ b: 2 });
    expect(JSON.parse((await h.run(["context", "get", "cp-1", "b"])).stdout)).toBe(2);
    expect((await h.json<S>(["context", "set", "cp-1", '{"c": 3}'])).context).toEqual({ c: 3 });
    const listed = await h.run(["checkpoint", "list", "cp-1"]);
    expect(listed.stdout).toMatch(/^ID\s+SEQ\s+LABEL/);
    expect(listed.stdout).toContain(cp.id);
    expect((await h.json<S>(["checkpoint", "restore", "cp-1", "before"])).context).toEqual({ a: 1 });
    const fork = await h.json<S>(["fork", "cp-1", "latest", "--name", "cp-1-b"]);
    expect(fork).toMatchObject({ name: "cp-1-b", parent: s.id, status: "active", context: { a: 1 } });
    const missing = await h.run(["checkpoint", "restore", "cp-1", "nope"]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain("checkpoint list cp-1");
    // `sessiond restore` beside `fork` and `undo`, to the newest checkpoint unless told which.
    await h.json(["context", "set", "cp-1", '{"d": 4}']);
    expect((await h.run(["restore", "cp-1"])).stdout).toMatch(new RegExp(`^cp-1 restored to latest \\(${cp.id}\\): iterations 0, context \\{"a":1\\}\n$`));
    await h.json(["context", "set", "cp-1", '{"d": 5}']);
    expect((await h.json<S>(["restore", "cp-1", "before"])).context).toEqual({ a: 1 });
  });

  it("records events and tool calls, fails a session, deletes and cleans up", async () => {
    await h.json(["start", "--name", "ev-1"]);
    expect((await h.json<{ seq: number; type: string }>(["emit", "ev-1", "note", '{"text": "hi"}'])).type).toBe("note");
    expect((await h.json<{ type: string; data: { tool: string } }>(["tool-call", "ev-1", "grep", "--args", '{"q": "x"}'])).data.tool).toBe("grep");
    expect((await h.json<{ events_by_type: Record<string, number> }>(["metrics", "ev-1"])).events_by_type).toMatchObject({ note: 1, tool_call: 1 });
    expect((await h.json<{ seq: number }>(["state", "ev-1", "--seq", "1"])).seq).toBe(1);
    expect((await h.json<S>(["fail", "ev-1", "out of budget"])).status).toBe("failed");
    // A dry run names what would go and deletes nothing.
    const preview = await h.run(["cleanup", "--older-than", "0d", "--dry-run"]);
    expect(preview.stdout).toMatch(/^ev-1 {2}failed {2}ended \d{4}-/m);
    expect(preview.stdout).toMatch(/^would delete \d+ sessions? \(nothing deleted: --dry-run\)\n$/m);
    expect((await h.json<S>(["show", "ev-1"])).status).toBe("failed");
    const listed = await h.json<{ would_delete: { name: string }[]; more: boolean }>(["cleanup", "--older-than", "0d", "--dry-run"]);
    expect(listed.more).toBe(false);
    const cleaned = await h.json<{ deleted: number }>(["cleanup", "--older-than", "0d"]);
    expect(cleaned.deleted).toBe(listed.would_delete.length);
    expect(cleaned.deleted).toBeGreaterThanOrEqual(2); // build-1 and ev-1 have ended
    expect((await h.run(["show", "ev-1"])).code).toBe(1);
    expect((await h.run(["delete", "cp-1-b"])).code).toBe(0);
    const gone = await h.run(["show", "cp-1-b", "--json"]);
    expect(gone.code).toBe(1);
    expect(JSON.parse(gone.stderr).error.code).toBe("not_found");
  });

  it("lists in the order --sort and --order ask for, searches with --search, and says how to go on", async () => {
    for (const name of ["sort-b", "sort-a", "sort-c"]) await h.json(["start", "--name", name, "--agent", "cli-sort", "--task", `task of ${name}`]);
    const names = async (args: string[]) => (await h.json<{ items: S[] }>(["list", "--agent", "cli-sort", ...args])).items.map((s) => s.name);
    expect(await names(["--sort", "name", "--order", "asc"])).toEqual(["sort-a", "sort-b", "sort-c"]);
    expect(await names(["--sort", "name", "--order", "asc", "--search", "TASK OF SORT-C"])).toEqual(["sort-c"]);
    expect(await names(["--sort", "name", "--all"])).toEqual(["sort-c", "sort-b", "sort-a"]);
    // The hint repeats every filter, the page size and the order, quoted for a shell.
    const table = await h.run(["list", "--agent", "cli-sort", "--search", "task of", "--sort", "name", "--order", "asc", "--limit", "1"]);
    const more = /more: sessiond list --agent cli-sort --search 'task of' --sort name --order asc --limit 1 --cursor (\S+)/.exec(table.stdout);
    expect(more, table.stdout).not.toBeNull();
    expect(await names(["--search", "task of", "--sort", "name", "--order", "asc", "--limit", "1", "--cursor", more![1]!])).toEqual(["sort-b"]);
    const bad = await h.run(["list", "--sort", "colour"]);
    expect(bad).toMatchObject({ code: 2, stderr: expect.stringMatching(/^sessiond: invalid sort: expected one of created_at, .*iterations\n$/) });
  });

  it("follows a session's events as they are appended", async () => {
    await h.json(["start", "--name", "follow-1"]);
    const follow = startCli(["events", "follow-1", "--follow"], { ...h.env, SESSIOND_FOLLOW_POLL_MS: "20" });
    try {
      await until(() => follow.output().includes("start"));
      await h.json(["emit", "follow-1", "later", '{"n": 7}']);
      await until(() => follow.output().includes("later"));
      expect(follow.output()).toMatch(/#2\s+.*later\s+\{"n":7\}/);
    } finally {
      await follow.stop();
    }
  });

  it("exits 2 on usage errors, in one line saying what to do", async () => {
    const badJson = await h.run(["start", "--context", "{nope"]);
    expect(badJson.code).toBe(2);
    expect(badJson.stderr).toMatch(/^sessiond: --context is not valid JSON .*quote it/);
    expect(badJson.stderr.trim().split("\n")).toHaveLength(1);
    expect((await h.run(["list", "--no-such-flag"])).code).toBe(2);
    expect((await h.run(["cleanup", "--older-than", "soon"])).code).toBe(2);
    const invalid = await h.run(["start", "--kind", "bogus"]);
    expect(invalid.code).toBe(2);
    expect(invalid.stderr).toMatch(/kind/);
    expect((await h.run(["--version"])).code).toBe(0);
  });

  it("colours a table only when asked, and never under NO_COLOR", async () => {
    const plain = await h.run(["list"], { env: { FORCE_COLOR: "1", NO_COLOR: "1" } });
    expect(plain.stdout).not.toContain("\u001b[");
    const colored = await h.run(["list"], { env: { FORCE_COLOR: "1", NO_COLOR: "" } });
    expect(colored.stdout).toContain("\u001b[1m");
  });

  it("runs commands in a live shell session, with exit codes, logs, interrupt and stop", async () => {
    const shell = await h.json<S>(["start", "--kind", "shell", "--name", "sh-1"]);
    expect(shell.kind).toBe("shell");
    expect((await h.run(["exec", "sh-1", "cd /tmp && export GREETING=hello"])).code).toBe(0);
    const echoed = await h.run(["exec", "sh-1", "echo $GREETING from $(pwd)"]);
    expect(echoed).toMatchObject({ code: 0, stdout: "hello from /tmp\n" });
    // The command's own exit code is the CLI's, as ssh and docker exec pass theirs on.
    const failed = await h.run(["exec", "sh-1", "(exit 3)"]);
    expect(failed.code).toBe(3);
    expect(failed.stderr).toContain("exit 3");
    const logs = await h.run(["logs", "sh-1"]);
    expect(logs.stdout).toContain("$ echo $GREETING from $(pwd)");
    expect(logs.stdout).toContain("hello from /tmp");
    // --timeout ends a long command; and the client waits that long plus its usual deadline.
    const cut = await h.run(["exec", "sh-1", "sleep 30", "--timeout", "300"]);
    expect(cut.code).toBe(124);
    expect(cut.stderr).toMatch(/^\[timeout\b/m);
    expect(cut.stderr).toMatch(/^\[stopped at its timeout, after 0\.\d s: --timeout <ms> gives an exec longer/m);
    // The server's limit on it is named as the flag, not as the API's field.
    const tooLong = await h.run(["exec", "sh-1", "true", "--timeout", "99999999"]);
    expect(tooLong).toMatchObject({ code: 2, stderr: expect.stringContaining("(that is `--timeout`, in milliseconds)") });
    const patient = await h.run(["exec", "sh-1", "sleep 1.5; echo done", "--timeout", "10000"], { env: { SESSIOND_CLIENT_TIMEOUT_MS: "1000" } });
    expect(patient).toMatchObject({ code: 0, stdout: "done\n" });
    const slow = h.run(["exec", "sh-1", "sleep 30"]);
    await until(async () => (await h.json<{ interrupted: boolean }>(["interrupt", "sh-1"])).interrupted);
    const interrupted = await slow;
    expect(interrupted.code).toBe(130);
    expect(interrupted.stderr).toContain("interrupted");
    expect((await h.json<S>(["stop", "sh-1"])).status).toBe("completed");
  });

  it("passes what is piped to `exec --stdin` on as the command's stdin, and nothing without it", async () => {
    const session = await h.json<S & { workspace: string }>(["start", "--kind", "shell", "--name", "sh-in"]);
    const lines = Array.from({ length: 3000 }, (_, i) => `line ${i} ${"é".repeat(40)}`).join("\n") + "\n";
    const counted = await h.run(["exec", "sh-in", "--stdin", "wc -lc; echo after"], { input: lines });
    expect(counted).toMatchObject({ code: 0, stdout: `   3000  ${Buffer.byteLength(lines)}\nafter\n` });
    // Read in part: the rest is dropped, never run as commands; the command's status is the CLI's.
    const first = await h.run(["exec", "sh-in", "--stdin", "head -1; (exit 4)"], { input: "first\ntouch LEFTOVER\nsecond\n" });
    expect(first).toMatchObject({ code: 4, stdout: "first\n" });
    expect((await h.run(["exec", "sh-in", "ls LEFTOVER 2>&1 || echo none"])).stdout).toMatch(/none\n$/);
    // Without --stdin the command reads /dev/null, whatever is piped.
    expect(await h.run(["exec", "sh-in", "cat; echo end"], { input: "ignored\n" })).toMatchObject({ code: 0, stdout: "end\n" });
    // Queued behind another exec, the input waits for its turn.
    const busy = h.run(["exec", "sh-in", "touch started; sleep 1"]);
    await until(async () => existsSync(join(session.workspace, "started")));
    const queued = await h.run(["exec", "sh-in", "--stdin", "tr a-z A-Z"], { input: "queued\n" });
    expect(queued).toMatchObject({ code: 0, stdout: "QUEUED\n" });
    expect((await busy).code).toBe(0);
    // What the terminal would change is refused, not passed on changed: the exec is interrupted.
    const long = await h.run(["exec", "sh-in", "--stdin", "wc -c"], { input: `${"x".repeat(10_000)}\n` });
    expect(long).toMatchObject({ code: 1, stderr: expect.stringContaining("a line longer than 4095 bytes (from byte 0)") });
    const control = await h.run(["exec", "sh-in", "--stdin", "cat > got; echo ran"], { input: "fine\na\x03b\n" });
    expect(control).toMatchObject({ code: 1, stderr: expect.stringContaining("the control character ^C (0x03) at byte 6") });
    expect(control.stderr).toContain("`sessiond show sh-in` names it");
    const crlf = await h.run(["exec", "sh-in", "--stdin", "cat"], { input: "a\r\nb\r\n" });
    expect(crlf).toMatchObject({ code: 1, stderr: expect.stringContaining("For Windows line ends, pipe it through `tr -d '\\r'` first.") });
    expect((await h.run(["exec", "sh-in", "echo next"])).stdout).toBe("next\n");
    // --background starts a job of the shell and answers at once with its pid and log.
    const job = await h.run(["exec", "sh-in", "--background", "echo from-job"]);
    expect(job).toMatchObject({ code: 0, stdout: expect.stringMatching(/^started in the background: pid \d+, output to \S+\/logs\/bg-\S+\.log\n$/) });
    await until(async () => (await h.run(["exec", "sh-in", "cat logs/bg-*.log"])).stdout.includes("from-job"));
    expect(await h.run(["exec", "sh-in", "--background", "--stdin", "cat"])).toMatchObject({ code: 2, stderr: expect.stringContaining("--background and --stdin exclude each other") });
  });
});

describe("sessiond server", SLOW, () => {
  const h = cliHome();
  afterAll(() => h.cleanup());
  let deadPid = 0;
  beforeAll(() => {
    deadPid = spawnSync(process.execPath, ["-e", "process.stdout.write(String(process.pid))"], { encoding: "utf8" }).stdout as unknown as number;
  });

  it("cleans a stale pid file and socket left by a dead server, then starts a new one", async () => {
    writeFileSync(join(h.home, "server.pid"), JSON.stringify({ pid: Number(deadPid) }));
    writeFileSync(join(h.home, "sessiond.sock"), "");
    const status = await h.run(["server", "status", "--json"]);
    expect(status.code).toBe(1);
    const parsed = JSON.parse(status.stdout) as { running: boolean; cleaned: string[] };
    expect(parsed.running).toBe(false);
    expect(parsed.cleaned.sort()).toEqual([join(h.home, "server.pid"), join(h.home, "sessiond.sock")].sort());
    // A stale socket file is also handled on the fast path: the command starts a server.
    writeFileSync(join(h.home, "sessiond.sock"), "");
    expect((await h.run(["list"])).code).toBe(0);
    expect((await h.json<{ running: boolean }>(["server", "status"])).running).toBe(true);
  });

  it("takes over a start lock left by a command that died", async () => {
    await h.run(["server", "stop"]);
    writeFileSync(join(h.home, "autostart.lock"), String(Number(deadPid)));
    const r = await h.run(["list"]);
    expect(r.code).toBe(0);
    expect(existsSync(join(h.home, "autostart.lock"))).toBe(false);
    expect((await h.json<{ running: boolean }>(["server", "status"])).running).toBe(true);
  });

  it("says why a server it started could not start, in words rather than a log line", async () => {
    const fresh = cliHome();
    try {
      const r = await fresh.run(["list"], { env: { SESSIOND_STORE: "postgres", SESSIOND_PG_URL: "" } });
      expect(r.code).toBe(1);
      expect(r.stderr).toContain("the server exited (code 1) while starting: the PostgreSQL store needs a connection string: set SESSIOND_PG_URL");
      expect(r.stderr).not.toContain('{"level"');
    } finally {
      await fresh.cleanup();
    }
  });

  it("says what to do when the port a server it started would take is taken", async () => {
    const fresh = cliHome();
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, "127.0.0.1", resolve));
    try {
      const r = await fresh.run(["list"], { env: { SESSIOND_PORT: String((taken.address() as AddressInfo).port) } });
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/while starting: listen EADDRINUSE.*; another program has that port: give this data dir a port of its own/);
      expect(r.stderr.trimEnd().split("\n")).toHaveLength(1);
    } finally {
      taken.close();
      await fresh.cleanup();
    }
  });

  it("warns on a restart that leaves live sessions off while the server holds some not ended", async () => {
    await h.json(["start", "--kind", "shell", "--name", "kept-live"]);
    const off = await h.run(["server", "restart"], { env: { ENABLE_SESSIONS: "false" } });
    expect(off).toMatchObject({ code: 0, stderr: expect.stringContaining("are off on this server, which holds 1 of them not ended") });
    expect(off.stderr).toContain(`put ENABLE_SESSIONS=true in ${join(h.home, ".env")}`);
    // On again, the restart still ended its process: it says the session is crashed, and how to go on.
    const on = await h.run(["server", "restart"]);
    expect(on).toMatchObject({ code: 0, stderr: expect.stringMatching(/^sessiond: 1 live session is crashed \(a restart ends their processes\): `sessiond recover <session>`/) });
    expect(on.stderr).not.toContain("are off");
    await h.run(["delete", "kept-live"]);
  });

  it("restarts, keeping the sessions, and stops", async () => {
    const s = await h.json<S>(["start", "--name", "survivor"]);
    const before = await h.json<{ pid: number }>(["server", "status"]);
    const after = await h.json<{ pid: number; running: boolean }>(["server", "restart"]);
    expect(after.running).toBe(true);
    expect(after.pid).not.toBe(before.pid);
    expect((await h.json<S>(["show", "survivor"])).id).toBe(s.id);
    const logs = await h.run(["server", "logs", "-n", "50"]);
    expect(logs.stdout).toMatch(/shutting down/);
    expect((await h.json<{ stopped: number }>(["server", "stop"])).stopped).toBe(after.pid);
    expect(existsSync(join(h.home, "sessiond.sock"))).toBe(false);
    expect((await h.run(["server", "status"])).code).toBe(1);
    expect((await h.json<{ stopped: number | null }>(["server", "stop"])).stopped).toBeNull();
  });
});
