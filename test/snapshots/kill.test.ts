import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, dirname, join } from "node:path";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { WorkspaceSnapshots } from "../../src/snapshots/index.js";
import { compiledFixture } from "../helpers/compiled-tree.js";
import { filesUnder, listTree, writeRandomFiles } from "./tree.js";

/** The worker, compiled to plain JavaScript: each run starts it anew. */
const WORKER = compiledFixture("test/snapshots/fixtures/snapshot-worker.ts");
const RUNS = 5;

// Each test starts, kills and checks after a child process RUNS times.
vi.setConfig({ testTimeout: 120_000 });

let root: string;
let snapshots: WorkspaceSnapshots;
let ws: string;

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), "sessiond-snapshot-kill-"));
  snapshots = new WorkspaceSnapshots({ blobsDir: join(root, "blobs"), snapshotsDir: join(root, "snapshots"), fsync: false });
  ws = join(root, "ws");
  mkdirSync(ws);
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

/**
 * Runs the worker until it has printed `lines` lines, then a random while more, and kills it
 * with SIGKILL. @returns what it printed
 */
function runAndKill(args: readonly string[], lines: number): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [WORKER, ...args], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let stderr = "";
    let armed = false;
    child.stdout.on("data", (chunk: Buffer) => {
      out += chunk.toString();
      if (!armed && out.split("\n").length > lines) {
        armed = true;
        // Anywhere within the next operation or two.
        setTimeout(() => child.kill("SIGKILL"), Math.random() * 150);
      }
    });
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    child.once("error", reject);
    child.once("exit", (code, signal) => {
      if (signal !== "SIGKILL") reject(new Error(`worker ended with ${code ?? signal}: ${stderr}`));
      else resolve(out.split("\n").filter(Boolean));
    });
  });
}

describe("kill -9 in the middle", () => {
  it("of a restore leaves the workspace as the old tree or the new one, once the interrupted restore is finished", async () => {
    writeRandomFiles(ws, 300, 3000, "a");
    writeFileSync(join(ws, "same-name.txt"), "version A");
    symlinkSync("/etc", join(ws, "link"));
    const a = await snapshots.snapshotWorkspace(ws);
    const treeA = listTree(ws);
    rmSync(ws, { recursive: true });
    mkdirSync(ws);
    writeRandomFiles(ws, 300, 3000, "b");
    writeFileSync(join(ws, "same-name.txt"), "version B");
    mkdirSync(join(ws, "only-b"));
    const b = await snapshots.snapshotWorkspace(ws);
    const treeB = listTree(ws);

    const seen = new Set<string>();
    for (let run = 0; run < RUNS; run++) {
      await runAndKill(["restore", join(root, "blobs"), join(root, "snapshots"), ws, a.digest, b.digest], 1 + (run % 2));
      await snapshots.finishInterruptedRestore(ws);
      const tree = listTree(ws);
      const which = JSON.stringify(tree) === JSON.stringify(treeA) ? "A" : JSON.stringify(tree) === JSON.stringify(treeB) ? "B" : "a mix";
      expect(which, `run ${run}`).not.toBe("a mix");
      seen.add(which);
    }
    expect(seen.size).toBeGreaterThan(0);
  });

  it("of a snapshot leaves no half blob under a name, and every snapshot it reported restorable", async () => {
    writeRandomFiles(ws, 200, 5000);
    for (let run = 0; run < RUNS; run++) {
      const reported = await runAndKill(["snapshot", join(root, "blobs"), join(root, "snapshots"), ws], 2);
      // Every blob under a name holds what its name says: loose ones, and each one a named pack index lists.
      for (const blob of filesUnder(join(root, "blobs", "sha256"))) {
        const name = `${basename(dirname(blob))}${basename(blob)}`;
        expect(createHash("sha256").update(readFileSync(blob)).digest("hex"), blob).toBe(name);
      }
      for (const index of filesUnder(join(root, "blobs", "packs")).filter((f) => f.endsWith(".idx"))) {
        const pack = readFileSync(index.replace(/\.idx$/, ".pack"));
        for (const [digest, offset, length] of JSON.parse(readFileSync(index, "utf8")).objects as [string, number, number][]) {
          expect(`sha256:${createHash("sha256").update(pack.subarray(offset, offset + length)).digest("hex")}`, index).toBe(digest);
        }
      }
      // A store opened now, as the next owner of the data dir would: it reads the packs the worker named.
      const reader = new WorkspaceSnapshots({ blobsDir: join(root, "blobs"), snapshotsDir: join(root, "snapshots"), fsync: false });
      for (const line of reported) {
        const digest = line.split(" ")[1]!;
        const out = join(root, `out-${run}-${digest.slice(7, 15)}`);
        await reader.copyWorkspace(digest, out);
        expect(listTree(out).filter((e) => e.type === "file").length).toBe(205);
        rmSync(out, { recursive: true });
      }
      // What the crash left (temporary files, a pack without its index) goes with the next collection; held snapshots stay.
      const fresh = new WorkspaceSnapshots({ blobsDir: join(root, "blobs"), snapshotsDir: join(root, "snapshots"), fsync: false });
      await fresh.collect();
      expect(filesUnder(join(root, "blobs", "tmp"))).toEqual([]);
      const packs = filesUnder(join(root, "blobs", "packs"));
      expect(packs.filter((f) => f.endsWith(".pack")).length).toBe(packs.filter((f) => f.endsWith(".idx")).length);
    }
  });
});
