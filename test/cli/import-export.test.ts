import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { cliHome, useCompiledCli } from "./run-cli.js";

const SLOW = { timeout: 180_000 };
useCompiledCli();

interface Ev {
  seq: number;
  ts: string;
  type: string;
  data: Record<string, unknown>;
}
interface Summary {
  layout: string;
  found: number;
  imported: string[];
  skipped: string[];
  failed: { path: string; reason: string }[];
}

const dirs: string[] = [];
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), "sessiond-files-"));
  dirs.push(d);
  return d;
}
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function writeJson(path: string, value: unknown): void {
  mkdirSync(join(path, ".."), { recursive: true });
  writeFileSync(path, typeof value === "string" ? value : JSON.stringify(value, null, 2));
}

describe("sessiond import", SLOW, () => {
  const h = cliHome();
  afterAll(() => h.cleanup());

  it("reads seed 004's session.json files, keeping ids, timestamps and history; lists bad files and goes on; twice changes nothing", async () => {
    const dir = tempDir();
    writeJson(join(dir, "sessions", "session_abc123_xyz", "session.json"), {
      id: "session_abc123_xyz",
      userId: "user123",
      channelId: "channel456",
      mode: "developer",
      task: "Implement feature X",
      status: "completed",
      createdAt: "2025-03-01T10:00:00.000Z",
      updatedAt: "2025-03-01T11:30:00.000Z",
      iterations: 2,
      maxIterations: 50,
      context: { priority: "high" },
      history: [
        { timestamp: "2025-03-01T10:00:00.000Z", type: "start", data: { task: "Implement feature X" } },
        { timestamp: "2025-03-01T10:05:00.000Z", type: "iteration", data: { step: "analysis" } },
        { timestamp: "2025-03-01T10:20:00.000Z", type: "tool_call", data: { tool: "bash", args: { command: "npm test" } } },
        { timestamp: "2025-03-01T11:30:00.000Z", type: "complete", data: { result: "Feature implemented" } },
      ],
      result: "Feature implemented",
      metadata: { model: "gpt-x", tokens: { prompt: 1, completion: 2, total: 3 } },
    });
    writeJson(join(dir, "sessions", "session_corrupt", "session.json"), '{"id": "session_corrupt", "status": ');
    writeJson(join(dir, "sessions", "session_partial", "session.json"), { id: "session_partial", status: "active", history: [] });

    const first = await h.run(["import", dir]);
    expect(first.code).toBe(1); // some files failed
    expect(first.stdout).toMatch(/^sessions layout: 3 found, 1 imported, 0 already there, 2 failed$/m);
    expect(first.stdout).toMatch(/^  sessions\/session_corrupt: session\.json is not valid JSON/m);
    expect(first.stdout).toMatch(/^  sessions\/session_partial: session\.json createdAt: missing$/m);

    const s = await h.json<Record<string, unknown>>(["show", "session_abc123_xyz"]);
    expect(s).toMatchObject({
      id: "session_abc123_xyz",
      kind: "agent",
      mode: "developer",
      user_id: "user123",
      channel_id: "channel456",
      status: "completed",
      iterations: 2,
      max_iterations: 50,
      context: { priority: "high" },
      result: "Feature implemented",
      created_at: "2025-03-01T10:00:00.000Z",
      updated_at: "2025-03-01T11:30:00.000Z",
      ended_at: "2025-03-01T11:30:00.000Z",
    });
    const events = (await h.run(["events", "session_abc123_xyz", "--json"])).stdout.trim().split("\n").map((l) => JSON.parse(l) as Ev);
    expect(events.map((e) => [e.seq, e.ts, e.type])).toEqual([
      [1, "2025-03-01T10:00:00.000Z", "start"],
      [2, "2025-03-01T10:05:00.000Z", "iteration"],
      [3, "2025-03-01T10:20:00.000Z", "tool_call"],
      [4, "2025-03-01T11:30:00.000Z", "complete"],
    ]);

    const again = await h.json<Summary>(["import", dir]).catch(() => undefined);
    expect(again).toBeUndefined(); // still exits 1: the bad files are still bad
    const second = await h.run(["import", dir, "--json"]);
    const summary = JSON.parse(second.stdout) as Summary;
    expect(summary).toMatchObject({ found: 3, imported: [], skipped: ["session_abc123_xyz"] });
    expect(summary.failed).toHaveLength(2);
    expect((await h.json<{ items: unknown[] }>(["list"])).items).toHaveLength(1);
    expect((await h.run(["events", "session_abc123_xyz", "--json"])).stdout.trim().split("\n")).toHaveLength(4);
  });

  it("reads seed 000's activity folders: meta.json and NN-exec.json become a shell session with its execs", async () => {
    const dir = tempDir();
    const folder = join(dir, "data", "activity", "2026-01-02", "session_sess-123");
    writeJson(join(folder, "meta.json"), { id: "sess-123", mode: "shell", server: "local", state: { cwd: "/srv" }, startedAt: "2026-01-02T08:00:00.000Z" });
    writeJson(join(folder, "01-exec.json"), { exec_id: "x1", input: "cd /srv", stdout: "", stderr: "", exit_code: 0, status: "ok", started_at: "2026-01-02T08:00:01.000Z", duration_ms: 1, truncated: false });
    writeJson(join(folder, "02-exec.json"), { exec_id: "x2", input: "ls", stdout: "a\nb\n", stderr: "", exit_code: 0, status: "ok", started_at: "2026-01-02T08:00:02.000Z", duration_ms: 2, truncated: false });
    const result = await h.json<Summary>(["import", dir]);
    expect(result).toMatchObject({ layout: "activity", found: 1, imported: ["sess-123"], failed: [] });
    const s = await h.json<Record<string, unknown>>(["show", "sess-123"]);
    // No process runs an imported live session: it comes in as crashed, to be recovered.
    expect(s).toMatchObject({ kind: "shell", status: "crashed", created_at: "2026-01-02T08:00:00.000Z" });
    const logs = await h.run(["logs", "sess-123"]);
    expect(logs.stdout).toContain("$ ls");
    expect(logs.stdout).toContain("a\nb");
    const events = (await h.run(["events", "sess-123", "--json"])).stdout.trim().split("\n").map((l) => JSON.parse(l) as Ev);
    expect(events.map((e) => [e.seq, e.type, e.ts])).toEqual([
      [1, "start", "2026-01-02T08:00:00.000Z"],
      [2, "exec", "2026-01-02T08:00:01.000Z"],
      [3, "exec", "2026-01-02T08:00:02.000Z"],
    ]);
  });

  it("reads seed 000's files as a seed-000 writer leaves them: meta.json {id, mode, server, state} alone, execs with output, exitCode and timestamp", async () => {
    const dir = tempDir();
    const day = join(dir, "data", "activity", "2026-02-03");
    // A session whose meta.json holds no time: it started at meta.json's mtime, earlier than its execs.
    const a = join(day, "session_s0-python");
    writeJson(join(a, "meta.json"), { id: "s0-python", mode: "python", server: "local", state: { vars: ["x"] } });
    writeJson(join(a, "01-exec.json"), { input: "x = 1", output: "", exitCode: 0, timestamp: "2026-02-03T09:00:05.000Z" });
    writeJson(join(a, "02-exec.json"), { input: "1/0", output: "ZeroDivisionError", exitCode: 1, timestamp: "2026-02-03T09:00:09.000Z", kernel: "py3" });
    // No time inside: the file's mtime is when it ran.
    writeJson(join(a, "03-exec.json"), { input: "x", output: "1", exitCode: 0 });
    utimesSync(join(a, "meta.json"), new Date("2026-02-03T09:00:00Z"), new Date("2026-02-03T09:00:00Z"));
    utimesSync(join(a, "03-exec.json"), new Date("2026-02-03T09:00:30Z"), new Date("2026-02-03T09:00:30Z"));
    // A meta.json written again after its execs (a later mtime): the session starts at its first exec.
    const b = join(day, "session_s0-late-meta");
    writeJson(join(b, "meta.json"), { id: "s0-late-meta", mode: "shell", server: "local", state: {} });
    writeJson(join(b, "01-exec.json"), { input: "true", output: "", exitCode: 0, timestamp: "2026-02-03T10:00:00.000Z" });
    utimesSync(join(b, "meta.json"), new Date("2026-02-03T11:00:00Z"), new Date("2026-02-03T11:00:00Z"));

    const result = await h.json<Summary>(["import", dir]);
    expect(result).toMatchObject({ layout: "activity", found: 2, failed: [] });
    expect(result.imported.sort()).toEqual(["s0-late-meta", "s0-python"]);

    const s = await h.json<Record<string, unknown>>(["show", "s0-python"]);
    expect(s).toMatchObject({
      kind: "python",
      server: "local",
      status: "crashed",
      runtime_metadata: { vars: ["x"] },
      created_at: "2026-02-03T09:00:00.000Z",
      last_activity_at: "2026-02-03T09:00:30.000Z",
    });
    const events = (await h.run(["events", "s0-python", "--json"])).stdout.trim().split("\n").map((l) => JSON.parse(l) as Ev);
    expect(events.map((e) => [e.seq, e.type, e.ts])).toEqual([
      [1, "start", "2026-02-03T09:00:00.000Z"],
      [2, "exec", "2026-02-03T09:00:05.000Z"],
      [3, "exec", "2026-02-03T09:00:09.000Z"],
      [4, "exec", "2026-02-03T09:00:30.000Z"],
    ]);
    expect(events[2]!.data).toEqual({
      input: "1/0",
      stdout: "ZeroDivisionError",
      exit_code: 1,
      started_at: "2026-02-03T09:00:09.000Z",
      kernel: "py3",
      exec_id: "02-exec",
      stderr: "",
      status: "error",
      duration_ms: 0,
      truncated: false,
    });
    expect(events[3]!.data).toMatchObject({ input: "x", stdout: "1", exit_code: 0, status: "ok", started_at: "2026-02-03T09:00:30.000Z" });
    expect(await h.json<Record<string, unknown>>(["show", "s0-late-meta"])).toMatchObject({ kind: "shell", created_at: "2026-02-03T10:00:00.000Z" });
  });

  it("refuses a file with an unknown mode or a field of the wrong type, naming the file and the field; stores nothing of that session and loses nothing already imported", async () => {
    const dir = tempDir();
    const day = join(dir, "data", "activity", "2026-03-04");
    const session = (id: string, meta: Record<string, unknown>, execs: Record<string, unknown>[] = []) => {
      writeJson(join(day, `session_${id}`, "meta.json"), { id, server: "local", state: {}, startedAt: "2026-03-04T08:00:00.000Z", ...meta });
      execs.forEach((x, i) => writeJson(join(day, `session_${id}`, `0${i + 1}-exec.json`), x));
    };
    const ok = { input: "true", output: "", exitCode: 0, timestamp: "2026-03-04T08:00:01.000Z" };
    session("bad-mode", { mode: "ruby" });
    session("bad-exit", { mode: "shell" }, [ok, { ...ok, exitCode: "zero" }]);
    session("bad-state", { mode: "shell", state: 5 }, [ok]);
    session("bad-time", { mode: "shell" }, [{ ...ok, timestamp: "yesterday" }]);
    session("bad-nul", { mode: "shell" }, [{ ...ok, output: "a\u0000b" }]);
    session("good-one", { mode: "shell" }, [ok]);
    writeJson(join(dir, "sessions", "bad-status", "session.json"), { id: "bad-status", status: 5, createdAt: "2026-03-04T08:00:00.000Z" });

    const r = await h.run(["import", dir, "--json"]);
    expect(r.code).toBe(1);
    const summary = JSON.parse(r.stdout) as Summary;
    expect(summary).toMatchObject({ layout: "both", found: 7, imported: ["good-one"] });
    expect(Object.fromEntries(summary.failed.map((f) => [f.path, f.reason]))).toEqual({
      "sessions/bad-status": 'session.json status: expected a non-empty string, got 5',
      "data/activity/2026-03-04/session_bad-nul": "01-exec.json output: contains U+0000 (NUL), which the stores do not keep",
      "data/activity/2026-03-04/session_bad-mode": 'meta.json mode: "ruby" is not a mode sessiond runs: expected one of shell, python, typescript, llm',
      "data/activity/2026-03-04/session_bad-exit": '02-exec.json exitCode: expected an integer or null, got "zero"',
      "data/activity/2026-03-04/session_bad-state": "meta.json state: expected an object, got 5",
      "data/activity/2026-03-04/session_bad-time": '01-exec.json timestamp: expected an ISO 8601 timestamp, got "yesterday"',
    });
    // Nothing of a refused session is stored, not even its good first exec.
    for (const id of ["bad-mode", "bad-exit", "bad-state", "bad-time", "bad-nul", "bad-status"]) {
      expect((await h.run(["show", id])).code).not.toBe(0);
    }
    // Importing the folder again, now with the good session changed on disk, leaves the stored one as it was.
    const before = (await h.run(["events", "good-one", "--json"])).stdout;
    session("good-one", { mode: "shell" }, [{ ...ok, output: "changed" }, ok]);
    const again = JSON.parse((await h.run(["import", dir, "--json"])).stdout) as Summary;
    expect(again).toMatchObject({ imported: [], skipped: ["good-one"] });
    expect(again.failed).toHaveLength(6);
    expect((await h.run(["events", "good-one", "--json"])).stdout).toBe(before);
  });

  it("refuses a folder with neither layout, saying what it looked for", async () => {
    const r = await h.run(["import", tempDir()]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/holds neither sessions\/<id>\/session\.json \(seed 004\) nor data\/activity/);
  });
});

