import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { cellsAt } from "../../../src/drivers/environment/index.js";
import { replayCells } from "../../../src/drivers/replay.js";
import { LiveHarness, eventually, failure } from "../harness.js";

vi.setConfig({ testTimeout: 60_000 });

/** The stdout of one cell. */
async function out(h: LiveHarness, id: string, cell: string): Promise<string> {
  const result = await h.live.exec(id, cell);
  expect(result.status, result.stderr).toBe("ok");
  return result.stdout;
}

describe("interpreter state in checkpoints: restore", () => {
  let h: LiveHarness;
  afterEach(async () => {
    await h?.close();
  });

  it("rebuilds a python session's variables as of the checkpoint, and a variable set after it is gone", async () => {
    h = new LiveHarness();
    const s = await h.live.start({ kind: "python" });
    await out(h, s.id, "import math\nx = 1\ndef f(n):\n    return n + x");
    const cp = await h.manager.createCheckpoint(s.id, { label: "one" });
    await out(h, s.id, "x = 5\ny = 2");
    const pidBefore = h.live.describe(s.id)!.pid;

    const { rebuild } = await h.live.rebuildAround(s.id, "restore", () => h.manager.restore(s.id, cp.id));
    expect(rebuild).toMatchObject({ reason: "restore", cells: 1, replayed: 1, failed: [], skipped: [] });
    expect(h.live.describe(s.id)!.pid).not.toBe(pidBefore);
    expect(await out(h, s.id, "(x, f(1), 'y' in dir(), math.floor(math.pi))")).toBe("(1, 2, False, 3)\n");
    // The rebuild is recorded after the restore, and the session says what it holds.
    const types = (await h.manager.listEvents(s.id, { after_seq: cp.seq })).map((e) => e.type);
    expect(types.indexOf("rebuild")).toBeGreaterThan(types.indexOf("restore"));
    expect((await h.manager.get(s.id)).runtime_metadata.rebuild).toMatchObject({ reason: "restore", replayed: 1 });
  });

  it("rebuilds a typescript session at the checkpoint", async () => {
    h = new LiveHarness();
    const s = await h.live.start({ kind: "typescript" });
    await out(h, s.id, "let total: number = 40;");
    const cp = await h.manager.createCheckpoint(s.id);
    await out(h, s.id, "total += 2; const later = true;");
    await h.live.rebuildAround(s.id, "restore", () => h.manager.restore(s.id, cp.id));
    expect(await out(h, s.id, "[total, typeof later]")).toBe("[ 40, 'undefined' ]\n");
  });

  it("restores twice: the second restore's cells are those of its own checkpoint, not of the history since the first", async () => {
    h = new LiveHarness();
    const s = await h.live.start({ kind: "python" });
    await out(h, s.id, "a = 1");
    const first = await h.manager.createCheckpoint(s.id);
    await out(h, s.id, "b = 2");
    await h.live.rebuildAround(s.id, "restore", () => h.manager.restore(s.id, first.id));
    await out(h, s.id, "c = 3");
    const second = await h.manager.createCheckpoint(s.id);
    await out(h, s.id, "d = 4");
    await h.live.rebuildAround(s.id, "restore", () => h.manager.restore(s.id, second.id));
    expect((await cellsAt(h.manager, s.id)).map((c) => c.input)).toEqual(["a = 1", "c = 3"]);
    expect(await out(h, s.id, "sorted(k for k in ('a', 'b', 'c', 'd') if k in globals())")).toBe("['a', 'c']\n");
  });

  it("reports a cell whose replay raises, and still runs the cells after it", async () => {
    h = new LiveHarness();
    const s = await h.live.start({ kind: "python" });
    // In the workspace: the one host folder the sandboxed session sees across its restarts.
    const flag = join(s.workspace!, "flag");
    await out(h, s.id, `import os\nflag = ${JSON.stringify(flag)}`);
    const once = await h.live.exec(s.id, "assert not os.path.exists(flag), 'already done'\nopen(flag, 'w').close()");
    expect(once.status).toBe("ok");
    await out(h, s.id, "after = 1");
    const cp = await h.manager.createCheckpoint(s.id);
    const { rebuild } = await h.live.rebuildAround(s.id, "restore", () => h.manager.restore(s.id, cp.id));
    expect(rebuild?.replayed).toBe(3);
    expect(rebuild?.failed).toEqual([{ seq: once.seq, status: "error", error: expect.stringContaining("AssertionError: already done") }]);
    expect(await out(h, s.id, "after")).toBe("1\n");
    const [event] = await h.manager.listEvents(s.id, { types: ["rebuild"] });
    expect(event!.data.failed).toEqual([expect.objectContaining({ seq: once.seq })]);
  });

  it("never runs again a cell sent with replay: false, nor one that failed, and reports both as skipped", async () => {
    h = new LiveHarness();
    const s = await h.live.start({ kind: "python" });
    const log = join(s.workspace!, "sent.log");
    await out(h, s.id, `log = ${JSON.stringify(log)}`);
    const charge = await h.live.exec(s.id, "open(log, 'a').write('charged\\n')\ncharged = True", { replay: false });
    expect(charge).toMatchObject({ status: "ok", replay: false });
    const broken = await h.live.exec(s.id, "1 / 0");
    const cp = await h.manager.createCheckpoint(s.id);
    const { rebuild } = await h.live.rebuildAround(s.id, "restore", () => h.manager.restore(s.id, cp.id));
    expect(rebuild).toMatchObject({
      cells: 3,
      replayed: 1,
      skipped: [
        { seq: charge.seq, reason: "replay_false" },
        { seq: broken.seq, reason: "failed" },
      ],
    });
    expect(readFileSync(log, "utf8")).toBe("charged\n");
    expect(await out(h, s.id, "'charged' in dir()")).toBe("False\n");
    // Recovery by replay skips it too.
    process.kill(h.live.describe(s.id)!.pid!, "SIGKILL");
    await eventually(async () => (await h.manager.get(s.id)).status === "crashed");
    await h.live.recover(s.id);
    const report = await replayCells(h.live, h.manager, s.id);
    expect(report.skipped).toEqual([
      { seq: charge.seq, reason: "replay_false" },
      { seq: broken.seq, reason: "failed" },
    ]);
    expect(readFileSync(log, "utf8")).toBe("charged\n");
  });

  it("refuses a restore while an exec runs, and leaves the interpreter as it was", async () => {
    h = new LiveHarness();
    const s = await h.live.start({ kind: "python" });
    await out(h, s.id, "import time\nx = 1");
    const cp = await h.manager.createCheckpoint(s.id);
    await out(h, s.id, "x = 2");
    const running = await h.live.submit(s.id, "time.sleep(0.5)");
    await eventually(() => h.live.describe(s.id)?.running_exec_id);
    const refused = await failure(h.live.rebuildAround(s.id, "restore", () => h.manager.restore(s.id, cp.id)));
    expect(refused).toMatchObject({ code: "conflict", status: 409 });
    expect((await running.done).status).toBe("ok");
    expect(await out(h, s.id, "x")).toBe("2\n");
  });

  it("leaves a paused session hibernated and paused by a restore; resumed, its next exec wakes it at the checkpoint", async () => {
    h = new LiveHarness();
    const s = await h.live.start({ kind: "python" });
    await out(h, s.id, "x = 1");
    const cp = await h.manager.createCheckpoint(s.id);
    await out(h, s.id, "x = 2");
    await h.manager.pause(s.id);
    await eventually(() => h.live.describe(s.id)?.paused);
    const { rebuild } = await h.live.rebuildAround(s.id, "restore", () => h.manager.restore(s.id, cp.id));
    expect(rebuild).toBeNull();
    expect((await h.manager.get(s.id)).runtime_metadata.hibernated).toMatchObject({ paused: true });
    expect(h.live.liveCount).toBe(0);
    await h.manager.resume(s.id);
    expect(await h.live.exec(s.id, "x")).toMatchObject({ stdout: "1\n", woke: { replayed: 1 } });
  });

  it("brings the interpreter back as it was when the change around it is refused", async () => {
    h = new LiveHarness();
    const s = await h.live.start({ kind: "python" });
    await out(h, s.id, "x = 1");
    await out(h, s.id, "x = 2");
    const refused = await failure(h.live.rebuildAround(s.id, "restore", () => h.manager.restore(s.id, "no-such-checkpoint")));
    expect(refused).toMatchObject({ status: 404 });
    expect(await out(h, s.id, "x")).toBe("2\n");
  });
});

