import { spawn } from "node:child_process";
import { once } from "node:events";
import { afterEach, describe, expect, it } from "vitest";
import type { Session } from "../../src/core/index.js";
import { compiledFixture } from "../helpers/compiled-tree.js";
import { LiveHarness, alive, eventually, failure, hostPid } from "./harness.js";

/** The stand-in server, compiled to plain JavaScript (test/helpers/compiled-tree.ts). */
const FIXTURE = compiledFixture("test/drivers/fixtures/live-server.ts");

describe("crashes and recovery of live sessions", () => {
  let h: LiveHarness;
  const open = (flags: Record<string, unknown> = {}) => (h = new LiveHarness(flags));
  afterEach(async () => {
    await h.close();
  });

  const status = async (ref: string) => (await h.manager.get(ref)).status;

  it("marks the session crashed, with an event, when its shell is killed", async () => {
    open();
    const session = await h.live.start({ kind: "shell", name: "c" });
    const pid = session.runtime_metadata.pid as number;
    process.kill(pid, "SIGKILL");
    await eventually(async () => (await status("c")) === "crashed", 3000, "the crash");
    const [crash] = await h.manager.listEvents(session.id, { types: ["crash"] });
    expect(crash!.data).toMatchObject({ reason: "the shell process exited unexpectedly (killed by signal 9)", from: "active", to: "crashed" });
    expect(h.live.liveCount).toBe(0);
    expect(await failure(h.live.exec("c", "true"))).toMatchObject({ code: "session_not_active", status: 409, message: expect.stringContaining("recover it first") });
  });

  it("records the exec that was running when the shell died, before the crash", async () => {
    open();
    const session = await h.live.start({ kind: "shell", name: "c" });
    const running = h.live.exec("c", "echo partial; sleep 30");
    await eventually(() => h.live.list()[0]?.running_exec_id, 2000, "the exec to start");
    await new Promise((r) => setTimeout(r, 50));
    process.kill(session.runtime_metadata.pid as number, "SIGKILL");
    const result = await running;
    expect(result).toMatchObject({ status: "error", exit_code: null, stdout: "partial\n" });
    await eventually(async () => (await status("c")) === "crashed", 3000, "the crash");
    const events = await h.manager.listEvents(session.id, { types: ["exec", "crash"] });
    expect(events.map((e) => e.type)).toEqual(["exec", "crash"]);
  });

  it("kills what the dead shell left running", async () => {
    open();
    const session = await h.live.start({ kind: "shell", name: "c" });
    const bg = hostPid(session, Number((await h.live.exec("c", "sleep 1000 & echo $!")).stdout.trim()));
    expect(alive(bg)).toBe(true);
    process.kill(session.runtime_metadata.pid as number, "SIGKILL");
    await eventually(async () => (await status("c")) === "crashed", 3000, "the crash");
    await eventually(() => !alive(bg), 3000, "the background job to end");
  });

  it("treats the shell exiting on its own (exit) as a crash that can be recovered", async () => {
    open();
    const session = await h.live.start({ kind: "shell", name: "c" });
    const result = await h.live.exec("c", "echo bye; exit 3");
    expect(result).toMatchObject({ status: "error", exit_code: 3, stdout: "bye\n" });
    await eventually(async () => (await status("c")) === "crashed", 3000, "the crash");
    const [crash] = await h.manager.listEvents(session.id, { types: ["crash"] });
    expect(crash!.data.reason).toBe("the shell process exited unexpectedly (exit code 3)");
    await h.live.recover("c");
    expect((await h.live.exec("c", "echo back")).stdout).toBe("back\n");
  });

  it("recovers a crashed shell in its last working directory with its exported environment", async () => {
    open();
    const session = await h.live.start({ kind: "shell", name: "r", env: { GIVEN: "at start" } });
    await h.live.exec("r", "mkdir -p deep/er && cd deep/er");
    await h.live.exec("r", "export QUOTED='a b\"c$d' MULTI=$'line1\\nline2'; export PATH=\"$PATH:/opt/extra\"; unset GIVEN; NOT_EXPORTED=1");
    // A function that exports is not recognizable from its text: the periodic sync saves it.
    await h.live.exec("r", "setup() { export FROM_FUNCTION=yes; }");
    await h.live.exec("r", "setup");
    await eventually(async () => ((await h.manager.get("r")).runtime_metadata.env as Record<string, string>).FROM_FUNCTION === "yes", 3000, "the state sync");
    const saved = (await h.manager.get("r")).runtime_metadata;
    expect(saved.cwd).toMatch(/\/workspaces\/r\/deep\/er$/);
    expect(saved.env).toMatchObject({ QUOTED: 'a b"c$d', MULTI: "line1\nline2", FROM_FUNCTION: "yes" });
    expect(saved.env).not.toHaveProperty("GIVEN");
    const oldPid = saved.pid as number;
    process.kill(oldPid, "SIGKILL");
    await eventually(async () => (await status("r")) === "crashed", 3000, "the crash");

    const recovered = await h.live.recover("r");
    expect(recovered).toMatchObject({ status: "active", runtime_metadata: { restarts: 1 } });
    expect(recovered.runtime_metadata.pid).not.toBe(oldPid);
    const check = await h.live.exec("r", 'pwd; echo "$QUOTED|$MULTI|$FROM_FUNCTION|${GIVEN-unset}|${NOT_EXPORTED-unset}"; echo "$PATH" | grep -c /opt/extra; echo $SESSIOND_SESSION_ID');
    expect(check.stdout).toBe(`${saved.cwd}\na b"c$d|line1\nline2|yes|unset|unset\n1\n${session.id}\n`);
    const events = await h.manager.listEvents(session.id, { types: ["crash", "recover"] });
    expect(events.map((e) => e.type)).toEqual(["crash", "recover"]);
  });

  it("refuses to recover a session that is not crashed", async () => {
    open();
    await h.live.start({ kind: "shell", name: "ok" });
    expect(await failure(h.live.recover("ok"))).toMatchObject({ code: "invalid_transition", status: 409 });
  });

  it("restarts the process when a crashed session is recovered through the SessionManager directly", async () => {
    open();
    const session = await h.live.start({ kind: "shell", name: "g" });
    await h.live.exec("g", "cd /tmp");
    process.kill(session.runtime_metadata.pid as number, "SIGKILL");
    await eventually(async () => (await status("g")) === "crashed", 3000, "the crash");
    await h.manager.recover("g");
    expect((await h.live.exec("g", "pwd")).stdout).toBe("/tmp\n");
  });

  it("takes an exec right after a crash by hand and a recover, once the crashed process is wound up", async () => {
    open();
    const session = await h.live.start({ kind: "python", name: "byhand" });
    await h.live.exec("byhand", "x = 41");
    // The crash ends a process that is still running: its state is saved, then it is stopped.
    await h.manager.crash(session.id, "by hand");
    await h.manager.recover(session.id);
    expect(await h.live.exec("byhand", "print(1 + 1)")).toMatchObject({ status: "ok", stdout: "2\n" });
  });

  it("stops the process when the session is completed, crashed or deleted through the SessionManager directly", async () => {
    open();
    const a = await h.live.start({ kind: "shell", name: "a" });
    const b = await h.live.start({ kind: "shell", name: "b" });
    const c = await h.live.start({ kind: "shell", name: "c" });
    await h.manager.complete("a");
    await h.manager.update("b", { status: "crashed" });
    await h.manager.delete("c");
    await eventually(() => h.live.liveCount === 0, 3000, "the processes to stop");
    for (const s of [a, b, c]) expect(alive(s.runtime_metadata.pid as number)).toBe(false);
    expect(await status("a")).toBe("completed");
    expect(await status("b")).toBe("crashed");
  });

  it("after a server restart, marks sessions that were live crashed, kills what they left, and recovers them", async () => {
    open();
    const shell = await h.live.start({ kind: "shell", name: "before" });
    await h.live.exec("before", "cd /tmp && export AFTER=restart");
    const paused = await h.live.start({ kind: "shell", name: "paused" });
    await h.manager.pause("paused");
    const agent = await h.manager.create({ name: "agent-record" });
    // A server that dies leaves its shells running: a second LiveSessions on the same store
    // stands in for the restarted server while the first one's processes are still alive.
    const old = h.live;
    h.live = h.openLive();
    expect(await failure(h.live.exec("before", "true"))).toMatchObject({ code: "session_not_active" });
    const marked = await h.live.markOrphansCrashed();
    expect(marked.map((s) => s.name).sort()).toEqual(["paused"]);
    expect(await status("before")).toBe("crashed"); // marked already by the refused exec
    expect((await h.manager.get(agent.id)).status).toBe("active");
    for (const s of [shell, paused]) await eventually(() => !alive(s.runtime_metadata.pid as number), 3000, "the old shells to be killed");
    await eventually(() => old.liveCount === 0, 3000, "the old server to notice");
    await old.close();
    const [crash] = await h.manager.listEvents(paused.id, { types: ["crash"] });
    expect(crash!.data.reason).toBe("sessiond restarted; the process is gone");
    await h.live.recover("before");
    expect((await h.live.exec("before", "echo $PWD $AFTER")).stdout).toBe("/tmp restart\n");
  });

  it("after a server is killed with kill -9, marks its shell crashed, kills the job it left, and recovers cwd and env", async () => {
    open();
    await h.live.close();
    await h.manager.close();
    const server = spawn(process.execPath, [FIXTURE, h.home.home], { stdio: ["ignore", "pipe", "inherit"] });
    let line = "";
    server.stdout!.on("data", (d: Buffer) => (line += d.toString()));
    await eventually(() => line.includes("\n"), 20_000, "the stand-in server");
    const printed = JSON.parse(line) as { shell: number; job: number; runtime_metadata: Session["runtime_metadata"] };
    const started = { shell: printed.shell, job: hostPid(printed, printed.job) };
    h.pids.add(started.shell);
    expect(alive(started.job)).toBe(true);
    server.kill("SIGKILL");
    await once(server, "exit");

    h.manager = h.openManager();
    h.live = h.openLive();
    const marked = await h.live.markOrphansCrashed();
    expect(marked.map((s) => [s.name, s.status])).toEqual([["survivor", "crashed"]]);
    await eventually(() => !alive(started.job) && !alive(started.shell), 3000, "what the dead server left to be killed");
    await h.live.recover("survivor");
    expect((await h.live.exec("survivor", "echo $PWD $KEPT")).stdout).toBe("/tmp yes\n");
  });

  it("marks every live session crashed when it closes, so that they recover after the next start", async () => {
    open();
    await h.live.start({ kind: "shell", name: "s" });
    await h.live.exec("s", "cd /tmp");
    await h.live.close();
    expect(await status("s")).toBe("crashed");
    const [crash] = await h.manager.listEvents("s", { types: ["crash"] });
    expect(crash!.data.reason).toBe("sessiond shut down");
    h.live = h.openLive();
    await h.live.recover("s");
    expect((await h.live.exec("s", "pwd")).stdout).toBe("/tmp\n");
  });

  it("fails a session whose shell cannot start, with spawn_failed", async () => {
    open({ shellPath: "/nonexistent/bash" });
    const err = await failure(h.live.start({ kind: "shell", name: "broken" }));
    expect(err).toMatchObject({ code: "spawn_failed", status: 500 });
    const session = await h.manager.get("broken");
    expect(session.status).toBe("failed");
    expect(session.error).toMatch(/could not start/);
    expect(h.live.liveCount).toBe(0);
  });
});
