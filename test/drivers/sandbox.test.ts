import { mkdtempSync, readFileSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir, totalmem } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { checkSandbox, probeSandbox } from "../../src/drivers/sandbox/index.js";
import { sandboxWarning } from "../../src/cli/config.js";
import { LiveHarness, eventually, failure, processesOfUid, uniqueUidBase } from "./harness.js";

const sandbox = checkSandbox();

describe("whether the sandbox can start", () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });
  const emptyDir = () => {
    const dir = mkdtempSync(join(tmpdir(), "sessiond-probe-"));
    dirs.push(dir);
    return dir;
  };

  it("names what the host lacks: Linux, root, bubblewrap, setpriv — in that order", () => {
    expect(probeSandbox({ platform: "darwin", uid: 0, programDirs: [] })).toEqual({ ok: false, missing: expect.stringContaining("Linux namespaces") });
    expect(probeSandbox({ platform: "linux", uid: 1000, programDirs: ["/usr/bin"] })).toEqual({ ok: false, missing: expect.stringMatching(/^root:/) });
    expect(probeSandbox({ platform: "linux", uid: 0, programDirs: [emptyDir()] })).toEqual({ ok: false, missing: expect.stringMatching(/^bubblewrap/) });
    const onlyBwrap = emptyDir();
    symlinkSync("/usr/bin/bwrap", join(onlyBwrap, "bwrap"));
    expect(probeSandbox({ platform: "linux", uid: 0, programDirs: [onlyBwrap] })).toEqual({ ok: false, missing: expect.stringMatching(/^setpriv/) });
  });

  it.runIf(sandbox.ok)("starts a trial sandbox where everything is there", () => {
    expect(probeSandbox({ platform: "linux", uid: 0, programDirs: ["/usr/bin"] })).toEqual({
      ok: true,
      tools: { bwrap: "/usr/bin/bwrap", setpriv: "/usr/bin/setpriv" },
    });
  });
});

