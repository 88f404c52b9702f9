/**
 * Workspace snapshots (docs/checkpoints.md): checkpoints `with_files` of a workspace of 10,000
 * files / 200 MB through the engine, each beside the plain tool that does the same work in the
 * same run, on the same disk, with the files in the page cache for both:
 *
 * - the first checkpoint (every file read, hashed and stored) beside `tar -cf` of the folder, at
 *   the same durability: with snapshotFsync (the default: a checkpoint is on disk when it is
 *   acknowledged) beside tar followed by an fsync of its archive (`sync <file>`), and with
 *   `--fsync=false` beside tar alone (both leave their bytes in the page cache);
 * - the floor of that design (bench/snapshot-floor.ts: each file read through its folder's
 *   descriptor, hashed and packed, nothing else) beside the same `tar`;
 * - a second checkpoint after 10 files changed, beside the first;
 * - a restore to the first checkpoint and a fork from it, beside `cp -a` of the folder.
 *
 * Each timed step starts after `sync`, so none pays for the writeback of the one before it. The
 * server's first snapshot of all starts the change-tracking helper (docs/checkpoints.md#change-tracking,
 * once per server: ~40 ms, several times that behind a pyenv shim); a checkpoint of a one-file
 * workspace takes that first, so the figures are those of a workspace's checkpoints on a running server.
 *
 *   npx tsx bench/snapshots.ts [--quick] [--files=N] [--mb=N] [--fsync=false]
 */
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { dataPaths } from "../src/core/index.js";
import { snapshotFloor } from "./snapshot-floor.js";
import { type Figure, benchConfig, cleanupTemp, fmtMB, fmtMs, fmtRatio, log, median, msSince, openEngine, printFigures, tempDir } from "./lib.js";

const quick = process.argv.includes("--quick");

function arg(name: string, fallback: string): string {
  const found = process.argv.find((a) => a.startsWith(`--${name}=`));
  return found ? found.slice(name.length + 3) : fallback;
}

const FILES = Number(arg("files", quick ? "1000" : "10000"));
const TOTAL_BYTES = Number(arg("mb", quick ? "20" : "200")) * 1024 * 1024;
const FSYNC = arg("fsync", "true") !== "false";
const CHANGED = 10;
/** Rounds of the restore, fork and cp -a figures (medians). */
const ROUNDS = quick ? 2 : 3;

/** Writes the workspace: FILES files of random bytes (sizes spread around the mean), 100 folders. @returns their paths */
function generate(dir: string): string[] {
  const mean = TOTAL_BYTES / FILES;
  const paths: string[] = [];
  let written = 0;
  for (let i = 0; i < FILES; i++) {
    // Sizes from a fifth of the mean to nearly twice it, the last file taking what is left.
    const size = i === FILES - 1 ? Math.max(0, TOTAL_BYTES - written) : Math.round(mean * (0.2 + 1.6 * ((i * 7919) % 1000) / 1000));
    const folder = join(dir, `pkg-${i % 100}`, `sub-${i % 7}`);
    mkdirSync(folder, { recursive: true });
    const path = join(folder, `file-${i}.dat`);
    writeFileSync(path, randomBytes(size));
    paths.push(path);
    written += size;
  }
  return paths;
}

/**
 * Writes back what earlier steps left dirty, so that each timed step starts from the same state
 * of the page cache rather than paying for the writes of the step before it.
 */
function settle(): void {
  execFileSync("sync");
}

/** Wall time of a command, in ms (after settle()). */
function timed(command: string, args: readonly string[]): number {
  settle();
  const start = process.hrtime.bigint();
  execFileSync(command, args, { stdio: "ignore" });
  return msSince(start);
}

