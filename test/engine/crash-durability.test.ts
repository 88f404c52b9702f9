import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { SessionManager } from "../../src/engine/index.js";
import { openSqliteStore } from "../../src/store/index.js";
import { compiledFixture } from "../helpers/compiled-tree.js";
import { tempHome } from "../helpers/temp-home.js";

/** The appender, compiled to plain JavaScript: each of the runs starts it anew. */
const CHILD = compiledFixture("test/engine/fixtures/append-until-killed.ts");
const RUNS = 20;
/**
 * Runs at once: each is a child of its own on a data dir of its own, killed at its own random
 * moment, so two at a time make the same kills; most of a run is the child loading, not appending.
 */
const AT_ONCE = 2;
const homes: (() => void)[] = [];
afterAll(() => homes.forEach((remove) => remove()));

/** Runs the appender child, kills it with SIGKILL a random while after it starts appending, returns its acks. */
function runAndKill(home: string, killAfterMs: number): Promise<Map<string, number>> {
  const ackFile = join(home, "acks.txt");
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CHILD, home, ackFile], { stdio: ["ignore", "pipe", "pipe"] });
    let stderr = "";
    let timer: NodeJS.Timeout | undefined;
    child.stdout.on("data", () => {
      timer ??= setTimeout(() => child.kill("SIGKILL"), killAfterMs);
    });
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    child.on("exit", (code, signal) => {
      clearTimeout(timer);
      if (signal !== "SIGKILL") return reject(new Error(`child exited on its own (${code}): ${stderr}`));
      const acked = new Map<string, number>();
      // The last line may have been cut by the kill; only whole lines are acks.
      for (const line of readFileSync(ackFile, "utf8").split("\n").slice(0, -1)) {
        const [, id, seq] = line.split(" ");
        acked.set(id!, Math.max(acked.get(id!) ?? 0, Number(seq)));
      }
      resolve(acked);
    });
  });
}

describe("durability under kill -9", () => {
  it(`keeps every acknowledged event, gap-free, across ${RUNS} SIGKILLs at random moments`, { timeout: 180_000 }, async () => {
    let totalAcked = 0;
    let started = 0;
    let finished = 0;
    const oneRun = async () => {
      const { home, config, remove } = tempHome();
      homes.push(remove);
      const acked = await runAndKill(home, 20 + Math.floor(Math.random() * 400));
      expect(acked.size).toBe(4);
      const manager = new SessionManager({ store: openSqliteStore(config), config });
      for (const [id, lastAcked] of acked) {
        const session = await manager.get(id);
        expect(session.last_seq).toBeGreaterThanOrEqual(lastAcked);
        const seqs = (await manager.listEvents(id, { limit: 10_000 })).map((e) => e.seq);
        expect(seqs).toEqual(Array.from({ length: session.last_seq }, (_, i) => i + 1));
        // The engine carries on from the recovered seq.
        expect((await manager.appendEvent(id, "after-crash")).seq).toBe(session.last_seq + 1);
        totalAcked += lastAcked;
      }
      await manager.close();
    };
    const runner = async () => {
      while (started < RUNS) {
        started++;
        await oneRun();
        finished++;
      }
    };
    await Promise.all(Array.from({ length: AT_ONCE }, runner));
    expect(finished).toBe(RUNS);
    expect(totalAcked).toBeGreaterThan(RUNS * 4);
  });
});
