import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { afterEach, describe, expect, it } from "vitest";
import { SessionCgroup } from "../../src/drivers/sandbox/index.js";
import { LiveHarness, alive, eventually, failure, hostPid } from "./harness.js";

// A fork bomb may only run where a pids cgroup contains it: probe once.
const probe = SessionCgroup.create(`probe-${process.pid}`, { maxProcesses: 1, memoryBytes: 0, cpus: 0 });
const cgroups = probe !== undefined;
await probe?.destroy();
if (!cgroups) console.warn("no writable pids cgroup here: the fork bomb and daemon tests are skipped");

describe("limits of live sessions", () => {
  let h: LiveHarness;
  const open = (flags: Record<string, unknown> = {}) => (h = new LiveHarness(flags));
  afterEach(async () => {
    await h.close();
  });

  it("interrupts an exec past its timeout, reports status timeout, and the session stays usable", async () => {
    open();
    await h.live.start({ kind: "shell", name: "t" });
    await h.live.exec("t", "cd /tmp && export KEEP=1");
    const result = await h.live.exec("t", "echo started; sleep 30; echo never", { timeout_ms: 200 });
    expect(result).toMatchObject({ status: "timeout", stdout: expect.stringContaining("started") });
    expect(result.stdout).not.toContain("never");
    expect(result.duration_ms).toBeGreaterThanOrEqual(200);
    expect(result.duration_ms).toBeLessThan(2_000);
    const after = await h.live.exec("t", "echo $PWD $KEEP");
    expect(after).toMatchObject({ status: "ok", stdout: "/tmp 1\n" });
  });

  it("uses execTimeoutMs when an exec sets no timeout, and refuses a timeout past maxExecTimeoutMs", async () => {
    open({ execTimeoutMs: 150, maxExecTimeoutMs: 1000 });
    await h.live.start({ kind: "shell", name: "t" });
    expect(await h.live.exec("t", "sleep 10")).toMatchObject({ status: "timeout" });
    expect(await failure(h.live.exec("t", "true", { timeout_ms: 5000 }))).toMatchObject({ code: "validation", field: "timeout_ms" });
  });

  it("times out a busy loop of the shell itself, which only the shell can stop", async () => {
    open();
    await h.live.start({ kind: "shell", name: "t" });
    const result = await h.live.exec("t", "while :; do :; done", { timeout_ms: 100 });
    expect(result.status).toBe("timeout");
    expect((await h.live.exec("t", "echo ok")).stdout).toBe("ok\n");
  });

  it("kills a command that ignores the interrupt, after interruptGraceMs", async () => {
    open({ interruptGraceMs: 200 });
    await h.live.start({ kind: "shell", name: "t" });
    const result = await h.live.exec("t", "trap '' INT; bash -c 'trap \"\" INT; sleep 30'", { timeout_ms: 100 });
    expect(result.status).toBe("timeout");
    expect(result.duration_ms).toBeLessThan(2_000);
    expect((await h.live.exec("t", "echo ok")).stdout).toBe("ok\n");
  });

  it("interrupts the running exec on request, and the next exec runs", async () => {
    open();
    await h.live.start({ kind: "shell", name: "t" });
    const running = h.live.exec("t", "echo before; sleep 30");
    await eventually(() => h.live.list()[0]?.running_exec_id, 2000, "the exec to start");
    const answer = await h.live.interrupt("t");
    expect(answer.interrupted).toBe(true);
    const result = await running;
    expect(result).toMatchObject({ status: "interrupted", exec_id: answer.exec_id, exit_code: 130, stdout: expect.stringContaining("before") });
    expect(await h.live.interrupt("t")).toEqual({ interrupted: false, exec_id: null });
    expect((await h.live.exec("t", "echo after")).stdout).toBe("after\n");
  });

  it("delivers an interrupt sent the instant an exec starts", async () => {
    open();
    await h.live.start({ kind: "shell", name: "t" });
    for (let i = 0; i < 5; i++) {
      const running = h.live.exec("t", "sleep 30");
      await eventually(() => h.live.list()[0]?.running_exec_id, 2000, "the exec to start");
      await h.live.interrupt("t");
      expect((await running).status).toBe("interrupted");
    }
  });

  it("ends an interrupted exec whose end marker was lost, without killing the shell", async () => {
    open({ interruptGraceMs: 200 });
    await h.live.start({ kind: "shell", name: "t" });
    await h.live.exec("t", "export KEEP=1");
    const pid = h.live.list()[0]?.pid;
    // Clearing the nonce is what an interrupt does that lands after bash read the line but before
    // it took the nonce: PROMPT_COMMAND then has no marker to print.
    const running = h.live.exec("t", "__sd_n=; sleep 30");
    await eventually(() => h.live.list()[0]?.running_exec_id, 2000, "the exec to start");
    expect((await h.live.interrupt("t")).interrupted).toBe(true);
    expect(await running).toMatchObject({ status: "interrupted", exit_code: 130 });
    expect((await h.live.exec("t", "echo $KEEP")).stdout).toBe("1\n");
    expect(h.live.list()[0]?.pid).toBe(pid);
  });

  it("interrupts a busy loop of the shell itself on request", async () => {
    open();
    await h.live.start({ kind: "shell", name: "t" });
    const running = h.live.exec("t", "while :; do :; done");
    await eventually(() => h.live.list()[0]?.running_exec_id, 2000, "the exec to start");
    expect((await h.live.interrupt("t")).interrupted).toBe(true);
    expect(await running).toMatchObject({ status: "interrupted", exit_code: 130 });
    expect((await h.live.exec("t", "echo ok")).stdout).toBe("ok\n");
  });

  it("keeps at most maxExecOutputBytes of a flood, marks it truncated, and keeps answering", async () => {
    open({ maxExecOutputBytes: 64 * 1024 });
    await h.live.start({ kind: "shell", name: "t" });
    const lag = monitorEventLoopDelay({ resolution: 5 });
    lag.enable();
    const flood = await h.live.exec("t", "yes", { timeout_ms: 1_000 });
    lag.disable();
    expect(flood).toMatchObject({ status: "timeout", truncated: true });
    expect(Buffer.byteLength(flood.stdout)).toBe(64 * 1024);
    expect(flood.stdout.startsWith("y\ny\n")).toBe(true);
    // The event loop kept turning while the flood was drained.
    expect(lag.max / 1e6).toBeLessThan(250);
    expect((await h.live.exec("t", "echo alive")).stdout).toBe("alive\n");
    const both = await h.live.exec("t", "head -c 50000 /dev/zero | tr '\\0' o; head -c 50000 /dev/zero | tr '\\0' e >&2");
    expect(both).toMatchObject({ status: "ok", truncated: true });
    expect(Buffer.byteLength(both.stdout) + Buffer.byteLength(both.stderr)).toBe(64 * 1024);
  });

  it("keeps a stderr flood inside the cap too, and keeps answering", async () => {
    open({ maxExecOutputBytes: 32 * 1024 });
    await h.live.start({ kind: "shell", name: "t" });
    const flood = await h.live.exec("t", "echo start; yes error >&2", { timeout_ms: 500 });
    expect(flood).toMatchObject({ status: "timeout", truncated: true });
    // stdout (the PTY) and stderr (a pipe) share the cap and race each other: under load the
    // flood can fill it before "start" is read, so only the total is certain.
    expect(Buffer.byteLength(flood.stdout) + Buffer.byteLength(flood.stderr)).toBe(32 * 1024);
    expect((await h.live.exec("t", "echo alive")).stdout).toBe("alive\n");
  });

  it("keeps reading stderr between execs, so a background job never blocks on a full pipe", async () => {
    open();
    const session = await h.live.start({ kind: "shell", name: "t" });
    await h.live.exec("t", "(head -c 1000000 /dev/zero >&2; touch bg-done) &");
    const done = join(session.workspace!, "bg-done");
    await eventually(() => existsSync(done), 5000, "the background job to finish without an exec");
    // What it wrote went to no exec.
    expect(await h.live.exec("t", "echo next")).toMatchObject({ stdout: "next\n", stderr: "" });
  });

  it("reads a background job's terminal flood no faster than backgroundOutputBytesPerSecond, and answers execs meanwhile", async () => {
    const rate = 64 * 1024;
    // No state capture in the window: it is an exec, and an exec's terminal is read at full speed.
    open({ backgroundOutputBytesPerSecond: rate, stateSyncMs: 600_000 });
    await h.live.start({ kind: "shell", name: "t" });
    const tap = await h.live.terminal("t");
    let seen = 0;
    const off = tap.onData((data) => {
      seen += data.length;
    });
    try {
      await h.live.exec("t", "yes FLOODFLOODFLOOD &");
      // From the end of that exec on, the flood is between execs.
      seen = 0;
      const started = performance.now();
      await eventually(() => seen > 2 * rate, 20_000, "the flood to pass its burst");
      // A while longer: unbudgeted, a `yes` fills megabytes in that time.
      await new Promise((resolve) => setTimeout(resolve, 500));
      // An upper bound, whatever the machine's speed: one burst, the rate since, and one read of slack.
      const elapsed = (performance.now() - started) / 1000;
      expect(seen).toBeLessThanOrEqual(rate + rate * elapsed + 64 * 1024);
      expect((await h.live.exec("t", "kill %1; wait; echo stopped")).stdout).toContain("stopped\n");
    } finally {
      off();
    }
  });

  it("cuts output further when the exec event would pass maxEventBytes", async () => {
    open({ maxExecOutputBytes: 512 * 1024, maxEventBytes: 64 * 1024 });
    await h.live.start({ kind: "shell", name: "t" });
    const result = await h.live.exec("t", "head -c 300000 /dev/zero | tr '\\0' x");
    expect(result.truncated).toBe(true);
    expect(Buffer.byteLength(JSON.stringify(result))).toBeLessThanOrEqual(64 * 1024);
    expect((await h.live.logs("t")).at(-1)).toEqual(result);
  });

  it("runs execs sent together one at a time, in the order they came", async () => {
    open();
    await h.live.start({ kind: "shell", name: "q" });
    const results = await Promise.all(
      Array.from({ length: 8 }, (_, i) => h.live.exec("q", `sleep 0.0${8 - i}; echo ${i} >> order.txt; echo ${i}`)),
    );
    expect(results.map((r) => r.stdout)).toEqual(Array.from({ length: 8 }, (_, i) => `${i}\n`));
    expect(results.map((r) => r.seq)).toEqual([...results.map((r) => r.seq)].sort((a, b) => a - b));
    expect((await h.live.exec("q", "tr '\\n' ' ' < order.txt")).stdout).toBe("0 1 2 3 4 5 6 7 ");
  });

  it("refuses an exec past maxQueuedExecs with rate_limited", async () => {
    open({ maxQueuedExecs: 2 });
    await h.live.start({ kind: "shell", name: "q" });
    const running = h.live.exec("q", "sleep 0.3");
    await eventually(() => h.live.list()[0]?.running_exec_id, 2000, "the exec to start");
    const queued = [h.live.exec("q", "echo 1"), h.live.exec("q", "echo 2")];
    const err = await failure(h.live.exec("q", "echo 3"));
    expect(err).toMatchObject({ code: "rate_limited", status: 429 });
    // Submitted without waiting, it is refused too, not answered "queued" and dropped.
    expect(await failure(h.live.submit("q", "echo 4"))).toMatchObject({ code: "rate_limited", status: 429 });
    await Promise.all([running, ...queued]);
  });

  it("refuses an exec that would wait past maxQueuedExecBytes of input in all sessions, and takes more once they ran", async () => {
    open({ maxQueuedExecBytes: 1000 });
    await h.live.start({ kind: "shell", name: "a" });
    await h.live.start({ kind: "shell", name: "b" });
    const blockers = [h.live.submit("a", "sleep 30"), h.live.submit("b", "sleep 30")];
    await eventually(() => h.live.list().every((s) => s.running_exec_id), 2000, "both execs to start");
    const padded = (text: string) => `${text} #${"x".repeat(600 - text.length - 2)}`;
    const first = h.live.exec("a", padded("echo first"));
    // 600 bytes wait in session a: 600 more in session b would pass 1000.
    const err = await failure(h.live.exec("b", padded("echo second")));
    expect(err).toMatchObject({ code: "rate_limited", status: 429, message: expect.stringContaining("maxQueuedExecBytes") });
    // Not waiting, an exec takes no part of it.
    for (const name of ["a", "b"]) await h.live.interrupt(name);
    expect((await first).stdout).toBe("first\n");
    for (const blocker of blockers) await (await blocker).done;
    const again = [h.live.submit("b", "sleep 0.2"), h.live.exec("b", padded("echo third"))] as const;
    expect((await again[1]).stdout).toBe("third\n");
  });

  it("refuses input that is too big or holds a NUL byte, naming input", async () => {
    open({ maxExecInputBytes: 1024 });
    await h.live.start({ kind: "shell", name: "t" });
    expect(await failure(h.live.exec("t", "x".repeat(1025)))).toMatchObject({ code: "too_large", field: "input" });
    expect(await failure(h.live.exec("t", "echo a\0b"))).toMatchObject({ code: "validation", field: "input" });
  });

  it("stops a session idle past idleTimeoutMs: status timeout, the reason in its event, the process gone", async () => {
    open({ idleTimeoutMs: 150 });
    const session = await h.live.start({ kind: "shell", name: "idle" });
    await h.live.exec("idle", "true");
    const ended = await eventually(async () => {
      const s = await h.manager.get(session.id);
      return s.status === "timeout" ? s : undefined;
    }, 3000, "the reaper");
    expect(ended.ended_at).not.toBeNull();
    const [last] = await h.manager.listEvents(session.id, { descending: true, limit: 1 });
    expect(last).toMatchObject({ type: "timeout", data: { reason: expect.stringMatching(/^idle_timeout: no exec for \d+ ms/) } });
    expect(alive(session.runtime_metadata.pid as number)).toBe(false);
    expect(h.live.liveCount).toBe(0);
    expect(await failure(h.live.exec("idle", "true"))).toMatchObject({ code: "session_not_active", status: 409 });
  });

  it("does not count a long exec as idle time", async () => {
    open({ idleTimeoutMs: 150 });
    await h.live.start({ kind: "shell", name: "busy" });
    expect(await h.live.exec("busy", "sleep 0.4; echo done")).toMatchObject({ status: "ok", stdout: "done\n" });
    expect((await h.manager.get("busy")).status).toBe("active");
  });

  it("stops a session past maxLifetimeMs even while it is used", async () => {
    open({ maxLifetimeMs: 300 });
    const session = await h.live.start({ kind: "shell", name: "old" });
    await eventually(async () => {
      await h.live.exec("old", "true").catch(() => undefined);
      return (await h.manager.get(session.id)).status === "timeout";
    }, 3000, "the lifetime limit");
    const [last] = await h.manager.listEvents(session.id, { descending: true, limit: 1 });
    expect(last).toMatchObject({ type: "timeout", data: { reason: expect.stringMatching(/^max_lifetime/) } });
  });

  it("refuses a live session past maxLiveSessions with rate_limited, and takes one again after a stop", async () => {
    open({ maxLiveSessions: 2 });
    await h.live.start({ kind: "shell", name: "a" });
    await h.live.start({ kind: "shell", name: "b" });
    const err = await failure(h.live.start({ kind: "shell", name: "c" }));
    expect(err).toMatchObject({ code: "rate_limited", status: 429 });
    expect(await h.manager.find("c")).toBeUndefined();
    await h.live.stop("a");
    await h.live.start({ kind: "shell", name: "c" });
  });

  it("refuses one agent's live session past maxLiveSessionsPerAgent, also for a recovery, and leaves other agents theirs", async () => {
    open({ maxLiveSessionsPerAgent: 2 });
    await h.live.start({ kind: "shell", name: "a1", agent_id: "agent-a" });
    const a2 = await h.live.start({ kind: "shell", name: "a2", agent_id: "agent-a" });
    const err = await failure(h.live.start({ kind: "shell", name: "a3", agent_id: "agent-a" }));
    expect(err).toMatchObject({ code: "rate_limited", status: 429, message: expect.stringContaining("agent agent-a already has 2 live sessions on this server (maxLiveSessionsPerAgent)") });
    expect(await h.manager.find("a3")).toBeUndefined();
    // Another agent's, and one with no agent, count only against maxLiveSessions.
    await h.live.start({ kind: "shell", name: "b1", agent_id: "agent-b" });
    await h.live.start({ kind: "shell", name: "none" });
    // A crashed one is no longer held; recovering it takes its place back only while there is room.
    process.kill(a2.runtime_metadata.pid as number, "SIGKILL");
    await eventually(async () => (await h.manager.get("a2")).status === "crashed", 5000, "the crash");
    await h.live.start({ kind: "shell", name: "a3", agent_id: "agent-a" });
    expect(await failure(h.live.recover("a2"))).toMatchObject({ code: "rate_limited" });
    await h.live.stop("a3");
    expect((await h.live.recover("a2")).status).toBe("active");
  });

  it("kills the whole process group and session at stop: a background sleep does not survive", async () => {
    open();
    const session = await h.live.start({ kind: "shell", name: "bg" });
    const started = await h.live.exec("bg", "sleep 1000 & echo $!; (sleep 1001; echo) & echo $!; nohup sleep 1002 >/dev/null 2>&1 & echo $!");
    const printed = started.stdout.trim().split("\n").map(Number);
    expect(printed).toHaveLength(3);
    const ps = await h.live.exec("bg", `kill -0 ${printed.join(" ")} && echo running`);
    expect(ps.stdout).toBe("running\n");
    const pids = printed.map((pid) => hostPid(session, pid));
    await eventually(() => pids.every(alive), 2000, "the background jobs");
    const stopped = await h.live.stop("bg");
    expect(stopped.status).toBe("completed");
    for (const pid of [...pids, session.runtime_metadata.pid as number]) expect(alive(pid)).toBe(false);
    expect(h.leftovers()).toEqual([]);
    expect(await failure(h.live.exec("bg", "true"))).toMatchObject({ code: "session_not_active", status: 409 });
    expect(await failure(h.live.stop("bg"))).toMatchObject({ code: "session_not_active" });
  });

  it.runIf(cgroups)("contains a fork bomb within shellMaxProcesses, keeps answering, and stop kills it all", async () => {
    open({ shellMaxProcesses: 40 });
    const session = await h.live.start({ kind: "shell", name: "bomb" });
    const cgroup = session.runtime_metadata.cgroup as string;
    expect(cgroup).toMatch(/sessiond/);
    let most = 0;
    const sampler = setInterval(() => (most = Math.max(most, Number(readFileSync(`${cgroup}/pids.current`, "utf8")))), 5);
    // The bomb forks in the background: the exec itself returns at once.
    await h.live.exec("bomb", "bomb() { bomb | bomb & }; bomb");
    await new Promise((r) => setTimeout(r, 600));
    clearInterval(sampler);
    expect(most).toBeGreaterThan(10);
    expect(most).toBeLessThanOrEqual(40);
    expect((await h.live.exec("bomb", "echo still here")).stdout).toBe("still here\n");
    await h.live.stop("bomb");
    expect(h.leftovers()).toEqual([]);
  });

  it.runIf(cgroups)("kills at stop a daemon that left the shell's terminal session", async () => {
    open();
    const session = await h.live.start({ kind: "shell", name: "d" });
    await h.live.exec("d", "setsid bash -c 'echo $$ > daemon.pid; exec sleep 1003' </dev/null >/dev/null 2>&1 &");
    const file = `${session.workspace}/daemon.pid`;
    const printed = await eventually(() => (existsSync(file) ? Number(readFileSync(file, "utf8")) : 0), 3000, "the daemon");
    const pid = hostPid(session, printed);
    expect(alive(pid)).toBe(true);
    await h.live.stop("d");
    await eventually(() => !alive(pid), 3000, "the daemon to be killed");
  });

  it("records a running exec as interrupted when the session is stopped, and refuses those queued", async () => {
    open();
    await h.live.start({ kind: "shell", name: "s" });
    const running = h.live.exec("s", "sleep 30");
    await eventually(() => h.live.list()[0]?.running_exec_id, 2000, "the exec to start");
    const queued = failure(h.live.exec("s", "echo never"));
    await h.live.stop("s");
    expect((await running).status).toBe("interrupted");
    expect(await queued).toMatchObject({ code: "session_not_active" });
    const execs = await h.live.logs("s");
    expect(execs.map((e) => e.status)).toEqual(["interrupted"]);
  });

  it("refuses an exec while the session is paused, and runs it after resume", async () => {
    open();
    await h.live.start({ kind: "shell", name: "p" });
    await h.manager.pause("p");
    expect(await failure(h.live.exec("p", "true"))).toMatchObject({ code: "session_not_active", status: 409 });
    await h.manager.resume("p");
    expect((await h.live.exec("p", "echo back")).stdout).toBe("back\n");
  });
});