describe("interpreter state in checkpoints: fork", () => {
  let h: LiveHarness;
  afterEach(async () => {
    await h?.close();
  });

  it("gives the fork its own interpreter at the checkpoint", async () => {
    h = new LiveHarness();
    const source = await h.live.start({ kind: "python" });
    await out(h, source.id, "items = [1, 2]");
    const cp = await h.manager.createCheckpoint(source.id);
    await out(h, source.id, "items.append(3)\nonly_source = True");
    const child = await h.manager.fork(source.id, cp.id, { name: "child" });
    const started = await h.live.startFork(await h.manager.get(source.id), child);
    expect(started.rebuild).toMatchObject({ reason: "fork", replayed: 1, failed: [] });
    const childPid = h.live.describe(child.id)!.pid;
    expect(childPid).not.toBe(h.live.describe(source.id)!.pid);
    expect(await out(h, child.id, "items.append(9)\n(items, 'only_source' in dir())")).toBe("([1, 2, 9], False)\n");
    expect(await out(h, source.id, "items")).toBe("[1, 2, 3]\n");
    // Its cells are the source's, read through the fork's restore event.
    expect((await cellsAt(h.manager, child.id)).map((c) => [c.session_id, c.input])).toEqual([
      [source.id, "items = [1, 2]"],
      [child.id, "items.append(9)\n(items, 'only_source' in dir())"],
    ]);
  });

  it("gives a shell's fork a shell of its own in its own workspace, with the source's exported environment", async () => {
    h = new LiveHarness();
    const source = await h.live.start({ kind: "shell" });
    await h.live.exec(source.id, "export COLOR=blue");
    await eventually(async () => ((await h.manager.get(source.id)).runtime_metadata.env as Record<string, string> | undefined)?.COLOR);
    const cp = await h.manager.createCheckpoint(source.id);
    const child = await h.manager.fork(source.id, cp.id);
    expect((await h.live.startFork(await h.manager.get(source.id), child)).rebuild).toMatchObject({ reason: "fork", replayed: 0 });
    const seen = await h.live.exec(child.id, 'echo "$COLOR $(pwd)"');
    expect(seen.stdout).toBe(`blue ${(await h.manager.get(child.id)).workspace}\n`);
    expect(h.live.describe(child.id)!.pid).not.toBe(h.live.describe(source.id)!.pid);
  });

  it("forks while the source is executing: the fork gets the checkpoint's state and the source's exec finishes", async () => {
    h = new LiveHarness();
    const source = await h.live.start({ kind: "python" });
    await out(h, source.id, "import time\nstate = 'checkpointed'");
    const cp = await h.manager.createCheckpoint(source.id);
    const running = await h.live.submit(source.id, "time.sleep(0.8)\nstate = 'after'");
    await eventually(() => h.live.describe(source.id)?.running_exec_id);
    const child = await h.manager.fork(source.id, cp.id);
    await h.live.startFork(await h.manager.get(source.id), child);
    expect(await out(h, child.id, "state")).toBe("'checkpointed'\n");
    expect((await running.done).status).toBe("ok");
    expect(await out(h, source.id, "state")).toBe("'after'\n");
  });
});

