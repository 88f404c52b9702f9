import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { readStat } from "../../src/drivers/process-tree.js";
import { MAX_TYPED_BACKLOG_BYTES } from "../../src/drivers/shell/terminal-tap.js";
import { LiveHarness, alive, eventually, failure, hostPid } from "./harness.js";

/** Interactive and long-running work: stdin, per-exec interrupt and kill, background jobs, overlap policy, pause, lifetime. */
describe("interactive and long-running work in a live shell", () => {
  let h: LiveHarness;
  afterEach(async () => {
    await h.close();
  });

  const runningNow = async (name: string, execId: string) =>
    eventually(async () => (await h.live.execStatus(name, execId)).state === "running", 5000, `exec ${execId} to run`);

  /** Once the exec runs, sends each of `chunks` to its stdin in turn, the last with the end of input. */
  const feed = async (name: string, execId: string, chunks: string[]) => {
    await runningNow(name, execId);
    for (const [i, chunk] of chunks.entries()) await h.live.stdin(name, execId, chunk, i === chunks.length - 1);
  };

  it("sends stdin to a running exec (answering a prompt, then end of file)", async () => {
    h = new LiveHarness();
    await h.live.start({ kind: "shell", name: "in" });
    const asked = await h.live.submit("in", 'read -r -p "name? " who; echo "hi $who"; cat', { stdin: true });
    await feed("in", asked.exec_id, ["ada\n", "rest-1\nrest-2"]);
    const result = await asked.done;
    expect(result).toMatchObject({ exit_code: 0, status: "ok", stdout: "hi ada\nrest-1\nrest-2" });
    expect(result.stderr).toContain("name? ");
    // Stdin to a finished exec: 409; to an unknown one: 404; to an exec reading /dev/null: 409.
    expect(await failure(h.live.stdin("in", asked.exec_id, "late"))).toMatchObject({ code: "exec_not_running", status: 409 });
    expect(await failure(h.live.stdin("in", "nope", "x"))).toMatchObject({ code: "not_found", status: 404 });
    const plain = await h.live.submit("in", "sleep 30");
    await runningNow("in", plain.exec_id);
    expect(await failure(h.live.stdin("in", plain.exec_id, "x"))).toMatchObject({ code: "exec_not_running" });
    await h.live.signalExec("in", plain.exec_id, "interrupt");
    expect((await plain.done).status).toBe("interrupted");
  });

  it("ends the input after a partial line sent on its own (two Ctrl-Ds), and refuses stdin and background jobs for a kind without a terminal", async () => {
    h = new LiveHarness();
    await h.live.start({ kind: "shell", name: "part" });
    const counted = await h.live.submit("part", "wc -c", { stdin: true });
    await feed("part", counted.exec_id, ["abc", ""]);
    expect(await counted.done).toMatchObject({ status: "ok", stdout: expect.stringMatching(/^\s*3\n$/) });
    await h.live.start({ kind: "python", name: "py" });
    expect(await failure(h.live.submit("py", "import sys; sys.stdin.read()", { stdin: true }))).toMatchObject({ code: "validation", field: "stdin", status: 400 });
    // Nor background jobs, which are a shell's: the cell would be given shell syntax.
    expect(await failure(h.live.submit("py", "print('bg')", { background: true }))).toMatchObject({ code: "validation", field: "background", status: 400 });
    expect((await h.live.exec("py", "print('still here')")).stdout).toBe("still here\n");
  });

  it("refuses stdin past 1 MiB the command has not read (a raw terminal keeps it all), with rate_limited", async () => {
    h = new LiveHarness();
    await h.live.start({ kind: "shell", name: "raw" });
    const asked = await h.live.submit("raw", "stty raw -echo; sleep 30", { stdin: true });
    await runningNow("raw", asked.exec_id);
    const chunk = "y".repeat(200 * 1024);
    let sent = 0;
    let refused: unknown;
    for (let i = 0; i < 50 && !refused; i++) {
      try {
        sent += (await h.live.stdin("raw", asked.exec_id, chunk)).bytes;
      } catch (err) {
        refused = err;
      }
    }
    expect(refused).toMatchObject({ code: "rate_limited", status: 429 });
    // The backlog, a chunk past it, and what the kernel's terminal buffers took.
    expect(sent).toBeLessThanOrEqual(MAX_TYPED_BACKLOG_BYTES + 2 * chunk.length + 64 * 1024);
    // The session stays in hand: a stop ends the command, and the backlog with it.
    await h.live.stop("raw");
    expect((await asked.done).status).toBe("interrupted");
    expect(h.leftovers()).toEqual([]);
  });


  it("drops the stdin a command left unread when it ended: bash never runs it as commands", async () => {
    h = new LiveHarness();
    await h.live.start({ kind: "shell", name: "left" });
    // `head -1` takes one line: the next one, and a half line, are still in the terminal after it.
    const asked = await h.live.submit("left", "head -1", { stdin: true });
    await runningNow("left", asked.exec_id);
    await h.live.stdin("left", asked.exec_id, "first\ntouch LEAKED; echo leaked\nhalf a li");
    expect(await asked.done).toMatchObject({ status: "ok", exit_code: 0, stdout: "first\n" });
    expect(await failure(h.live.stdin("left", asked.exec_id, "late"))).toMatchObject({ code: "exec_not_running" });
    // Nothing of it ran, and the half line did not run into the next exec's.
    expect(await h.live.exec("left", "ls LEAKED 2>&1; echo next")).toMatchObject({ status: "ok", stdout: expect.stringMatching(/No such file[^\n]*\nnext\n$/) });
    // An exec with stdin that reads it all is unchanged, and `$?` carries over as before.
    const all = await h.live.submit("left", "cat; false", { stdin: true });
    await runningNow("left", all.exec_id);
    await h.live.stdin("left", all.exec_id, "a\nb\n", true);
    expect(await all.done).toMatchObject({ status: "error", exit_code: 1, stdout: "a\nb\n" });
    expect((await h.live.exec("left", "echo $?")).stdout).toBe("1\n");
    // ^S in stdin is data, not XOFF: it does not stop the terminal's output (and the exec's end with it).
    const xoff = await h.live.submit("left", "cat", { stdin: true, timeout_ms: 5000 });
    await runningNow("left", xoff.exec_id);
    await h.live.stdin("left", xoff.exec_id, "x\x13y\n", true);
    expect(await xoff.done).toMatchObject({ status: "ok", stdout: "x\x13y\n" });
  });

  it("holds stdin sent before bash has read the exec's line: a Ctrl-C or Ctrl-D in it never costs the line, nor runs what follows", async () => {
    h = new LiveHarness();
    await h.live.start({ kind: "shell", name: "early" });
    for (let i = 0; i < 10; i++) {
      const asked = await h.live.submit("early", "head -1", { stdin: true });
      // At once: the line was written to the terminal, bash may not have read it yet.
      await h.live.stdin("early", asked.exec_id, i % 2 ? "\x03touch PWNED\n" : "\x04touch PWNED\n\x04");
      // head reads the end of file (exit 0), or dies of the Ctrl-C sent to it (130) — or the Ctrl-C
      // reaches bash itself, between the go marker and head's start, and the line ends there.
      expect(i % 2 ? [0, 130] : [0], `round ${i}`).toContain((await asked.done).exit_code);
      expect(await h.live.exec("early", "ls PWNED 2>/dev/null; echo alive"), `round ${i}`).toMatchObject({ status: "ok", stdout: "alive\n" });
    }
  });

  it("drops a whole backlog of stdin when its command is killed, in raw or line mode: the shell lives on", async () => {
    h = new LiveHarness();
    await h.live.start({ kind: "shell", name: "kb" });
    for (const command of ["stty raw -echo; sleep 30", "sleep 30"]) {
      const asked = await h.live.submit("kb", command, { stdin: true });
      await runningNow("kb", asked.exec_id);
      // Commands with no newline (a line bash would run whole) and with one.
      const chunk = "touch PWNED; ".repeat(8000) + "\ntouch PWNED2\n";
      for (let i = 0; i < 20; i++) {
        const refused = await h.live.stdin("kb", asked.exec_id, chunk).then(
          () => undefined,
          (err: unknown) => err,
        );
        if (refused) break;
      }
      expect(await h.live.signalExec("kb", asked.exec_id, "kill")).toMatchObject({ signalled: true });
      expect(await asked.done).toMatchObject({ status: "interrupted" });
      expect(await h.live.exec("kb", "ls PWNED PWNED2 2>/dev/null; echo alive")).toMatchObject({ status: "ok", stdout: "alive\n" });
    }
  });
  it("interrupts or kills just the running command; the session and its state live on", async () => {
    h = new LiveHarness();
    await h.live.start({ kind: "shell", name: "k" });
    await h.live.exec("k", "cd /tmp; export KEEP=1; v=shellvar");
    const first = await h.live.submit("k", "sleep 100");
    const queued = await h.live.submit("k", "echo queued-ran");
    expect(queued.state).toBe("queued");
    expect(await failure(h.live.signalExec("k", queued.exec_id, "kill"))).toMatchObject({ code: "exec_not_running", status: 409 });
    await runningNow("k", first.exec_id);
    expect(await h.live.signalExec("k", first.exec_id, "interrupt")).toEqual({ exec_id: first.exec_id, signalled: true });
    expect(await first.done).toMatchObject({ status: "interrupted" });
    expect((await queued.done).stdout).toBe("queued-ran\n");
    // A command that ignores Ctrl-C is killed.
    const stubborn = await h.live.submit("k", "(trap '' INT; sleep 100)");
    await runningNow("k", stubborn.exec_id);
    await h.live.signalExec("k", stubborn.exec_id, "kill");
    expect(await stubborn.done).toMatchObject({ status: "interrupted" });
    // A kill ends the exec, not just the command that held the terminal: a list goes no further.
    const list = await h.live.submit("k", "sleep 100; sleep 101; echo went-on");
    await eventually(() => h.live.processes("k").then((ps) => ps.some((p) => p.command.startsWith("sleep 100"))), 5000, "the first sleep");
    await h.live.signalExec("k", list.exec_id, "kill");
    expect(await list.done).toMatchObject({ status: "interrupted", stdout: expect.not.stringContaining("went-on") });
    expect((await h.live.exec("k", 'echo "$PWD $KEEP $v"')).stdout).toBe("/tmp 1 shellvar\n");
  });

  it("ends an exec interrupted before bash read its line (the Ctrl-C flushed it): the command never runs, the shell goes on", async () => {
    // A grace long enough that a loaded machine does not reach the shell's kill (twice the grace).
    h = new LiveHarness({ interruptGraceMs: 2_000 });
    const session = await h.live.start({ kind: "shell", name: "early" });
    const shell = hostPid(session, Number((await h.live.exec("early", "echo $$")).stdout));
    const ran = join(session.workspace!, "ran");
    /**
     * Sends an exec while bash is stopped (it cannot read the line), signals it `how`, and lets
     * bash go on once the signal's answer came: the exec ends interrupted, its command never run.
     */
    const signalUnread = async (how: "interrupt" | "kill") => {
      process.kill(shell, "SIGSTOP");
      try {
        await eventually(() => readStat(shell)?.state === "T", 5000, "the shell to stop");
        const exec = await h.live.submit("early", `touch ${ran}`);
        await runningNow("early", exec.exec_id);
        expect(await h.live.signalExec("early", exec.exec_id, how)).toEqual({ exec_id: exec.exec_id, signalled: true });
        process.kill(shell, "SIGCONT");
        expect(await exec.done).toMatchObject({ status: "interrupted", exit_code: 130 });
      } finally {
        process.kill(shell, "SIGCONT");
      }
      expect(existsSync(ran)).toBe(false);
    };
    await signalUnread("interrupt");
    // Its status carries over, as after any interrupted command.
    expect((await h.live.exec("early", "echo $?; echo after")).stdout).toBe("130\nafter\n");
    // A kill finds no process to kill: after the grace it sends Ctrl-C, which flushes the line,
    // and answers once it gives up looking (twice the grace).
    await signalUnread("kill");
    expect((await h.live.exec("early", "echo alive")).stdout).toBe("alive\n");
  });

  it("takes a Ctrl-C a person types before bash read the exec's line as an interrupt: the exec ends, not at its timeout", async () => {
    h = new LiveHarness({ interruptGraceMs: 2_000 });
    const session = await h.live.start({ kind: "shell", name: "typed" });
    const shell = hostPid(session, Number((await h.live.exec("typed", "echo $$")).stdout));
    const ran = join(session.workspace!, "ran");
    const tap = await h.live.terminal("typed");
    for (const stdin of [false, true]) {
      process.kill(shell, "SIGSTOP");
      try {
        await eventually(() => readStat(shell)?.state === "T", 5000, "the shell to stop");
        // Without stdin, the Ctrl-C flushes the line and the recovery line ends the exec; with
        // stdin, the Ctrl-C waits for the command to start, as an interrupt does.
        const exec = await h.live.submit("typed", `sleep 5; touch ${ran}`, { stdin, timeout_ms: 60_000 });
        await runningNow("typed", exec.exec_id);
        expect(tap.write("\x03")).toBe(true);
        process.kill(shell, "SIGCONT");
        expect(await exec.done).toMatchObject({ exit_code: 130 });
      } finally {
        process.kill(shell, "SIGCONT");
      }
      expect(existsSync(ran)).toBe(false);
      expect((await h.live.exec("typed", "echo alive")).stdout).toBe("alive\n");
    }
  });

  it("keeps the next exec whole after a raw-mode program took the interrupt's Ctrl-Cs as bytes", async () => {
    h = new LiveHarness();
    await h.live.start({ kind: "shell", name: "raw" });
    // Raw mode on the terminal, then sleep: the timeout's Ctrl-Cs are typed into it, and the kill ends it.
    const raw = `python3 -c 'import tty, os, time; tty.setraw(os.open("/dev/tty", os.O_RDWR)); time.sleep(30)'`;
    expect((await h.live.exec("raw", raw, { timeout_ms: 500 })).status).toBe("timeout");
    const next = await h.live.exec("raw", "echo hi", { timeout_ms: 10_000 });
    expect(next).toMatchObject({ status: "ok", exit_code: 0 });
    expect(next.stdout).toMatch(/hi\n$/);
    expect((await h.live.exec("raw", "echo again")).stdout).toBe("again\n");
  });

  it("counts what a background job wrote to stderr before an exec as background, not the exec's", async () => {
    h = new LiveHarness();
    const session = await h.live.start({ kind: "shell", name: "bgerr" });
    const wrote = join(session.workspace!, "wrote");
    await h.live.exec("bgerr", `(sleep 0.2; echo job-err >&2; touch ${wrote}) &`);
    // The exec follows the job's write at once: before the pipe's slow read between execs, mostly.
    await eventually(() => existsSync(wrote), 5000, "the job's write");
    const next = await h.live.exec("bgerr", "echo cmd-err >&2");
    expect(next.stderr).toBe("cmd-err\n");
  });

  it("starts background jobs that outlive their exec, lists them, kills one, and stop kills the rest", async () => {
    h = new LiveHarness();
    const session = await h.live.start({ kind: "shell", name: "bg" });
    const one = (await h.live.exec("bg", "echo started-one; sleep 1000", { background: true })) as unknown as { pid: number; log_path: string; status: string; exec_id: string };
    const two = (await h.live.exec("bg", "sleep 1001", { background: true })) as unknown as { pid: number; log_path: string };
    expect(one.status).toBe("ok");
    expect(one.log_path).toBe(join(session.workspace!, "logs", `bg-${one.exec_id}.log`));
    // The pids the API shows are the session's own; the host's are found to watch them from here.
    const host = { one: hostPid(session, one.pid), two: hostPid(session, two.pid) };
    expect(alive(host.one) && alive(host.two)).toBe(true);
    await eventually(() => existsSync(one.log_path) && readFileSync(one.log_path, "utf8") === "started-one\n", 5000, "the job's log");
    const listed = await h.live.processes("bg");
    expect(listed.find((p) => p.pid === one.pid)).toMatchObject({ pgid: one.pid, log_path: one.log_path });
    // The second job's process is the bash that forked it until it has exec'd sleep (on a loaded machine, a while).
    await eventually(async () => (await h.live.processes("bg")).some((p) => p.command.includes("sleep 1001")), 5000, "the second job to run sleep");
    // Still usable meanwhile.
    expect((await h.live.exec("bg", "echo fg")).stdout).toBe("fg\n");
    await h.live.killProcess("bg", one.pid);
    await eventually(() => !alive(host.one), 5000, "the first job to die");
    expect(alive(host.two)).toBe(true);
    expect(await failure(h.live.killProcess("bg", process.pid))).toMatchObject({ code: "not_found", status: 404 });
    expect(await failure(h.live.killProcess("bg", two.pid, "SIGBOGUS"))).toMatchObject({ code: "validation", field: "signal" });
    await h.live.stop("bg");
    await eventually(() => !alive(host.two), 5000, "the second job to die at stop");
  });

  it("follows the overlap policy: queue, reject (409), interrupt; changeable live and kept in runtime_metadata", async () => {
    h = new LiveHarness();
    await h.live.start({ kind: "shell", name: "pol", exec_policy: "reject" });
    const long = await h.live.submit("pol", "sleep 100");
    expect(await failure(h.live.exec("pol", "echo no"))).toMatchObject({ code: "session_busy", status: 409 });
    expect(await h.live.setExecPolicy("pol", "interrupt")).toEqual({ exec_policy: "interrupt" });
    expect((await h.manager.get("pol")).runtime_metadata.exec_policy).toBe("interrupt");
    await runningNow("pol", long.exec_id);
    const next = await h.live.exec("pol", "echo took-over");
    expect(next.stdout).toBe("took-over\n");
    expect((await long.done).status).toBe("interrupted");
    await h.live.setExecPolicy("pol", "queue");
    const a = await h.live.submit("pol", "sleep 0.2; echo a");
    const b = await h.live.submit("pol", "echo b");
    expect([(await a.done).stdout, (await b.done).stdout]).toEqual(["a\n", "b\n"]);
    expect(await failure(h.live.setExecPolicy("pol", "sometimes"))).toMatchObject({ code: "validation", field: "exec_policy" });
    expect(h.live.describe("pol")?.exec_policy).toBe("queue");
  });

  it("survives 100 pause/resume cycles with cwd, env, a shell variable and a background job intact", async () => {
    h = new LiveHarness();
    const session = await h.live.start({ kind: "shell", name: "pz" });
    const dir = session.workspace!;
    await h.live.exec("pz", `cd ${dir}; export PZ_ENV=e1; pz_var=v1`);
    const job = (await h.live.exec("pz", "n=0; while true; do n=$((n+1)); echo $n > pz-count; sleep 0.01; done", { background: true })) as unknown as { pid: number };
    // Paused: the shell and the job are stopped (T) and execs are refused.
    await h.manager.pause("pz");
    const jobPid = hostPid(session, job.pid);
    await eventually(() => readStat(jobPid)?.state === "T", 5000, "the job to stop");
    expect(await failure(h.live.exec("pz", "true"))).toMatchObject({ code: "session_not_active", status: 409 });
    await h.manager.resume("pz");
    for (let i = 0; i < 99; i++) {
      await h.manager.pause("pz");
      await h.manager.resume("pz");
    }
    await eventually(() => readStat(jobPid)?.state !== "T", 5000, "the job to run again");
    const r = await h.live.exec("pz", 'echo "$PWD $PZ_ENV $pz_var"; jobs -p');
    expect(r.stdout).toBe(`${dir} e1 v1\n${job.pid}\n`);
    expect(alive(jobPid)).toBe(true);
    // The job keeps counting after the cycles.
    const before = Number(readFileSync(join(dir, "pz-count"), "utf8"));
    await eventually(() => Number(readFileSync(join(dir, "pz-count"), "utf8")) > before, 5000, "the job to count on");
    expect(h.live.describe("pz")?.paused).toBe(false);
  });

  it("stops the idle and lifetime clocks while paused, and extends the lifetime live", async () => {
    let now = 1_000_000;
    h = new LiveHarness({ idleTimeoutMs: 1_000, maxLifetimeMs: 10_000 });
    await h.live.close();
    h.live = h.openLive({ clock: () => now });
    await h.live.start({ kind: "shell", name: "clk" });
    await h.manager.pause("clk");
    await eventually(() => h.live.describe("clk")?.paused, 5000, "the pause");
    now += 60_000; // far past both limits, but paused
    await new Promise((r) => setTimeout(r, h.config.reaperIntervalMs * 5));
    expect((await h.manager.get("clk")).status).toBe("paused");
    await h.manager.resume("clk");
    await eventually(() => h.live.describe("clk")?.paused === false, 5000, "the resume");
    expect((await h.live.exec("clk", "echo alive")).stdout).toBe("alive\n");
    // Lifetime: 10 s from the start, moved out by the 60 s paused, then by 5 s more.
    const ends = Date.parse((await h.live.extendLifetime("clk", 5_000)).lifetime_ends_at!);
    expect(ends).toBe(1_000_000 + 60_000 + 10_000 + 5_000);
    expect(await failure(h.live.extendLifetime("clk", 0))).toMatchObject({ code: "validation", field: "extend_ms" });
    // Background output is activity: a job that writes keeps the session from idling out.
    const trigger = join(h.home.home, "workspaces", "clk", "go");
    await h.live.exec("clk", `while [ ! -e ${trigger} ]; do sleep 0.02; done; echo out`, { background: true });
    now += 900;
    writeFileSync(trigger, "");
    await eventually(() => Date.parse(h.live.describe("clk")!.last_activity_at) === now, 5000, "the job's output to count as activity");
    // So is what a plain `cmd &` prints on the terminal between execs.
    const trigger2 = join(h.home.home, "workspaces", "clk", "go2");
    await h.live.exec("clk", `(while [ ! -e ${trigger2} ]; do sleep 0.02; done; echo printed) &`);
    now += 100;
    writeFileSync(trigger2, "");
    await eventually(() => Date.parse(h.live.describe("clk")!.last_activity_at) === now, 5000, "terminal output to count as activity");
    now += 900; // 900 after the last output: not idle
    await new Promise((r) => setTimeout(r, h.config.reaperIntervalMs * 5));
    expect((await h.manager.get("clk")).status).toBe("active");
    now = ends; // the extended lifetime is over
    await eventually(async () => (await h.manager.get("clk")).status === "timeout", 5000, "the reaper");
    const [ev] = await h.manager.listEvents((await h.manager.get("clk")).id, { types: ["timeout"] });
    expect(String(ev!.data.reason)).toMatch(/^(idle_timeout|max_lifetime)/);
  });
});
