import { expect } from "vitest";
import type { Config } from "../../src/core/index.js";
import { listProcesses } from "../../src/drivers/process-tree.js";
import { LiveSessions, type LiveSessionsOptions } from "../../src/drivers/index.js";
import { type SessionChange, SessionManager } from "../../src/engine/index.js";
import { openSqliteStore } from "../../src/store/index.js";
import { tempHome } from "../helpers/temp-home.js";

/**
 * Short limits so that tests of timeouts and reaping take milliseconds. Starting is not one of
 * them: a sandboxed interpreter may take seconds to come up on a loaded 2-core machine.
 */
export const FAST = {
  enableSessions: true,
  stopGraceMs: 300,
  interruptGraceMs: 300,
  startTimeoutMs: 20_000,
  stateSyncMs: 50,
  reaperIntervalMs: 20,
} as const;

/**
 * A temp SESSIOND_HOME, a real SessionManager on SQLite, and LiveSessions over it, recording
 * every process it starts so that `close` can prove none outlived the test.
 */
export class LiveHarness {
  readonly home: ReturnType<typeof tempHome>;
  readonly config: Config;
  manager: SessionManager;
  live: LiveSessions;
  /** Leaders of every process started in this test (shells), by any LiveSessions of it. */
  readonly pids = new Set<number>();
  readonly changes: SessionChange[] = [];

  constructor(flags: Record<string, unknown> = {}) {
    this.home = tempHome({ ...FAST, ...flags });
    this.config = this.home.config;
    this.manager = this.openManager();
    this.live = this.openLive();
  }

  openManager(): SessionManager {
    const manager = new SessionManager({ store: openSqliteStore(this.config), config: this.config });
    manager.bus.subscribe((change) => this.changes.push(change));
    return manager;
  }

  openLive(options: Partial<LiveSessionsOptions> = {}): LiveSessions {
    return new LiveSessions({
      manager: this.manager,
      config: this.config,
      onProcess: ({ pid }) => this.pids.add(pid),
      ...options,
    });
  }

  /** Processes still alive that belong to a shell of this test (the shell itself or its terminal session). */
  leftovers(): number[] {
    return listProcesses()
      .filter((p) => p.state !== "Z" && p.state !== "X" && (this.pids.has(p.pid) || this.pids.has(p.session)))
      .map((p) => p.pid);
  }

  /** Closes everything and asserts that no process of this test is left. */
  async close(): Promise<void> {
    try {
      await this.live.close();
      await this.manager.close();
      // Killed processes may take a moment to be reaped by init.
      for (let i = 0; i < 100 && this.leftovers().length; i++) await new Promise((r) => setTimeout(r, 10));
      expect(this.leftovers(), "processes left behind").toEqual([]);
      expect(this.live.liveCount).toBe(0);
    } finally {
      this.home.remove();
    }
  }
}

/** Resolves to the error a promise rejects with (fails the test if it resolves). */
export async function failure(promise: Promise<unknown>): Promise<Error & { code?: string; field?: string; status?: number }> {
  const outcome = await promise.then(
    () => undefined,
    (err: unknown) => err,
  );
  if (!(outcome instanceof Error)) throw new Error(`expected a rejection, got ${String(outcome)}`);
  return outcome as Error & { code?: string; field?: string; status?: number };
}

/** Polls `predicate` until it holds (or fails after `timeoutMs`). */
export async function eventually<T>(predicate: () => T | Promise<T>, timeoutMs = 5_000, what = "the condition"): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await predicate();
    if (value) return value as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** True while a process with this pid exists and is not a zombie. */
export function alive(pid: number): boolean {
  return listProcesses().some((p) => p.pid === pid && p.state !== "Z" && p.state !== "X");
}


export { hostPid, processesOfUid, uniqueUidBase } from "../helpers/sandbox-pids.js";