describe("undo", () => {
  let h: LiveHarness;
  afterEach(async () => {
    await h?.close();
  });

  it("steps a python session back one cell, then another", async () => {
    h = new LiveHarness();
    const s = await h.live.start({ kind: "python" });
    await out(h, s.id, "x = 1");
    await out(h, s.id, "x += 10");
    const last = await h.live.exec(s.id, "x *= 3\ny = 'late'");
    const undone = await h.live.undo(s.id);
    expect(undone).toMatchObject({ seq: last.seq, input: "x *= 3\ny = 'late'", files: "off", rebuild: { reason: "undo", replayed: 2 } });
    expect(await out(h, s.id, "(x, 'y' in dir())")).toBe("(11, False)\n");
    // The cell just run is the one the next undo takes back, then the one before the first undo.
    await h.live.undo(s.id);
    await h.live.undo(s.id);
    expect(await out(h, s.id, "x")).toBe("1\n");
    const [event] = await h.manager.listEvents(s.id, { types: ["undo"], limit: 1 });
    expect(event!.data).toMatchObject({ seq: last.seq, files: "off" });
  });

  it("answers 409 when there is nothing to undo, and for a shell session", async () => {
    h = new LiveHarness();
    const py = await h.live.start({ kind: "python" });
    expect(await failure(h.live.undo(py.id))).toMatchObject({ code: "conflict", status: 409, message: expect.stringContaining("nothing to undo") });
    const shell = await h.live.start({ kind: "shell" });
    expect(await failure(h.live.undo(shell.id))).toMatchObject({ code: "conflict", status: 409, field: "kind" });
    expect(await failure(h.live.start({ kind: "shell", undo_files: true }))).toMatchObject({ code: "validation", field: "undo_files" });
  });

  it("puts the workspace back as it was before the cell when the session keeps undo snapshots", async () => {
    h = new LiveHarness();
    const s = await h.live.start({ kind: "python", undo_files: true });
    const dir = s.workspace!;
    // Written by the session: its sandbox user owns what it writes.
    await out(h, s.id, "open('notes.txt', 'w').write('v1\\n')");
    await out(h, s.id, "open('notes.txt', 'w').write('v2\\n')");
    const last = await h.live.exec(s.id, "open('notes.txt', 'w').write('v3\\n')\nopen('extra.txt', 'w').write('new')");
    expect(last.files_before).toMatch(/^sha256:/);
    expect(readFileSync(join(dir, "notes.txt"), "utf8")).toBe("v3\n");
    const undone = await h.live.undo(s.id);
    expect(undone.files).toBe("restored");
    expect(readFileSync(join(dir, "notes.txt"), "utf8")).toBe("v2\n");
    expect(existsSync(join(dir, "extra.txt"))).toBe(false);
    await h.live.undo(s.id);
    expect(readFileSync(join(dir, "notes.txt"), "utf8")).toBe("v1\n");
  });
});
