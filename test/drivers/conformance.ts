import { chownSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { LiveProcess, ProcessExit, SessionDriver, StartSpec } from "../../src/drivers/index.js";
import { isAlive as alive } from "../../src/drivers/process-tree.js";
import { checkSandbox } from "../../src/drivers/sandbox/index.js";

/** Where the sandbox can start, the contract is checked inside it, as sessions run (a uid no one else uses). */
const sandbox = checkSandbox();
const SANDBOX_UID = 199_999;

/** How a kind says things: commands that print, fail, sleep… in its own language. */
export interface DriverSamples {
  /** Prints exactly `hello\n` on stdout. */
  readonly hello: string;
  /** Prints `oops\n` on stderr and fails (non-zero exit status). */
  readonly fail: string;
  /** Runs for a long time until interrupted. */
  readonly sleep: string;
  /** Sets state that a later exec reads back with `readBack` (printing exactly `kept\n`). */
  readonly setState: string;
  readonly readBack: string;
}

/**
 * The contract every SessionDriver keeps, run against a real process. Each kind runs it in three
 * lines (see shell-conformance.test.ts).
 */
export function driverConformance(name: string, makeDriver: () => SessionDriver, samples: DriverSamples): void {
  describe(`${name} driver conformance`, () => {
    let dir: string;
    let processes: LiveProcess[];
    const spec = (): StartSpec => ({
      sessionId: `conformance-${processes.length}`,
      sessionName: "conformance",
      server: { target: "local" },
      cwd: dir,
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: dir, LANG: "C.UTF-8" },
      cols: 80,
      rows: 24,
      runtimeDir: mkdtempSync(join(dir, "run-")),
      limits: { startTimeoutMs: 20_000, interruptGraceMs: 300, maxProcesses: 0, cgroup: false, memoryBytes: 0, cpus: 0, totalMemoryBytes: 0, fileBytes: 0, stopGraceMs: 300 },
      ...(sandbox.ok ? { sandbox: { tools: sandbox.tools, uid: SANDBOX_UID, gid: SANDBOX_UID, network: true, workspace: dir, readOnlyPaths: [] } } : {}),
    });
    const start = async () => {
      const proc = await makeDriver().start(spec());
      processes.push(proc);
      return proc;
    };
    const exec = (proc: LiveProcess, input: string) => proc.exec({ input, maxOutputBytes: 1 << 20 });

    beforeEach(() => {
      dir = mkdtempSync(join(tmpdir(), "sessiond-conformance-"));
      if (sandbox.ok) chownSync(dir, SANDBOX_UID, SANDBOX_UID);
      processes = [];
    });
    afterEach(async () => {
      for (const proc of processes) await proc.stop(300);
      for (const proc of processes) expect(alive(proc.pid)).toBe(false);
      rmSync(dir, { recursive: true, force: true });
    });

    it("starts ready, on a target it declares, with a pid", async () => {
      const proc = await start();
      expect(proc.state).toBe("ready");
      expect(makeDriver().targets).toContain(proc.target);
      expect(alive(proc.pid)).toBe(true);
    });

    it("runs an exec and returns its stdout and exit status", async () => {
      const proc = await start();
      const outcome = await exec(proc, samples.hello);
      expect(outcome).toMatchObject({ exitCode: 0, truncated: false, processExited: false });
      expect(outcome.stdout.toString()).toBe("hello\n");
      expect(proc.state).toBe("ready");
    });

    it("reports a failure as an outcome with stderr and a non-zero status", async () => {
      const proc = await start();
      const outcome = await exec(proc, samples.fail);
      expect(outcome.exitCode).not.toBe(0);
      expect(outcome.stderr.toString()).toContain("oops");
    });

    it("keeps state from one exec to the next", async () => {
      const proc = await start();
      await exec(proc, samples.setState);
      expect((await exec(proc, samples.readBack)).stdout.toString()).toBe("kept\n");
    });

    it("refuses a second exec while one runs", async () => {
      const proc = await start();
      const running = exec(proc, samples.sleep);
      await expect(exec(proc, samples.hello)).rejects.toMatchObject({ code: "conflict" });
      expect(proc.interrupt()).toBe(true);
      await running;
    });

    it("interrupts a running exec and stays usable", async () => {
      const proc = await start();
      expect(proc.interrupt()).toBe(false);
      const running = exec(proc, samples.sleep);
      setTimeout(() => proc.interrupt(), 50);
      const outcome = await running;
      expect(outcome.processExited).toBe(false);
      expect((await exec(proc, samples.hello)).stdout.toString()).toBe("hello\n");
    });

    it("cuts output at maxOutputBytes and says so", async () => {
      const proc = await start();
      const outcome = await proc.exec({ input: samples.hello, maxOutputBytes: 3 });
      expect(outcome).toMatchObject({ truncated: true });
      expect(outcome.stdout.toString()).toBe("hel");
    });

    it("captures its state for a restart", async () => {
      const proc = await start();
      const state = await proc.captureState();
      expect(state.cwd).toBe(dir);
      expect(state.env.HOME).toBe(dir);
    });

    it("stops, reporting its exit to listeners, and the pid is gone", async () => {
      const proc = await start();
      const exits: ProcessExit[] = [];
      proc.onExit((e) => exits.push(e));
      await proc.stop(300);
      expect(proc.state).toBe("exited");
      expect(exits).toHaveLength(1);
      expect(alive(proc.pid)).toBe(false);
    });

    it("reports an exit it did not ask for, settling the running exec", async () => {
      const proc = await start();
      const exited = new Promise<ProcessExit>((resolve) => proc.onExit(resolve));
      const running = exec(proc, samples.sleep);
      setTimeout(() => process.kill(proc.pid, "SIGKILL"), 50);
      expect(await running).toMatchObject({ processExited: true, exitCode: null });
      expect(await exited).toMatchObject({ signal: 9 });
    });
  });
}
