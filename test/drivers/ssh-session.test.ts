import { readdirSync, realpathSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { readStat } from "../../src/drivers/process-tree.js";
import { LiveHarness, alive, eventually, failure } from "./harness.js";
import { TestSshd, sshdMissing } from "./sshd.js";

const missing = sshdMissing();
if (missing) console.log(`skipping the ssh target tests: ${missing}`);

describe.skipIf(missing !== undefined)("a live shell session over ssh (a real sshd on loopback)", () => {
  let sshd: TestSshd;
  let h: LiveHarness;
  beforeAll(async () => {
    sshd = new TestSshd();
    await sshd.start();
  });
  afterAll(async () => {
    await sshd?.close();
  });
  beforeEach(() => {
    // This machine's ~/.bashrc (sourced by bash for every ssh channel) takes seconds.
    // Ctrl-C crosses the network and this machine is shared: the default interrupt grace, not the fast one.
    h = new LiveHarness({ startTimeoutMs: 30_000, interruptGraceMs: 2_000, ssh: { runtimeDir: sshd.remoteRuntimeDir } });
  });
  afterEach(async () => {
    await h.close();
    // Every session's remote runtime folder is gone, even after a dropped connection.
    await eventually(() => readdirSync(sshd.remoteRuntimeDir).length === 0, 5000, "the remote runtime folders to go");
  });

  const start = (name: string, extra: Record<string, unknown> = {}) =>
    h.live.start({ kind: "shell", name, server: "ssh", server_options: sshd.options(), ...extra });
  const status = async (name: string) => (await h.manager.get(name)).status;

  it("runs the same shell: markers, exit codes, stderr, cwd and env across execs; no key or host in the record", async () => {
    const session = await start("s1");
    expect(session).toMatchObject({ status: "active", server: "ssh", runtime_metadata: { target: "ssh" } });
    const record = JSON.stringify(await h.manager.get("s1"));
    expect(record).not.toContain(sshd.keyPath);
    expect(record).not.toContain("PRIVATE KEY");
    const tmp = realpathSync(tmpdir());
    await h.live.exec("s1", `cd ${tmp} && export SSH_VAR=kept && f() { echo "fn:$1"; }`);
    const r = await h.live.exec("s1", 'pwd; echo "$SSH_VAR"; f x; echo to-err >&2; (exit 7)');
    expect(r).toMatchObject({ stdout: `${tmp}\nkept\nfn:x\n`, stderr: "to-err\n", exit_code: 7, status: "error" });
    // A command printing something shaped like a marker does not end the exec.
    const fooled = await h.live.exec("s1", "printf '\\033]6973;deadbeef;0;\\a'; echo still");
    expect(fooled.stdout).toContain("still\n");
    expect(h.live.describe("s1")?.cwd).toBe(tmp);
  });

  it("interrupts a running command and stays usable", async () => {
    await start("s2");
    const running = h.live.exec("s2", "sleep 100");
    await eventually(() => h.live.describe("s2")?.running_exec_id, 3000, "the exec to run");
    await eventually(async () => (await h.live.interrupt("s2")).interrupted, 3000, "an interrupt");
    expect(await running).toMatchObject({ status: "interrupted" });
    expect((await h.live.exec("s2", "echo back")).stdout).toBe("back\n");
  });

  it("stop kills the remote processes, background jobs included", async () => {
    await start("s3");
    const r = await h.live.exec("s3", "sleep 1000 & echo $!");
    const job = Number(r.stdout.trim());
    expect(alive(job)).toBe(true);
    const shellPid = h.live.describe("s3")!.pid!;
    h.pids.add(shellPid);
    await h.live.stop("s3");
    await eventually(() => !alive(job), 3000, "the background job to die");
    expect(alive(shellPid)).toBe(false);
    expect(await status("s3")).toBe("completed");
  });

  it("shows a dropped connection as a crash, and recovers with the last cwd and environment", async () => {
    await start("s4");
    const tmp = realpathSync(tmpdir());
    await h.live.exec("s4", `cd ${tmp}; export AFTER_CRASH=yes`);
    await eventually(async () => (await h.manager.get("s4")).runtime_metadata.env?.["AFTER_CRASH" as never] === "yes", 5000, "the state to be saved");
    const shellPid = h.live.describe("s4")!.pid!;
    h.pids.add(shellPid);
    // The sshd process serving this connection is the remote shell's parent: killing it drops the connection.
    const serving = readStat(shellPid)!.ppid;
    process.kill(serving, "SIGKILL");
    await eventually(async () => (await status("s4")) === "crashed", 5000, "the crash");
    await h.live.recover("s4");
    const newPid = h.live.describe("s4")!.pid!;
    h.pids.add(newPid);
    const r = await h.live.exec("s4", 'pwd; echo "$AFTER_CRASH"');
    expect(r.stdout).toBe(`${tmp}\nyes\n`);
  });

  it("has a terminal tap over ssh too", async () => {
    await start("s5");
    const tap = await h.live.terminal("s5");
    const seen: Buffer[] = [];
    const off = tap.onData((d) => seen.push(Buffer.from(d)));
    tap.write("echo tapped-$((2+3))\r");
    await eventually(() => Buffer.concat(seen).toString().includes("tapped-5"), 5000, "the typed command's output");
    off();
    expect((await h.live.exec("s5", "echo fine")).stdout).toBe("fine\n");
  });

  it("does interactive work remotely: stdin, kill one exec, background jobs listed and killed, pause/resume, log activity", async () => {
    await h.live.close();
    let now = 5_000_000;
    h.live = h.openLive({ clock: () => now });
    await start("s7");
    const asked = await h.live.submit("s7", 'read -r x; echo "got $x"', { stdin: true });
    await eventually(async () => (await h.live.execStatus("s7", asked.exec_id)).state === "running", 5000, "the exec to run");
    // What `read` leaves unread is dropped, never run by the remote bash.
    await h.live.stdin("s7", asked.exec_id, "remote-input\necho ran > left-over\n");
    expect((await asked.done).stdout).toBe("got remote-input\n");
    expect((await h.live.exec("s7", "cat left-over 2>/dev/null; echo next")).stdout).toBe("next\n");
    // A kill ends the whole command line there.
    const stubborn = await h.live.submit("s7", "(trap '' INT; sleep 100); echo went-on");
    await eventually(async () => (await h.live.execStatus("s7", stubborn.exec_id)).state === "running", 5000, "the exec to run");
    await h.live.signalExec("s7", stubborn.exec_id, "kill");
    expect(await stubborn.done).toMatchObject({ status: "interrupted", stdout: expect.not.stringContaining("went-on") });
    const job = (await h.live.exec("s7", "sleep 1000", { background: true })) as unknown as { pid: number };
    const other = Number((await h.live.exec("s7", "sleep 1001 & echo $!")).stdout.trim());
    const listed = await h.live.processes("s7");
    expect(listed.map((p) => p.pid)).toEqual(expect.arrayContaining([job.pid, other]));
    await h.manager.pause("s7");
    await eventually(() => readStat(job.pid)?.state === "T" && readStat(other)?.state === "T", 5000, "the remote jobs to stop");
    await h.manager.resume("s7");
    await eventually(() => readStat(job.pid)?.state !== "T", 5000, "the remote jobs to continue");
    // A background job's log growing on the remote host is activity.
    const trigger = join(h.home.home, "go-remote");
    await h.live.exec("s7", `while [ ! -e ${trigger} ]; do sleep 0.02; done; echo out`, { background: true });
    now += 700;
    writeFileSync(trigger, "");
    await eventually(() => Date.parse(h.live.describe("s7")!.last_activity_at) === now, 10_000, "the remote log's growth to count");
    await h.live.killProcess("s7", job.pid);
    await eventually(() => !alive(job.pid), 5000, "the killed job to end");
    expect((await h.live.exec("s7", "echo ok")).stdout).toBe("ok\n");
    h.pids.add(h.live.describe("s7")!.pid!);
    await h.live.stop("s7");
    await eventually(() => !alive(other), 5000, "the other job to end at stop");
  });

  it("refuses bad ssh settings with precise errors", async () => {
    expect(await failure(h.live.start({ kind: "shell", server: "ssh", server_options: { user: "x", private_key: "k" } }))).toMatchObject({
      code: "validation",
      field: "server_options.host",
    });
    expect(await failure(h.live.start({ kind: "shell", server: "ssh", server_options: { ...sshd.options(), private_key_path: "/nonexistent/key" } }))).toMatchObject({
      code: "validation",
      field: "server_options.private_key_path",
    });
    expect(await failure(h.live.start({ kind: "shell", server: "ssh", server_options: { ...sshd.options(), bogus: 1 } }))).toMatchObject({
      code: "validation",
      field: "server_options.bogus",
    });
    expect(await failure(h.live.start({ kind: "shell", server_options: { host: "x" } }))).toMatchObject({ code: "validation", field: "server_options" });
    const { host_key_sha256: _pinned, ...unpinned } = sshd.options();
    expect(await failure(h.live.start({ kind: "shell", server: "ssh", server_options: unpinned }))).toMatchObject({
      code: "validation",
      field: "server_options.host_key_sha256",
    });
    expect(await failure(h.live.start({ kind: "shell", server: "ssh", server_options: sshd.options({ host_key_sha256: "not-a-fingerprint" }) }))).toMatchObject({
      code: "validation",
      field: "server_options.host_key_sha256",
    });
    const wrongHost = await failure(start("s6", { server_options: sshd.options({ host_key_sha256: "SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" }) }));
    expect(wrongHost).toMatchObject({ code: "spawn_failed" });
    // The key the host presented, so that a person can check it and pin it.
    expect(wrongHost.message).toContain(`the host's key is ${sshd.hostKeySha256}`);
    expect(wrongHost.message).not.toContain("PRIVATE KEY");
    expect(await status("s6")).toBe("failed");
  });

  it("connects to a host whose key is not pinned only when config ssh.acceptUnknownHostKeys says so, or takes the pin from config", async () => {
    const { host_key_sha256: _pinned, ...unpinned } = sshd.options();
    await h.close();
    h = new LiveHarness({ startTimeoutMs: 30_000, ssh: { runtimeDir: sshd.remoteRuntimeDir, acceptUnknownHostKeys: true } });
    await h.live.start({ kind: "shell", name: "any-key", server: "ssh", server_options: unpinned });
    expect((await h.live.exec("any-key", "echo in")).stdout).toBe("in\n");
    await h.close();
    h = new LiveHarness({ startTimeoutMs: 30_000, ssh: { runtimeDir: sshd.remoteRuntimeDir, hostKeySha256: sshd.hostKeySha256 } });
    await h.live.start({ kind: "shell", name: "config-pin", server: "ssh", server_options: unpinned });
    expect((await h.live.exec("config-pin", "echo in")).stdout).toBe("in\n");
  });
});
