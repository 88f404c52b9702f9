/**
 * The process tree a session's signals go to, read from a real /proc: a pid reused by a stranger
 * must never be taken for the session leader it once was.
 */
import { spawn } from "node:child_process";
import { afterEach, describe, expect, it } from "vitest";
import { readStat, sessionMembers, stillRunning } from "../../src/drivers/process-tree.js";

describe("the process tree", () => {
  const started: ReturnType<typeof spawn>[] = [];
  afterEach(() => {
    for (const child of started.splice(0)) child.kill("SIGKILL");
  });

  /** A session leader (setsid) with a child of its own. */
  function leader(): { pid: number; starttime: number } {
    const child = spawn("sh", ["-c", "sleep 30 & wait"], { detached: true, stdio: "ignore" });
    started.push(child);
    return { pid: child.pid!, starttime: readStat(child.pid!)!.starttime };
  }

  it("finds a leader's session members while the leader is the process that started then", async () => {
    const { pid, starttime } = leader();
    let members: number[] = [];
    for (let i = 0; i < 200 && members.length < 2; i++) {
      members = sessionMembers(pid, starttime);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    expect(members).toContain(pid);
    expect(members.length).toBe(2);
    expect(stillRunning(pid, starttime)).toBe(true);
  });

  it("finds the members a known leader left behind, and nothing of a gone leader whose start is not known", async () => {
    const child = spawn("sh", ["-c", "sleep 30 & sleep 0.5"], { detached: true, stdio: "ignore" });
    started.push(child);
    const pid = child.pid!;
    const { starttime } = readStat(pid)!;
    await new Promise((resolve) => child.once("exit", resolve));
    let left: number[] = [];
    for (let i = 0; i < 200 && left.length === 0; i++) {
      left = sessionMembers(pid, starttime);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    // The sleep it left runs on in its session: found through the leader's known start.
    expect(left).toHaveLength(1);
    expect(readStat(left[0]!)!.session).toBe(pid);
    // Without that start, the session's processes may be a later session's whose leader took the
    // pid and is gone too: none is taken.
    expect(sessionMembers(pid)).toEqual([]);
    process.kill(left[0]!, "SIGKILL");
  });

  it("finds nothing of a leader whose pid another process holds now (one that started later)", () => {
    const { pid, starttime } = leader();
    // As the record of a leader that started earlier and is gone: the pid is a stranger's now.
    expect(sessionMembers(pid, starttime - 1)).toEqual([]);
    expect(stillRunning(pid, starttime - 1)).toBe(false);
  });
});