async function main(): Promise<void> {
  const home = tempDir("snapshots");
  const config = benchConfig(home, { sqliteSynchronous: "normal", snapshotFsync: FSYNC, maxSnapshotBytes: 4 * TOTAL_BYTES });
  const { manager } = openEngine(config);
  const peers = tempDir("snapshots-peers");
  try {
    const warm = await manager.create({ name: "bench-warm-up" });
    mkdirSync(join(dataPaths(config).workspaces, "bench-warm-up"), { recursive: true });
    writeFileSync(join(dataPaths(config).workspaces, "bench-warm-up", "a.txt"), "a");
    await manager.createCheckpoint(warm.id, { label: "warm-up", with_files: true });
    const session = await manager.create({ name: "bench-ws" });
    const dir = join(dataPaths(config).workspaces, "bench-ws");
    log(`generating ${FILES} files, ${fmtMB(TOTAL_BYTES)} in ${dir}`);
    const paths = generate(dir);

    // The same durability as the checkpoint: its pack is fsynced before it is acknowledged.
    const archive = join(peers, "ws.tar");
    const tarMs = FSYNC ? timed("sh", ["-c", 'tar -cf "$1" -C "$2" . && sync "$1"', "tar", archive, dir]) : timed("tar", ["-cf", archive, "-C", dir, "."]);
    const tarPeer = FSYNC ? "tar -cf of the folder + fsync of the archive" : "tar -cf of the folder";
    rmSync(archive);
    settle();
    let start = process.hrtime.bigint();
    await snapshotFloor(dir, join(peers, "floor.pack"));
    const floorMs = msSince(start);
    log(`floor (read, hash, pack every file; nothing else) ${fmtMs(floorMs)}`);
    settle();
    start = process.hrtime.bigint();
    const first = await manager.createCheckpoint(session.id, { label: "first", with_files: true });
    const firstMs = msSince(start);
    log(`first checkpoint ${fmtMs(firstMs)}, ${tarPeer} ${fmtMs(tarMs)} (${first.state.workspace?.files} files)`);

    for (const path of paths.slice(0, CHANGED)) writeFileSync(path, randomBytes(TOTAL_BYTES / FILES));
    settle();
    start = process.hrtime.bigint();
    await manager.createCheckpoint(session.id, { label: "second", with_files: true });
    const secondMs = msSince(start);
    log(`second checkpoint after ${CHANGED} changed files ${fmtMs(secondMs)}`);

    const restores: number[] = [];
    const forks: number[] = [];
    const copies: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const copy = join(peers, `cp-${round}`);
      copies.push(timed("cp", ["-a", dir, copy]));
      rmSync(copy, { recursive: true });
      for (const path of paths.slice(round * CHANGED, (round + 1) * CHANGED)) writeFileSync(path, randomBytes(100));
      settle();
      start = process.hrtime.bigint();
      await manager.restore(session.id, first.id);
      restores.push(msSince(start));
      // The replaced tree is deleted in the background: done before the next step is timed.
      await manager.files.snapshots.idle();
      settle();
      start = process.hrtime.bigint();
      const child = await manager.fork(session.id, first.id, { name: `bench-fork-${round}` });
      forks.push(msSince(start));
      await manager.delete(child.id);
      rmSync(join(dataPaths(config).workspaces, child.name), { recursive: true, force: true });
      log(`round ${round}: cp -a ${fmtMs(copies.at(-1)!)}, restore ${fmtMs(restores.at(-1)!)}, fork ${fmtMs(forks.at(-1)!)}`);
    }
    const cpMs = median(copies);
    const restoreMs = median(restores);
    const forkMs = median(forks);
    const label = `${FILES.toLocaleString("en-US")} files / ${fmtMB(TOTAL_BYTES)}${FSYNC ? "" : ", snapshotFsync false"}`;
    const figures: Figure[] = [
      {
        name: `first checkpoint with_files, ${label}`,
        measured: fmtMs(firstMs),
        peer: `${fmtMs(tarMs)} for ${tarPeer}`,
        ratio: fmtRatio(firstMs / tarMs),
        target: "≤ 1× tar",
        pass: firstMs <= tarMs,
      },
      {
        name: "  the design's floor: each file opened through its folder, read, hashed and packed; nothing else",
        measured: fmtMs(floorMs),
        peer: `${fmtMs(tarMs)} for ${tarPeer}`,
        ratio: fmtRatio(floorMs / tarMs),
        target: "beside tar (what the goal leaves for the rest)",
        pass: null,
      },
      {
        name: `second checkpoint after ${CHANGED} files changed`,
        measured: fmtMs(secondMs),
        peer: `${fmtMs(firstMs)} for the first`,
        ratio: fmtRatio(secondMs / firstMs),
        target: "≤ 5% of the first",
        pass: secondMs <= 0.05 * firstMs,
      },
      {
        name: `restore to the first checkpoint (median of ${ROUNDS})`,
        measured: fmtMs(restoreMs),
        peer: `${fmtMs(cpMs)} for cp -a of the folder`,
        ratio: fmtRatio(restoreMs / cpMs),
        target: "beside cp -a",
        pass: null,
      },
      {
        name: `fork from the first checkpoint (median of ${ROUNDS})`,
        measured: fmtMs(forkMs),
        peer: `${fmtMs(cpMs)} for cp -a of the folder`,
        ratio: fmtRatio(forkMs / cpMs),
        target: "beside cp -a",
        pass: null,
      },
    ];
    printFigures(figures);
  } finally {
    await manager.close();
    cleanupTemp();
  }
}

await main();