describe("live sessions and the sandbox setting", () => {
  let h: LiveHarness | undefined;
  afterEach(async () => {
    await h?.close();
    h = undefined;
  });

  it("refuses a live session with sandbox_unavailable naming what is missing, and starts nothing", async () => {
    h = new LiveHarness();
    h.live = h.openLive({ sandboxCheck: () => ({ ok: false, missing: "bubblewrap (the bwrap program: apt-get install bubblewrap)" }) });
    const err = await failure(h.live.start({ kind: "shell", name: "nope" }));
    expect(err).toMatchObject({ code: "sandbox_unavailable", status: 503, message: expect.stringContaining("bubblewrap") });
    expect(err.message).toContain('sandbox: "none"');
    expect(h.pids.size).toBe(0);
    expect((await h.manager.list({ kind: ["shell"] })).items).toEqual([]);
  });

  it('runs sessions as the server\'s user with sandbox: "none", and says so in the start answer and in sessiond config', async () => {
    h = new LiveHarness({ sandbox: "none" });
    const session = await h.live.start({ kind: "shell", name: "open" });
    expect(session.runtime_metadata).toMatchObject({ sandbox: "none", warning: expect.stringContaining("unsandboxed") });
    expect(session.runtime_metadata).not.toHaveProperty("sandbox_uid");
    expect((await h.live.exec("open", "id -u")).stdout).toBe(`${process.getuid!()}\n`);
    expect(sandboxWarning(h.config)).toMatch(/sandbox is "none"/);
  });

  it.runIf(sandbox.ok)("puts a session's process, memory and CPU limits in its cgroup, and every session's memory under one cap", async () => {
    h = new LiveHarness({ shellMaxProcesses: 50, sessionMemoryBytes: 128 * 1024 * 1024, sessionCpus: 0.5 });
    const session = await h.live.start({ kind: "python", name: "limited" });
    const cgroup = session.runtime_metadata.cgroup as string;
    const read = (controller: string, file: string) => readFileSync(cgroup.replace("/pids/", `/${controller}/`) + `/${file}`, "utf8").trim();
    if (cgroup.startsWith("/sys/fs/cgroup/pids/")) {
      expect(read("pids", "pids.max")).toBe("50");
      expect(read("memory", "memory.limit_in_bytes")).toBe(String(128 * 1024 * 1024));
      expect(read("cpu", "cpu.cfs_quota_us")).toBe("50000");
    } else {
      expect(readFileSync(`${cgroup}/pids.max`, "utf8").trim()).toBe("50");
      expect(readFileSync(`${cgroup}/memory.max`, "utf8").trim()).toBe(String(128 * 1024 * 1024));
      expect(readFileSync(`${cgroup}/cpu.max`, "utf8").trim()).toBe("50000 100000");
    }
    expect(session.runtime_metadata).toMatchObject({ sandbox: "bwrap", sandbox_uid: expect.any(Number), network: true });
    // Every session together: the parent cgroup holds sessionsMemoryPercent (75) of the machine's memory.
    const total = Math.floor((totalmem() * 75) / 100);
    const parent = cgroup.startsWith("/sys/fs/cgroup/pids/") ? "/sys/fs/cgroup/memory/sessiond/memory.limit_in_bytes" : `${join(cgroup, "..")}/memory.max`;
    expect(readFileSync(parent, "utf8").trim()).toBe(String(total - (total % 4096)));
  });

  it.runIf(sandbox.ok)("keeps a recovered session on its uid and its network off, and its stop leaves nothing", async () => {
    h = new LiveHarness({ sandboxUidBase: uniqueUidBase() });
    const first = await h.live.start({ kind: "shell", name: "again", network: false });
    const uid = first.runtime_metadata.sandbox_uid as number;
    process.kill(first.runtime_metadata.pid as number, "SIGKILL");
    for (let i = 0; i < 200 && (await h.manager.get("again")).status !== "crashed"; i++) await new Promise((r) => setTimeout(r, 10));
    const recovered = await h.live.recover("again");
    expect(recovered.runtime_metadata).toMatchObject({ sandbox_uid: uid, network: false });
    expect((await h.live.exec("again", "id -u; tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '")).stdout).toBe(`${uid}\nlo\n`);
    await h.live.exec("again", "setsid sleep 999 & sleep 1000 &");
    await h.live.stop("again");
    expect(processesOfUid(uid)).toEqual([]);
  });

  it.runIf(sandbox.ok)("caps each file a session writes at sessionDiskBytes, and stops a session whose workspace fills past it", async () => {
    const MiB = 1024 * 1024;
    h = new LiveHarness({ sessionDiskBytes: MiB, diskCheckIntervalMs: 50 });
    await h.live.start({ kind: "shell", name: "disk" });
    // The kernel stops the write at the cap (head dies of SIGXFSZ: 128 + 25); in /tmp, so the workspace stays small.
    const big = await h.live.exec("disk", "head -c 3000000 /dev/zero > /tmp/big; echo $?; stat -c %s /tmp/big");
    expect(big.stdout).toBe(`153\n${MiB}\n`);
    expect((await h.manager.get("disk")).status).toBe("active");
    // Several files each under the cap, together over it: the next check stops the session.
    await h.live.exec("disk", "for i in 1 2 3; do head -c 900000 /dev/urandom > files/part$i; done");
    const ended = await eventually(async () => {
      const session = await h!.manager.get("disk");
      return session.status === "timeout" ? session : undefined;
    }, 5000, "the disk check");
    const [timeout] = await h.manager.listEvents(ended.id, { types: ["timeout"] });
    expect(timeout!.data.reason).toMatch(/^disk_limit: the workspace holds more than 1048576 bytes/);
  });

  it.runIf(sandbox.ok)("recovers a session whose kept cwd leads, through a link in its workspace, out of what the sandbox shows into its workspace, whether or not that host folder exists", async () => {
    h = new LiveHarness({ sandboxUidBase: uniqueUidBase() });
    const outside = mkdtempSync(join(tmpdir(), "sessiond-outside-"));
    try {
      const session = await h.live.start({ kind: "shell", name: "planted" });
      const workspace = session.workspace!;
      // What its code can do: a link to the host's root in its workspace, and (through the
      // helper's reply pipe of an interpreter) a kept cwd through it.
      await h.live.exec("planted", "ln -s / L");
      const crash = async () => {
        process.kill((await h!.manager.get("planted")).runtime_metadata.pid as number, "SIGKILL");
        await eventually(async () => (await h!.manager.get("planted")).status === "crashed", 5000, "the crash");
      };
      for (const kept of [join(workspace, "L", outside), join(workspace, "L", outside, "missing")]) {
        await crash();
        await h.manager.update("planted", { runtime_metadata: { ...(await h.manager.get("planted")).runtime_metadata, cwd: kept } });
        await h.live.recover("planted");
        expect((await h.live.exec("planted", "pwd")).stdout, kept).toBe(`${workspace}\n`);
      }
      // A link that leads where the sandbox shows is kept: the sandbox follows it there too.
      await crash();
      await h.manager.update("planted", { runtime_metadata: { ...(await h.manager.get("planted")).runtime_metadata, cwd: join(workspace, "L", "usr") } });
      await h.live.recover("planted");
      expect((await h.live.exec("planted", "pwd -P")).stdout).toBe("/usr\n");
    } finally {
      rmSync(outside, { recursive: true, force: true });
    }
  });

  it("refuses a start cwd the sandbox would not show, naming cwd", async () => {
    h = new LiveHarness();
    const outside = mkdtempSync(join(tmpdir(), "sessiond-outside-"));
    try {
      const err = await failure(h.live.start({ kind: "shell", cwd: outside }));
      if (h.config.sandbox === "bwrap" && sandbox.ok) expect(err).toMatchObject({ code: "validation", field: "cwd" });
    } finally {
      rmSync(outside, { recursive: true, force: true });
    }
  });
});
