import { describe, expect, it } from "vitest";
import { ExitNotice } from "../../src/drivers/exit-notice.js";
import type { DriverLog } from "../../src/drivers/log.js";

const exit = { exitCode: 3, signal: null };

function logged(): { log: DriverLog; warnings: string[] } {
  const warnings: string[] = [];
  const log: DriverLog = { debug: () => {}, info: () => {}, error: () => {}, warn: (_d, message) => warnings.push(message) };
  return { log, warnings };
}

describe("ExitNotice", () => {
  it("tells listeners and settles only when announced, once, though the exit is known when recorded", async () => {
    const { log } = logged();
    const notice = new ExitNotice(log);
    const heard: unknown[] = [];
    const removed = notice.onExit(() => heard.push("removed"));
    notice.onExit((e) => heard.push(e));
    removed();
    expect(notice.record(exit)).toBe(true);
    expect(notice.record({ exitCode: 0, signal: null })).toBe(false);
    expect(notice.exit).toBe(exit);
    await Promise.resolve();
    expect(heard).toEqual([]);
    notice.announce();
    expect(heard).toEqual([exit]);
    await expect(notice.settled).resolves.toBe(exit);
  });

  it("calls a listener added after the exit on the next microtask, and logs a listener that throws without stopping the others", async () => {
    const { log, warnings } = logged();
    const notice = new ExitNotice(log);
    const heard: unknown[] = [];
    notice.onExit(() => {
      throw new Error("boom");
    });
    notice.onExit((e) => heard.push(e));
    notice.record(exit);
    notice.announce();
    expect(heard).toEqual([exit]);
    expect(warnings).toEqual(["an exit listener failed"]);
    notice.onExit((e) => heard.push(["late", e]));
    expect(heard).toHaveLength(1);
    await Promise.resolve();
    expect(heard).toEqual([exit, ["late", exit]]);
  });
});
