import { afterEach, describe, expect, it, vi } from "vitest";
import type { OutputEvent } from "../../src/drivers/index.js";
import { toActivity } from "../../src/cli/move/layouts.js";
import { readStat } from "../../src/drivers/process-tree.js";
import { LiveHarness, alive, eventually, failure } from "./harness.js";

vi.setConfig({ testTimeout: 30_000 });

describe("python sessions", () => {
  let h: LiveHarness;
  const open = async (flags: Record<string, unknown> = {}) => {
    h = new LiveHarness(flags);
    return h.live.start({ kind: "python" });
  };
  afterEach(async () => {
    await h?.close();
  });

  it("works like a REPL: statements persist, the last expression's repr is shown, None is not", async () => {
    const s = await open();
    expect((await h.live.exec(s.id, "x = 41")).stdout).toBe("");
    expect((await h.live.exec(s.id, "x += 1\nx")).stdout).toBe("42\n");
    expect((await h.live.exec(s.id, "'ab' * 2")).stdout).toBe("'abab'\n");
    expect((await h.live.exec(s.id, "None")).stdout).toBe("");
    const result = await h.live.exec(s.id, "import math\ndef double(n):\n    return n * 2\n");
    expect(result).toMatchObject({ status: "ok", exit_code: 0 });
    expect((await h.live.exec(s.id, "double(math.pi) > 6")).stdout).toBe("True\n");
  });

  it("captures stdout and stderr separately", async () => {
    const s = await open();
    const result = await h.live.exec(s.id, "import sys\nprint('to out')\nprint('to err', file=sys.stderr)\nprint('out again')");
    expect(result).toMatchObject({ status: "ok", stdout: "to out\nout again\n", stderr: "to err\n" });
  });

  it("counts executions: In and Out hold each cell's code and value", async () => {
    const s = await open();
    await h.live.exec(s.id, "1 + 1");
    await h.live.exec(s.id, "print('no value')");
    expect((await h.live.exec(s.id, "Out[1] * 10, len(In) - 1, In[2]")).stdout).toBe("(20, 3, \"print('no value')\")\n");
  });

  it("returns an exception's traceback as an error result, and the session lives on", async () => {
    const s = await open();
    await h.live.exec(s.id, "def inner():\n    return 1 / 0");
    const result = await h.live.exec(s.id, "y = 5\ninner()");
    expect(result).toMatchObject({ status: "error", exit_code: 1, stdout: "" });
    expect(result.stderr).toContain("Traceback (most recent call last)");
    expect(result.stderr).toContain('File "<cell 2>", line 2');
    expect(result.stderr).toContain('File "<cell 1>", line 2, in inner');
    expect(result.stderr).toContain("ZeroDivisionError: division by zero");
    expect(result.stderr).not.toContain("helper.py");
    expect((await h.live.exec(s.id, "y")).stdout).toBe("5\n");
  });

  it("reports a syntax error as a result naming its line and column", async () => {
    const s = await open();
    const result = await h.live.exec(s.id, "a = 1\nb = (2 +\n");
    expect(result.status).toBe("error");
    expect(result.stderr).toMatch(/SyntaxError: .* \(line 2, column \d+\)\n$/);
    expect((await h.live.exec(s.id, "1")).stdout).toBe("1\n");
  });

  it("gives input() a clear error instead of waiting for a terminal", async () => {
    const s = await open();
    const result = await h.live.exec(s.id, "name = input('name? ')");
    expect(result.status).toBe("error");
    expect(result.stdout).toBe("name? ");
    expect(result.stderr).toContain("input() is not available in a sessiond python session");
    const read = await h.live.exec(s.id, "import sys\nsys.stdin.read()");
    expect(read.stderr).toContain("StdinUnavailable");
  });

  it("runs top-level await", async () => {
    const s = await open();
    expect((await h.live.exec(s.id, "import asyncio\nawait asyncio.sleep(0)\n'awaited'")).stdout).toBe("'awaited'\n");
  });

  it("streams output as the cell prints it, and interrupts it on request (KeyboardInterrupt), staying usable", async () => {
    const s = await open();
    const chunks: OutputEvent[] = [];
    h.live.onOutput((e) => chunks.push(e));
    const running = h.live.exec(s.id, "import time\nprint('started')\nwhile True:\n    time.sleep(0.01)");
    // print() writes the text and the newline separately: they may arrive as one chunk or two.
    await eventually(() => chunks.filter((c) => c.session_id === s.id).map((c) => c.data.toString()).join("") === "started\n");
    expect((await h.live.interrupt(s.id)).interrupted).toBe(true);
    const result = await running;
    expect(result).toMatchObject({ status: "interrupted", stdout: "started\n" });
    expect(result.stderr).toContain("KeyboardInterrupt");
    // The traceback ends at the user's cell, not in the helper's signal handler.
    expect(result.stderr).not.toContain("helper.py");
    expect(result.stderr).toContain('File "<cell');
    expect((await h.live.exec(s.id, "'alive'")).stdout).toBe("'alive'\n");
  });

  it("interrupts a busy loop at its timeout", async () => {
    const s = await open();
    const result = await h.live.exec(s.id, "n = 0\nwhile True:\n    n += 1", { timeout_ms: 300 });
    expect(result.status).toBe("timeout");
    expect(result.stderr).toContain("KeyboardInterrupt");
    expect(result.stderr).not.toContain("helper.py");
    expect((await h.live.exec(s.id, "n > 0")).stdout).toBe("True\n");
  });

  it("cuts output at the cap and says so", async () => {
    const s = await open({ maxExecOutputBytes: 1000 });
    const result = await h.live.exec(s.id, "print('x' * 100_000)");
    expect(result.truncated).toBe(true);
    expect(result.stdout.length).toBeLessThanOrEqual(1000);
  });

  it("refuses an input over the cap with 413", async () => {
    const s = await open({ maxExecInputBytes: 64 });
    const err = await failure(h.live.exec(s.id, `x = '${"a".repeat(100)}'`));
    expect(err).toMatchObject({ code: "too_large", status: 413, field: "input" });
  });

  it("follows the working directory for recovery", async () => {
    const s = await open();
    await h.live.exec(s.id, "import os\nos.chdir('/tmp')");
    expect(h.live.describe(s.id)!.cwd).toBe("/tmp");
    await eventually(async () => (await h.manager.get(s.id)).runtime_metadata.cwd === "/tmp");
  });

  it("ends the exec with an error and crashes the session when the helper dies mid-cell, and recovers", async () => {
    const s = await open();
    await h.live.exec(s.id, "kept = 1");
    const result = await h.live.exec(s.id, "import os, signal\nprint('bye', flush=True)\nos.kill(os.getpid(), signal.SIGKILL)");
    expect(result).toMatchObject({ status: "error", exit_code: null, stdout: "bye\n" });
    await eventually(async () => (await h.manager.get(s.id)).status === "crashed");
    const recovered = await h.live.recover(s.id);
    expect(recovered.status).toBe("active");
    // A plain recover restarts the interpreter: the namespace is new (replay brings it back: replay.test.ts).
    expect((await h.live.exec(s.id, "'kept' in dir()")).stdout).toBe("False\n");
  });

  it("ends only the session whose code writes a reply line past any of the helper's on its fd 4", async () => {
    const s = await open();
    const other = await h.live.start({ kind: "python" });
    await h.live.exec(other.id, "y = 7");
    // 20 MiB with no newline, then more: held whole, lines like it would grow the server past V8's longest string.
    const result = await h.live.exec(s.id, "import os\nchunk = b'x' * (4 << 20)\nfor _ in range(5): os.write(4, chunk)\nos.write(4, b'\\n')");
    expect(result).toMatchObject({ status: "error", exit_code: null });
    await eventually(async () => (await h.manager.get(s.id)).status === "crashed");
    expect((await h.live.exec(other.id, "y")).stdout).toBe("7\n");
    await h.live.recover(s.id);
    expect((await h.live.exec(s.id, "1 + 1")).stdout).toBe("2\n");
  });

  it.each([
    ["empty lines", "os.write(4, b'\\n' * (1 << 20))"],
    ["a line that is not JSON", "os.write(4, b'not json\\n')"],
    ["a reply nobody waits for", "os.write(4, b'{\"id\": 999999, \"ok\": true}\\n')"],
  ])("ends the helper, and only it, when its code writes %s on its fd 4", async (_what, write) => {
    const s = await open();
    const other = await h.live.start({ kind: "python" });
    await h.live.exec(other.id, "y = 7");
    // The cell goes on writing: the helper is ended on the first line, not once the flood is read.
    const result = await h.live.exec(s.id, `import os, time\nfor _ in range(64): ${write}\ntime.sleep(30)`);
    expect(result).toMatchObject({ status: "error", exit_code: null });
    await eventually(async () => (await h.manager.get(s.id)).status === "crashed");
    expect((await h.live.exec(other.id, "y")).stdout).toBe("7\n");
  });

  it("runs the helper in a session and process group of its own, not the server's", async () => {
    const s = await open();
    const pid = h.live.describe(s.id)!.pid!;
    const server = readStat(process.pid)!;
    const helper = readStat(pid)!;
    expect(helper.session).not.toBe(server.session);
    expect(helper.pgrp).not.toBe(server.pgrp);
    // Unsandboxed the helper leads them; in the sandbox, it or bubblewrap's init (its parent) does.
    expect([pid, helper.ppid]).toContain(helper.session);
    expect((await h.manager.get(s.id)).runtime_metadata).toMatchObject({ pid, interpreter: expect.stringMatching(/^python 3\./) });
  });

  it("is reaped by the idle limit like a shell", async () => {
    const s = await open({ idleTimeoutMs: 200 });
    const pid = h.live.describe(s.id)!.pid!;
    const ended = await eventually(async () => {
      const session = await h.manager.get(s.id);
      return session.status === "timeout" ? session : undefined;
    });
    expect(ended.status).toBe("timeout");
    await eventually(() => !alive(pid));
  });

  it("fails the start with spawn_failed when the interpreter cannot run", async () => {
    h = new LiveHarness({ pythonPath: "/nonexistent/python3" });
    const err = await failure(h.live.start({ kind: "python", name: "no-python" }));
    expect(err).toMatchObject({ code: "spawn_failed", status: 500 });
    expect((await h.manager.get("no-python")).status).toBe("failed");
  });

  it("fails the start with spawn_failed when the interpreter exits at once, naming how", async () => {
    h = new LiveHarness({ pythonPath: "/bin/false" });
    const err = await failure(h.live.start({ kind: "python", name: "exits" }));
    expect(err).toMatchObject({ code: "spawn_failed", status: 500, message: expect.stringContaining("it exited (code 1)") });
    expect((await h.manager.get("exits")).status).toBe("failed");
  });

  it("pauses (SIGSTOP) and resumes with the session, the namespace intact", async () => {
    const s = await open();
    await h.live.exec(s.id, "kept = 'yes'");
    const pid = h.live.describe(s.id)!.pid!;
    await h.manager.pause(s.id);
    await eventually(() => readStat(pid)?.state === "T");
    await h.manager.resume(s.id);
    await eventually(() => readStat(pid)?.state !== "T");
    expect((await h.live.exec(s.id, "kept")).stdout).toBe("'yes'\n");
  });

  it("kills what a running cell started, keeping the interpreter and its namespace", async () => {
    const s = await open();
    await h.live.exec(s.id, "kept = 1");
    const chunks: string[] = [];
    h.live.onOutput((e) => chunks.push(e.data.toString()));
    const running = h.live.exec(s.id, "import subprocess\nprint('go', flush=True)\nsubprocess.run(['sleep', '1000'])");
    await eventually(() => chunks.join("").includes("go\n"), 5_000, `go in ${JSON.stringify(chunks)}`);
    const execId = h.live.describe(s.id)!.running_exec_id!;
    expect(await h.live.signalExec(s.id, execId, "kill")).toMatchObject({ signalled: true });
    expect((await running).status).toBe("interrupted");
    expect((await h.live.exec(s.id, "kept")).stdout).toBe("1\n");
  });

  it("exports to seed 000's activity layout like a shell session (mode python, one file per cell)", async () => {
    const s = await open();
    await h.live.exec(s.id, "a = 1");
    await h.live.exec(s.id, "a + 1");
    await h.live.stop(s.id);
    const files = toActivity(await h.manager.get(s.id), await h.manager.listEvents(s.id, { limit: 1000 }), []);
    expect(files.meta).toMatchObject({ id: s.id, mode: "python", server: "local", execs: 2 });
    expect(files.execs.map((e) => [e.input, e.stdout, e.status])).toEqual([
      ["a = 1", "", "ok"],
      ["a + 1", "2\n", "ok"],
    ]);
  });

  it("stops everything a cell started", async () => {
    const s = await open();
    await h.live.exec(s.id, "import subprocess\np = subprocess.Popen(['sleep', '1000'])\nq = subprocess.Popen('sleep 1000 &', shell=True)");
    await h.live.stop(s.id);
    // h.close() asserts that nothing of the session's process group is left.
  });
});