describe("sessiond export, then import into a fresh data dir", SLOW, () => {
  const a = cliHome();
  const b = cliHome();
  const c = cliHome();
  const d = cliHome();
  afterAll(async () => {
    await Promise.all([a.cleanup(), b.cleanup(), c.cleanup(), d.cleanup()]);
  });

  it("gives back the same sessions, events and checkpoints in both layouts", async () => {
    // The fresh data dirs' servers start while the first one's sessions are made (they would
    // start at their first command, the import, one after the other); they stay empty until then.
    const fresh = Promise.all([b, c, d].map(async (h) => expect(await h.run(["server", "start"])).toMatchObject({ code: 0 })));
    await a.json(["start", "--name", "agent-run", "--task", "t", "--label", "team=core", "--context", '{"x": 1}']);
    await a.json(["iterate", "agent-run"]);
    await a.json(["checkpoint", "create", "agent-run", "--label", "cp1", "--data", '{"k": 2}']);
    await a.json(["complete", "agent-run", '"done"']);
    await a.json(["start", "--kind", "shell", "--name", "sh"]);
    await a.run(["exec", "sh", "echo one"]);
    await a.run(["exec", "sh", "echo two >&2"]);
    await a.run(["exec", "sh", "false"]);
    await a.json(["stop", "sh"]);

    const sessionsDir = tempDir();
    const activityDir = tempDir();
    expect((await a.json<{ exported: number }>(["export", "--layout", "sessions", sessionsDir])).exported).toBe(2);
    const act = await a.json<{ exported: number; skipped: number }>(["export", "--layout", "activity", activityDir]);
    expect(act).toMatchObject({ exported: 1, skipped: 1 });

    const original = await a.json<{ items: Record<string, unknown>[] }>(["list"]);
    const shell = original.items.find((s) => s.name === "sh")!;
    const day = String(shell.created_at).slice(0, 10);
    const folder = join(activityDir, "data", "activity", day, `session_${shell.id}`);
    expect(readdirSync(folder).sort()).toEqual(["01-exec.json", "02-exec.json", "03-exec.json", "meta.json"]);
    expect(JSON.parse(readFileSync(join(folder, "01-exec.json"), "utf8"))).toMatchObject({ input: "echo one", stdout: "one\n", status: "ok", exit_code: 0 });
    expect(JSON.parse(readFileSync(join(folder, "03-exec.json"), "utf8"))).toMatchObject({ input: "false", status: "error", exit_code: 1 });
    const seed004 = JSON.parse(readFileSync(join(sessionsDir, "sessions", String(original.items.find((s) => s.name === "agent-run")!.id), "session.json"), "utf8"));
    expect(seed004).toMatchObject({ task: "t", status: "completed", iterations: 1, context: { x: 1 } });
    expect(seed004.history.map((e: { type: string }) => e.type)).toEqual(["start", "iteration", "checkpoint", "complete"]);

    await fresh;
    expect((await b.json<Summary>(["import", sessionsDir])).imported).toHaveLength(2);
    expect((await c.json<Summary>(["import", activityDir])).imported).toEqual([shell.id]);

    const imported = await b.json<{ items: Record<string, unknown>[] }>(["list"]);
    expect(imported.items).toEqual(original.items);
    // Each pair of reads (the copy's, the original's) at once: they are independent commands.
    for (const s of original.items) {
      const ref = String(s.id);
      const [copyEvents, originalEvents] = await Promise.all([b.run(["events", ref, "--json"]), a.run(["events", ref, "--json"])]);
      expect(copyEvents.stdout).toBe(originalEvents.stdout);
      const [copyCheckpoints, originalCheckpoints] = await Promise.all([b.json(["checkpoint", "list", ref]), a.json(["checkpoint", "list", ref])]);
      expect(copyCheckpoints).toEqual(originalCheckpoints);
    }
    const [shownCopy, shownOriginal] = await Promise.all([c.json(["show", String(shell.id)]), a.json(["show", String(shell.id)])]);
    expect(shownCopy).toEqual(shownOriginal);
    const [copyShellEvents, originalShellEvents] = await Promise.all([c.run(["events", String(shell.id), "--json"]), a.run(["events", String(shell.id), "--json"])]);
    expect(copyShellEvents.stdout).toBe(originalShellEvents.stdout);
    expect(existsSync(join(sessionsDir, "sessions"))).toBe(true);

    // The same files without our `sessiond` member, as a seed-000 reader would keep them: each
    // exec keeps its output, exit code and time, the session its mode.
    const plainDir = tempDir();
    cpSync(activityDir, plainDir, { recursive: true });
    const plainFolder = join(plainDir, "data", "activity", day, `session_${shell.id}`);
    const { sessiond: _, ...plainMeta } = JSON.parse(readFileSync(join(plainFolder, "meta.json"), "utf8"));
    writeJson(join(plainFolder, "meta.json"), plainMeta);
    expect((await d.json<Summary>(["import", plainDir])).imported).toEqual([shell.id]);
    const execsOf = async (home: typeof a) =>
      (await home.run(["events", String(shell.id), "--json"])).stdout.trim().split("\n").map((l) => JSON.parse(l) as Ev).filter((e) => e.type === "exec").map((e) => [e.ts, e.data]);
    const [originalExecs, plainExecs] = await Promise.all([execsOf(a), execsOf(d)]);
    expect(originalExecs).toHaveLength(3);
    expect(plainExecs).toEqual(originalExecs);
    expect(await d.json(["show", String(shell.id)])).toMatchObject({ kind: "shell", created_at: shell.created_at, ended_at: shell.ended_at, status: shell.status });
  });

  it("imports checkpoints with files and a python session's checkpoints: the files stay behind, the interpreter is derived again", async () => {
    const e = cliHome();
    const f = cliHome();
    try {
      const fresh = f.run(["server", "start"]);
      await e.json(["start", "--kind", "shell", "--name", "files"]);
      await e.run(["exec", "files", "echo kept > a.txt"]);
      await e.json(["checkpoint", "create", "files", "--label", "with-files", "--with-files"]);
      await e.json(["start", "--kind", "python", "--name", "py"]);
      await e.run(["exec", "py", "x = 41"]);
      await e.run(["exec", "py", "x += 1"]);
      await e.json(["checkpoint", "create", "py", "--label", "cells"]);
      await e.json(["stop", "files"]);
      await e.json(["stop", "py"]);
      const dir = tempDir();
      expect((await e.json<{ exported: number }>(["export", "--layout", "sessions", dir])).exported).toBe(2);

      await fresh;
      expect((await f.json<Summary>(["import", dir])).imported).toHaveLength(2);
      type Listed = { state: Record<string, unknown>; interpreter?: unknown };
      const [copyFiles, originalFiles] = await Promise.all([f.json<Listed[]>(["checkpoint", "list", "files"]), e.json<Listed[]>(["checkpoint", "list", "files"])]);
      expect(originalFiles[0]!.state.workspace).toMatchObject({ files: 1 });
      const { workspace: _, ...stateWithoutFiles } = originalFiles[0]!.state;
      expect(copyFiles).toEqual([{ ...originalFiles[0], state: stateWithoutFiles }]);
      const [copyCells, originalCells] = await Promise.all([f.json<Listed[]>(["checkpoint", "list", "py"]), e.json<Listed[]>(["checkpoint", "list", "py"])]);
      expect(originalCells[0]!.interpreter).toBeDefined();
      expect(copyCells).toEqual(originalCells);
    } finally {
      await Promise.all([e.cleanup(), f.cleanup()]);
    }
  });
});
