import { join } from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { replayCells } from "../../src/drivers/replay.js";
import { type TestServer, startServer } from "../server/harness.js";
import { LiveHarness, eventually, failure } from "./harness.js";

vi.setConfig({ testTimeout: 60_000 });

/** Kills the session's process as a crash would, and waits for the session to be crashed. */
async function crash(h: LiveHarness, id: string): Promise<void> {
  process.kill(h.live.describe(id)!.pid!, "SIGKILL");
  await eventually(async () => (await h.manager.get(id)).status === "crashed");
}

describe("recovery by replay", () => {
  let h: LiveHarness;
  afterEach(async () => {
    await h?.close();
  });

  it("replays a crashed python session's successful cells in order, reporting each, once", async () => {
    h = new LiveHarness();
    const s = await h.live.start({ kind: "python" });
    const cells = ["import math", "x = 10", "1 / 0", "def f():\n    return x * 2"];
    const seqs: number[] = [];
    for (const cell of cells) seqs.push((await h.live.exec(s.id, cell)).seq);
    await crash(h, s.id);
    await h.live.recover(s.id);
    const report = await replayCells(h.live, h.manager, s.id);
    expect(report).toMatchObject({ cells: 3, stopped_at: null });
    expect(report.replayed.map((r) => [r.source_seq, r.status])).toEqual([
      [seqs[0], "ok"],
      [seqs[1], "ok"],
      [seqs[3], "ok"],
    ]);
    const replayEvents = await h.manager.listEvents(s.id, { types: ["replay"] });
    expect(replayEvents.map((e) => e.data.source_seq)).toEqual([seqs[0], seqs[1], seqs[3]]);
    expect((await h.live.exec(s.id, "f() + math.floor(math.pi)")).stdout).toBe("23\n");

    // A second crash replays the original cells (and the one run since), not the replays.
    await crash(h, s.id);
    await h.live.recover(s.id);
    const again = await replayCells(h.live, h.manager, s.id);
    expect(again.replayed.map((r) => r.source_seq)).toEqual([seqs[0], seqs[1], seqs[3], expect.any(Number)]);
    expect((await h.live.exec(s.id, "f()")).stdout).toBe("20\n");
  });

  it("stops at a cell that fails on replay, since later cells may depend on it", async () => {
    h = new LiveHarness();
    const s = await h.live.start({ kind: "python" });
    // In the workspace: the one host folder the sandboxed session sees, across its restart.
    const dir = s.workspace!;
    await h.live.exec(s.id, `import os\nflag = ${JSON.stringify(join(dir, "flag"))}`);
    const once = await h.live.exec(s.id, "assert not os.path.exists(flag), 'already done'\nopen(flag, 'w').close()");
    await h.live.exec(s.id, "after = 1");
    await crash(h, s.id);
    await h.live.recover(s.id);
    const report = await replayCells(h.live, h.manager, s.id);
    expect(report).toMatchObject({ cells: 3, stopped_at: once.seq });
    expect(report.replayed.map((r) => r.status)).toEqual(["ok", "error"]);
    expect((await h.live.exec(s.id, "'after' in dir()")).stdout).toBe("False\n");
  });

  it("replays a typescript session after a server restart", async () => {
    h = new LiveHarness();
    const s = await h.live.start({ kind: "typescript" });
    await h.live.exec(s.id, "const base: number = 40;\nfunction add(n: number) { return base + n; }");
    // The server goes away and comes back: its sessions are crashed, then recovered with replay.
    await h.live.close();
    h.live = h.openLive();
    expect((await h.manager.get(s.id)).status).toBe("crashed");
    await h.live.recover(s.id);
    const report = await replayCells(h.live, h.manager, s.id);
    expect(report.replayed).toHaveLength(1);
    expect((await h.live.exec(s.id, "add(2)")).stdout).toBe("42\n");
  });

  it("has nothing to replay for an llm session, and refuses a shell session", async () => {
    h = new LiveHarness({ llmBaseUrl: "http://127.0.0.1:9/v1" });
    const llm = await h.live.start({ kind: "llm" });
    expect(await replayCells(h.live, h.manager, llm.id)).toMatchObject({ cells: 0, replayed: [], note: expect.stringContaining("history") });
    const shell = await h.live.start({ kind: "shell" });
    expect(await failure(replayCells(h.live, h.manager, shell.id))).toMatchObject({ code: "validation", field: "replay", status: 400 });
  });
});

describe("POST /sessions/{id}/recover with replay", () => {
  let server: TestServer | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  it("recovers a crashed python session and replays its cells (seed 000's start route)", async () => {
    server = await startServer({ enableSessions: true });
    const started = await server.json({ method: "POST", url: "/session/start", body: { mode: "python", server: "local" } });
    expect(started.status).toBe(201);
    const id = started.body.id as string;
    const exec = await server.json({ method: "POST", url: `/session/${id}/exec`, body: { input: "total = 6 * 7" } });
    expect(exec.body).toMatchObject({ status: "ok" });
    process.kill(server.app.sessiond.live.describe(id)!.pid!, "SIGKILL");
    await eventually(async () => (await server!.manager.get(id)).status === "crashed");

    const recovered = await server.json({ method: "POST", url: `/sessions/${id}/recover`, body: { replay: true } });
    expect(recovered.status).toBe(200);
    expect(recovered.body.session.status).toBe("active");
    expect(recovered.body.replay).toMatchObject({ cells: 1, stopped_at: null, replayed: [{ source_seq: exec.body.seq, status: "ok" }] });
    const after = await server.json({ method: "POST", url: `/sessions/${id}/exec`, body: { input: "total" } });
    expect(after.body).toMatchObject({ status: "ok", stdout: "42\n" });
    await server.json({ method: "POST", url: `/sessions/${id}/stop` });
  });

  it("refuses replay for a shell session before recovering it", async () => {
    server = await startServer({ enableSessions: true });
    const started = await server.json({ method: "POST", url: "/sessions", body: { kind: "shell" } });
    const id = started.body.id as string;
    await server.manager.crash(id, "test");
    const res = await server.json({ method: "POST", url: `/sessions/${id}/recover`, body: { replay: true } });
    expect(res.status).toBe(400);
    expect(res.body.error).toMatchObject({ code: "validation", field: "replay" });
    expect((await server.manager.get(id)).status).toBe("crashed");
  });
});
