import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { cliHome, useCompiledCli } from "./run-cli.js";

// Each command is a real process; on a busy 2-core machine a few of them take a while.
const SLOW = { timeout: 180_000 };
useCompiledCli();

interface S {
  id: string;
  name: string;
  agent_id: string | null;
  status: string;
}

describe("sessiond with names unique per agent_id", SLOW, () => {
  const h = cliHome();
  afterAll(() => h.cleanup());

  it("addresses a session as agent_id/name, and says how to when a bare name is held by several agents", async () => {
    const a = await h.json<S>(["start", "--name", "build", "--agent", "a1"]);
    const b = await h.json<S>(["start", "--name", "build", "--agent", "a2"]);
    expect(a.id).not.toBe(b.id);
    expect((await h.json<S>(["show", "a1/build"])).id).toBe(a.id);
    expect((await h.json<S>(["pause", "a2/build"])).status).toBe("paused");
    expect((await h.json<S>(["show", a.id])).status).toBe("active");
    const ambiguous = await h.run(["show", "build"]);
    expect(ambiguous.code).toBe(1);
    expect(ambiguous.stderr).toContain("2 sessions are named build: address one by its id or as agent_id/name (a1/build, a2/build)");
  });
});

describe("sessiond recover and resume with live sessions off", SLOW, () => {
  const h = cliHome({ ENABLE_SESSIONS: "false" });
  const dir = mkdtempSync(join(tmpdir(), "sessiond-activity-"));
  afterAll(async () => {
    await h.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  it("refuses a crashed shell session with the error `start --kind shell` gets, and leaves it crashed", async () => {
    // A shell session from seed 000's activity files: imported as crashed (no process runs it).
    const folder = join(dir, "data", "activity", "2026-01-02", "session_sess-1");
    mkdirSync(folder, { recursive: true });
    writeFileSync(join(folder, "meta.json"), JSON.stringify({ id: "sess-1", mode: "shell", server: "local", startedAt: "2026-01-02T08:00:00.000Z" }));
    expect((await h.json<{ imported: string[] }>(["import", dir])).imported).toEqual(["sess-1"]);
    const start = await h.run(["start", "--kind", "shell"]);
    expect(start.code).toBe(2);
    expect(start.stderr).toContain("shell is not enabled");
    for (const command of ["recover", "resume"]) {
      const r = await h.run([command, "sess-1"]);
      expect(r.code, command).toBe(start.code);
      expect(r.stderr, command).toBe(start.stderr);
    }
    expect((await h.json<S>(["show", "sess-1"])).status).toBe("crashed");
  });
});
