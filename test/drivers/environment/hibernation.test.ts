import { existsSync } from "node:fs";
import { afterEach, describe, expect, it, vi } from "vitest";
import { LiveHarness, alive, eventually, failure } from "../harness.js";

vi.setConfig({ testTimeout: 60_000 });

describe("hibernation", () => {
  let h: LiveHarness;
  afterEach(async () => {
    await h?.close();
  });

  it("hibernates a python session on request: no process is left, and the next exec wakes it by replay and says so", async () => {
    h = new LiveHarness();
    const s = await h.live.start({ kind: "python" });
    await h.live.exec(s.id, "import os\ncounter = 41");
    const pid = h.live.describe(s.id)!.pid!;
    const asleep = await h.live.hibernate(s.id);
    expect(asleep.status).toBe("active");
    expect(asleep.runtime_metadata.hibernated).toMatchObject({ reason: "request", cells: 1 });
    expect(asleep.runtime_metadata.pid).toBeUndefined();
    await eventually(() => !alive(pid), 5_000, "the interpreter to end");
    expect(existsSync(`/proc/${pid}`)).toBe(false);
    expect(h.live.liveCount).toBe(0);
    expect(h.live.describe(s.id)).toBeUndefined();
    expect(h.live.list()).toEqual([expect.objectContaining({ id: s.id, pid: null, state: expect.objectContaining({ status: "hibernated" }), hibernated_at: expect.any(String) })]);

    const woke = await h.live.exec(s.id, "counter += 1\ncounter");
    expect(woke).toMatchObject({ status: "ok", stdout: "42\n", woke: { replayed: 1, failed: [], skipped: [], hibernated_at: asleep.runtime_metadata.hibernated && expect.any(String) } });
    expect(h.live.describe(s.id)!.pid).not.toBe(pid);
    const next = await h.live.exec(s.id, "counter");
    expect(next.woke).toBeUndefined();
    expect((await h.manager.get(s.id)).runtime_metadata.hibernated).toBeUndefined();
    const types = (await h.manager.listEvents(s.id)).map((e) => e.type);
    expect(types.filter((t) => t === "hibernate" || t === "wake")).toEqual(["hibernate", "wake"]);
  });

  it("hibernates a session idle past hibernateAfterMs, and not one that is busy", async () => {
    h = new LiveHarness({ hibernateAfterMs: 300 });
    const idle = await h.live.start({ kind: "python" });
    const busy = await h.live.start({ kind: "python" });
    // Either may have slept already while the other started: an exec wakes it.
    await h.live.exec(idle.id, "v = 'kept'");
    const running = await h.live.submit(busy.id, "import time\ntime.sleep(2)");
    await eventually(() => h.live.describe(busy.id)?.running_exec_id);
    const event = await eventually(
      async () => (await h.manager.listEvents(idle.id, { types: ["hibernate"], descending: true, limit: 1 })).find((e) => e.data.cells === 1),
      5_000,
      "the idle session to hibernate after its cell",
    );
    expect(event.data.reason).toBe("idle");
    expect((await h.manager.get(busy.id)).runtime_metadata.hibernated).toBeUndefined();
    expect((await running.done).status).toBe("ok");
    expect(event!.data.idle_ms).toBeGreaterThanOrEqual(300);
    expect((await h.live.exec(idle.id, "v")).stdout).toBe("'kept'\n");
  });

  it("leaves awake, for idleness, a shell running a background job (sleep would kill it)", async () => {
    h = new LiveHarness({ hibernateAfterMs: 200 });
    const busy = await h.live.start({ kind: "shell" });
    const quiet = await h.live.start({ kind: "shell" });
    await h.live.exec(busy.id, "sleep 30 &");
    await h.live.exec(quiet.id, "true");
    await eventually(async () => (await h.manager.get(quiet.id)).runtime_metadata.hibernated, 5_000, "the quiet shell to hibernate");
    // The reaper has passed over the busy one since (it runs every 20 ms here).
    await eventually(async () => (await h.manager.listEvents(quiet.id, { types: ["hibernate"] })).length > 0);
    await new Promise((r) => setTimeout(r, 300));
    expect((await h.manager.get(busy.id)).runtime_metadata.hibernated).toBeUndefined();
    expect(h.live.describe(busy.id)?.pid).toEqual(expect.any(Number));
  });

  it("hibernates a paused session at once; it wakes on the first exec after it is resumed", async () => {
    h = new LiveHarness();
    const s = await h.live.start({ kind: "python" });
    await h.live.exec(s.id, "n = 7");
    await h.manager.pause(s.id);
    await eventually(() => h.live.describe(s.id)?.paused);
    const asleep = await h.live.hibernate(s.id);
    expect(asleep.status).toBe("paused");
    expect(h.live.list()[0]).toMatchObject({ paused: true, state: { status: "hibernated" } });
    expect(await failure(h.live.exec(s.id, "n"))).toMatchObject({ code: "session_not_active", status: 409 });
    await h.manager.resume(s.id);
    expect(h.live.list()[0]).toMatchObject({ paused: false, state: { status: "hibernated", paused: false } });
    expect(await h.live.exec(s.id, "n")).toMatchObject({ stdout: "7\n", woke: { replayed: 1 } });
  });

  it("wakes a hibernated shell in its directory with its exported variables", async () => {
    h = new LiveHarness();
    const s = await h.live.start({ kind: "shell" });
    await h.live.exec(s.id, "mkdir -p sub && cd sub && export COLOR=blue");
    await eventually(async () => (await h.manager.get(s.id)).runtime_metadata.env && ((await h.manager.get(s.id)).runtime_metadata.env as Record<string, string>).COLOR);
    await h.live.hibernate(s.id);
    const woke = await h.live.exec(s.id, 'echo "$(basename "$PWD") $COLOR"');
    expect(woke).toMatchObject({ stdout: "sub blue\n", woke: { replayed: 0 } });
  });

  it("keeps a hibernated session hibernated across a server restart, and wakes it there", async () => {
    h = new LiveHarness();
    const s = await h.live.start({ kind: "typescript" });
    await h.live.exec(s.id, "const greeting: string = 'hello';");
    await h.live.hibernate(s.id);
    await h.live.close();
    h.live = h.openLive();
    expect(await h.live.markOrphansCrashed()).toEqual([]);
    expect((await h.manager.get(s.id)).status).toBe("active");
    expect(h.live.list().map((i) => i.id)).toEqual([s.id]);
    expect(await h.live.exec(s.id, "greeting.length")).toMatchObject({ stdout: "5\n", woke: { replayed: 1 } });
  });

  it("has concurrent execs wait for one wake, in order", async () => {
    h = new LiveHarness();
    const s = await h.live.start({ kind: "python" });
    await h.live.exec(s.id, "seen = []");
    await h.live.hibernate(s.id);
    const results = await Promise.all([1, 2, 3].map((n) => h.live.exec(s.id, `seen.append(${n})\nlen(seen)`)));
    expect(results.every((r) => r.status === "ok")).toBe(true);
    expect(results.map((r) => r.stdout).sort()).toEqual(["1\n", "2\n", "3\n"]);
    expect((await h.manager.listEvents(s.id, { types: ["wake"] })).length).toBe(1);
  });

  it("refuses to hibernate a session while an exec runs", async () => {
    h = new LiveHarness();
    const s = await h.live.start({ kind: "python" });
    const running = await h.live.submit(s.id, "import time\ntime.sleep(0.5)");
    await eventually(() => h.live.describe(s.id)?.running_exec_id);
    expect(await failure(h.live.hibernate(s.id))).toMatchObject({ code: "conflict", status: 409 });
    expect((await running.done).status).toBe("ok");
  });

  it("undoes a hibernated session's last cell without waking it; its wake replays the rest", async () => {
    h = new LiveHarness();
    const s = await h.live.start({ kind: "python" });
    await h.live.exec(s.id, "x = 1");
    await h.live.exec(s.id, "x = 2");
    await h.live.hibernate(s.id);
    const undone = await h.live.undo(s.id);
    expect(undone.rebuild).toBeNull();
    expect(h.live.liveCount).toBe(0);
    expect(await h.live.exec(s.id, "x")).toMatchObject({ stdout: "1\n", woke: { replayed: 1 } });
  });

  it("stops a hibernated session: it completes and leaves the list", async () => {
    h = new LiveHarness();
    const s = await h.live.start({ kind: "python" });
    await h.live.hibernate(s.id);
    expect((await h.live.stop(s.id)).status).toBe("completed");
    expect(h.live.list()).toEqual([]);
  });
});
