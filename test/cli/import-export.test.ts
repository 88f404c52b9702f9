import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
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
    expect(first.stdout).toMatch(/sessions\/session_corrupt\/session\.json: session\.json is not valid JSON/);
    expect(first.stdout).toMatch(/sessions\/session_partial\/session\.json: createdAt is missing/);

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
  afterAll(async () => {
    await Promise.all([a.cleanup(), b.cleanup(), c.cleanup()]);
  });

  it("gives back the same sessions, events and checkpoints in both layouts", async () => {
    await a.json(["start", "--name", "agent-run", "--task", "t", "--label", "team=core", "--context", '{"x": 1}']);
    await a.json(["iterate", "agent-run"]);
    await a.json(["checkpoint", "create", "agent-run", "--label", "cp1", "--data", '{"k": 2}']);
    await a.json(["complete", "agent-run", '"done"']);
    await a.json(["start", "--kind", "shell", "--name", "sh"]);
    await a.run(["exec", "sh", "echo one"]);
    await a.run(["exec", "sh", "echo two >&2"]);
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
    expect(readdirSync(folder).sort()).toEqual(["01-exec.json", "02-exec.json", "meta.json"]);
    expect(JSON.parse(readFileSync(join(folder, "01-exec.json"), "utf8"))).toMatchObject({ input: "echo one", status: "ok", exit_code: 0 });
    const seed004 = JSON.parse(readFileSync(join(sessionsDir, "sessions", String(original.items.find((s) => s.name === "agent-run")!.id), "session.json"), "utf8"));
    expect(seed004).toMatchObject({ task: "t", status: "completed", iterations: 1, context: { x: 1 } });
    expect(seed004.history.map((e: { type: string }) => e.type)).toEqual(["start", "iteration", "checkpoint", "complete"]);

    expect((await b.json<Summary>(["import", sessionsDir])).imported).toHaveLength(2);
    expect((await c.json<Summary>(["import", activityDir])).imported).toEqual([shell.id]);

    const imported = await b.json<{ items: Record<string, unknown>[] }>(["list"]);
    expect(imported.items).toEqual(original.items);
    for (const s of original.items) {
      const ref = String(s.id);
      expect((await b.run(["events", ref, "--json"])).stdout).toBe((await a.run(["events", ref, "--json"])).stdout);
      expect(await b.json(["checkpoint", "list", ref])).toEqual(await a.json(["checkpoint", "list", ref]));
    }
    expect(await c.json(["show", String(shell.id)])).toEqual(await a.json(["show", String(shell.id)]));
    expect((await c.run(["events", String(shell.id), "--json"])).stdout).toBe((await a.run(["events", String(shell.id), "--json"])).stdout);
    expect(existsSync(join(sessionsDir, "sessions"))).toBe(true);
  });
});
