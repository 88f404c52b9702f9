import { afterEach, describe, expect, it } from "vitest";
import { AUTO_RECOVERED, AUTO_RECOVER_FAILED, AutoRecovery } from "../../src/drivers/auto-recover.js";
import { silentLog } from "../../src/drivers/index.js";
import { SERVER_GONE } from "../../src/drivers/server-gone.js";
import { LiveHarness, eventually } from "./harness.js";

describe("auto-recovery of live sessions at start (config autoRecover)", () => {
  let h: LiveHarness;
  const open = (flags: Record<string, unknown> = {}) => (h = new LiveHarness(flags));
  afterEach(async () => {
    await h.close();
  });

  /** One server start's pass, on the harness's current LiveSessions. */
  const pass = async () => {
    const recovery = new AutoRecovery({ manager: h.manager, live: h.live, config: h.config, log: silentLog });
    recovery.start();
    return recovery.done;
  };
  const autoEvents = (ref: string) => h.manager.listEvents(ref, { types: [AUTO_RECOVERED, AUTO_RECOVER_FAILED] });
  const crashReasons = async (ref: string) => (await h.manager.listEvents(ref, { types: ["crash"] })).map((e) => e.data.reason);

  it("brings back the sessions the server's shutdown left crashed, replays python, re-pauses the paused, and leaves sessions that crashed on their own", async () => {
    open();
    await h.live.start({ kind: "shell", name: "sh" });
    await h.live.exec("sh", "mkdir -p sub && cd sub && export KEPT=yes");
    await h.live.start({ kind: "python", name: "py" });
    expect((await h.live.exec("py", "x = 41")).status).toBe("ok");
    await h.live.start({ kind: "shell", name: "held" });
    await h.manager.pause("held");
    await h.live.start({ kind: "shell", name: "exited" });
    await h.live.exec("exited", "exit 3");
    await eventually(async () => (await h.manager.get("exited")).status === "crashed", 5000, "the shell's own crash");
    await h.live.start({ kind: "shell", name: "marked" });
    await h.manager.crash("marked", "crashed on purpose");

    // The server shuts down (its sessions crash with it) and a new one starts on the same store.
    await h.live.close();
    h.live = h.openLive();
    const outcomes = await pass();

    expect(outcomes.map((o) => [o.name, o.outcome]).sort()).toEqual([
      ["held", "recovered"],
      ["py", "recovered"],
      ["sh", "recovered"],
    ]);
    expect((await h.manager.get("sh")).status).toBe("active");
    expect((await h.live.exec("sh", 'echo "$(basename "$PWD") $KEPT"')).stdout).toBe("sub yes\n");
    expect((await h.live.exec("py", "print(x + 1)")).stdout).toBe("42\n");
    expect((await h.manager.get("held")).status).toBe("paused");

    const [shellEvent] = await autoEvents("sh");
    expect(shellEvent).toMatchObject({ type: AUTO_RECOVERED, data: { crash_reason: SERVER_GONE.shutDown } });
    expect(shellEvent!.data).not.toHaveProperty("replay");
    const [pyEvent] = await autoEvents("py");
    expect(pyEvent!.data).toMatchObject({ crash_reason: SERVER_GONE.shutDown, replay: { cells: 1, replayed: 1, stopped_at: null } });
    expect((await autoEvents("held"))[0]!.data).toMatchObject({ paused: true });
    const history = (await h.manager.listEvents("py", { types: ["crash", "recover", "replay", AUTO_RECOVERED] })).map((e) => e.type);
    expect(history).toEqual(["crash", "recover", "replay", AUTO_RECOVERED]);

    for (const name of ["exited", "marked"]) {
      expect((await h.manager.get(name)).status, name).toBe("crashed");
      expect(await autoEvents(name), name).toEqual([]);
    }
    expect(await crashReasons("exited")).toEqual(["the shell process exited unexpectedly (exit code 3)"]);
    expect(await crashReasons("marked")).toEqual(["crashed on purpose"]);
  });

  it("recovers the sessions an orphan sweep marked after a server died", async () => {
    open();
    const old = await h.manager.create({ kind: "shell", name: "orphan" });
    // The dead server's session as the store holds it: active, with no process anywhere.
    expect(old.status).toBe("active");
    const marked = await h.live.markOrphansCrashed();
    expect(marked.map((s) => s.name)).toEqual(["orphan"]);
    const [outcome] = await pass();
    expect(outcome).toMatchObject({ name: "orphan", outcome: "recovered" });
    expect((await autoEvents("orphan"))[0]!.data).toMatchObject({ crash_reason: SERVER_GONE.restarted });
    expect((await h.live.exec("orphan", "echo up")).stdout).toBe("up\n");
  });

  it("leaves a session whose kind is off crashed, saying so once however often the server starts", async () => {
    open({ enableSessions: false });
    const session = await h.manager.create({ kind: "python", name: "off" });
    await h.manager.crash(session.id, SERVER_GONE.restarted);
    expect(await pass()).toEqual([{ session_id: session.id, name: "off", outcome: "failed", reason: expect.stringContaining("python is not enabled") }]);
    expect(await pass()).toMatchObject([{ outcome: "failed" }]);
    expect((await h.manager.get("off")).status).toBe("crashed");
    const events = await autoEvents("off");
    expect(events).toHaveLength(1);
    expect(events[0]!.data).toMatchObject({ code: "validation", crash_reason: SERVER_GONE.restarted, reason: expect.stringContaining("ENABLE_SESSIONS") });
    expect(h.live.liveCount).toBe(0);
  });

  it("starts no recovery once stopped, and a shutdown mid-pass leaves every session crashed for the next start, with no process behind", async () => {
    open();
    const names = ["a", "b", "c", "d", "e", "f"];
    for (const name of names) {
      const session = await h.manager.create({ kind: "shell", name });
      await h.manager.crash(session.id, SERVER_GONE.restarted);
    }
    const recovery = new AutoRecovery({ manager: h.manager, live: h.live, config: h.config, log: silentLog });
    recovery.start();
    const anyActive = async () => (await Promise.all(names.map((n) => h.manager.get(n)))).some((s) => s.status === "active");
    await eventually(anyActive, 10_000, "a first session to come back");
    // The server's close, in the app's order: stop the pass, close the live sessions, let the pass end.
    await recovery.stop();
    await h.live.close();
    const outcomes = await recovery.done;
    expect(outcomes.some((o) => o.outcome === "recovered")).toBe(true);
    expect(outcomes.every((o) => o.outcome !== "failed")).toBe(true);
    for (const name of names) {
      expect((await h.manager.get(name)).status, name).toBe("crashed");
      const [latest] = await h.manager.listEvents(name, { types: ["crash"], descending: true, limit: 1 });
      expect([SERVER_GONE.restarted, SERVER_GONE.shutDown], name).toContain(latest!.data.reason);
    }
    h.live = h.openLive();
  });

  it("stays within maxLiveSessions: a session past the cap stays crashed with the reason", async () => {
    open({ maxLiveSessions: 1 });
    for (const name of ["first", "second"]) {
      const session = await h.manager.create({ kind: "shell", name });
      await h.manager.crash(session.id, SERVER_GONE.shutDown);
    }
    const outcomes = await pass();
    expect(outcomes.map((o) => o.outcome).sort()).toEqual(["failed", "recovered"]);
    const failed = outcomes.find((o) => o.outcome === "failed")!;
    expect(failed.reason).toContain("maxLiveSessions");
    expect((await h.manager.get(failed.session_id)).status).toBe("crashed");
    expect((await autoEvents(failed.session_id))[0]).toMatchObject({ type: AUTO_RECOVER_FAILED, data: { code: "rate_limited" } });
    expect(h.live.liveCount).toBe(1);
  });
});
