import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import {
  appendFileSync,
  chmodSync,
  closeSync,
  linkSync,
  readFileSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  renameSync,
  rmSync,
  symlinkSync,
  unlinkSync,
  utimesSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { IGNORE_FILE, WorkspaceSnapshots, encodeManifest } from "../../src/snapshots/index.js";
import { ChangeTracker } from "../../src/snapshots/change-tracker.js";
import { namesLeftOutEverywhere } from "../../src/snapshots/walk.js";
import { writeRandomFiles } from "./tree.js";

/** The real python3 (not a version manager's shim: each test starts its own helper). */
let python: string;
let root: string;
let ws: string;
let tracked: WorkspaceSnapshots;
/** A store that walks the whole workspace every time: what a tracked snapshot must equal. */
let walked: WorkspaceSnapshots;
const unavailable: string[] = [];

beforeAll(() => {
  python = execFileSync("python3", ["-c", "import sys; sys.stdout.write(sys.executable)"], { encoding: "utf8" });
});

function trackedStore(pythonPath = python, fullWalkMs = 600_000, maxFolders?: number, churnRestMs?: number): WorkspaceSnapshots {
  return new WorkspaceSnapshots({
    blobsDir: join(root, "blobs"),
    snapshotsDir: join(root, "snapshots"),
    fsync: false,
    changeTracking: { python: pythonPath, timeoutMs: 5000, maxEntries: 100_000, fullWalkMs, ...(maxFolders ? { maxFolders } : {}), ...(churnRestMs ? { churnRestMs } : {}), onUnavailable: (reason) => unavailable.push(reason) },
  });
}

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), "sessiond-tracking-"));
  ws = join(root, "ws");
  mkdirSync(ws);
  tracked = trackedStore();
  walked = new WorkspaceSnapshots({ blobsDir: join(root, "blobs-walked"), snapshotsDir: join(root, "snapshots-walked"), fsync: false });
  unavailable.length = 0;
});
afterEach(() => {
  tracked.close();
  rmSync(root, { recursive: true, force: true });
});

/** A tracked snapshot, checked against a whole walk of the same tree (the same manifest digest). */
async function snapshotBoth(): Promise<Awaited<ReturnType<WorkspaceSnapshots["snapshotWorkspace"]>>> {
  const fast = await tracked.snapshotWorkspace(ws);
  const whole = await walked.snapshotWorkspace(ws);
  expect(fast.digest).toBe(whole.digest);
  expect({ files: fast.files, bytes: fast.bytes }).toEqual({ files: whole.files, bytes: whole.bytes });
  return fast;
}

/**
 * Waits past the snapshot's racy window (a file changed within 100 ms of its read is not cached,
 * and a linked one not cached makes a tracked snapshot walk everything on its own): so a test
 * sees what the tracker's answer does.
 */
function settled(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 150));
}

/** Kills the change-tracking helpers this test process started, and only those. */
function killOwnHelpers(): void {
  execFileSync("pkill", ["-KILL", "-P", String(process.pid), "-f", "change-watcher.py"]);
}

/** Folders a whole walk of populate()'s tree lists: the root, 10 folders, 5 below each. */
const ALL_FOLDERS = 1 + 10 + 10 * 5;

/** 10 folders of 20 files, each with 5 subfolders of one file. @returns the 200 files' paths */
function populate(): string[] {
  const paths = writeRandomFiles(ws, 200, 512);
  for (let i = 0; i < 10; i++) writeRandomFiles(join(ws, `d${i}`), 5, 256, `deep${i}-`);
  return paths;
}

describe("change tracking", () => {
  it("lists only the folders that changed, and finds every kind of change a whole walk finds", async () => {
    const paths = populate();
    const first = await snapshotBoth();
    expect(first.foldersListed).toBe(ALL_FOLDERS);

    const unchanged = await snapshotBoth();
    expect(unchanged.digest).toBe(first.digest);
    expect(unchanged.foldersListed).toBe(0);

    writeFileSync(paths[0]!, Buffer.alloc(512, 7));
    const changed = await snapshotBoth();
    expect(changed.digest).not.toBe(first.digest);
    expect(changed.foldersListed).toBe(1);

    // One change of each kind, a snapshot after each, every one checked against a whole walk.
    const steps: [string, () => void][] = [
      ["append", () => appendFileSync(paths[1]!, "more")],
      ["new file in a deep folder", () => writeFileSync(join(ws, "d2", "d2", "new.txt"), "n")],
      ["delete", () => unlinkSync(paths[3]!)],
      ["rename within a folder", () => renameSync(paths[4]!, join(ws, "d4", "renamed.bin"))],
      ["rename across folders", () => renameSync(paths[5]!, join(ws, "d6", "moved.bin"))],
      ["chmod a file", () => chmodSync(paths[6]!, 0o600)],
      ["chmod a folder", () => chmodSync(join(ws, "d7"), 0o700)],
      ["times of a file", () => utimesSync(paths[8]!, new Date(2020, 1, 1), new Date(2020, 1, 1))],
      ["new nested folders", () => {
        mkdirSync(join(ws, "d9", "a", "b", "c"), { recursive: true });
        writeFileSync(join(ws, "d9", "a", "b", "c", "x.txt"), "x");
      }],
      ["rename a folder", () => renameSync(join(ws, "d9", "a"), join(ws, "d9", "a2"))],
      ["write in the renamed folder", () => writeFileSync(join(ws, "d9", "a2", "b", "c", "x.txt"), "changed")],
      ["move a folder out and back in", () => {
        renameSync(join(ws, "d3"), join(root, "outside"));
        writeFileSync(join(root, "outside", "while-out.txt"), "o");
        renameSync(join(root, "outside"), join(ws, "d3-back"));
      }],
      ["write in a folder that came back", () => writeFileSync(join(ws, "d3-back", "d3", "again.txt"), "a")],
      ["remove a tree", () => rmSync(join(ws, "d2"), { recursive: true })],
      ["a folder replaced by a file of its name", () => {
        rmSync(join(ws, "d1", "d1"), { recursive: true });
        writeFileSync(join(ws, "d1", "d1"), "now a file");
      }],
      ["a link made, then pointed elsewhere", () => {
        symlinkSync("../d0", join(ws, "d5", "link"));
      }],
      ["relink", () => {
        unlinkSync(join(ws, "d5", "link"));
        symlinkSync("/etc", join(ws, "d5", "link"));
      }],
      ["a folder's time", () => utimesSync(join(ws, "d8"), new Date(2021, 1, 1), new Date(2021, 1, 1))],
    ];
    for (const [name, change] of steps) {
      change();
      const snap = await snapshotBoth().catch((err: unknown) => {
        throw new Error(`after "${name}": ${(err as Error).message}`);
      });
      expect(snap.foldersListed, name).toBeLessThan(20);
    }
  });

  it("sees a write through a hard link from outside the workspace, which raises no event in it", async () => {
    populate();
    const inside = join(ws, "d0", "shared.txt");
    const outside = join(root, "outside-link.txt");
    writeFileSync(inside, "one");
    linkSync(inside, outside);
    await snapshotBoth();
    writeFileSync(outside, "two, written through the other name");
    const after = await snapshotBoth();
    // The folder holding a file with two links is listed each time.
    expect(after.foldersListed).toBeGreaterThanOrEqual(1);
  });

  it("sees a write through a hard link made inside the workspace, which raises no event in the first name's folder", async () => {
    populate();
    writeFileSync(join(ws, "d0", "f.txt"), "original");
    // d1 already holds linked files: its folder is listed every time, the new link's too.
    writeFileSync(join(ws, "d1", "x"), "x");
    linkSync(join(ws, "d1", "x"), join(ws, "d1", "y"));
    await snapshotBoth();
    linkSync(join(ws, "d0", "f.txt"), join(ws, "d1", "g.txt"));
    writeFileSync(join(ws, "d1", "g.txt"), "changed through the new name");
    await snapshotBoth();
    writeFileSync(join(ws, "d1", "g.txt"), "changed again");
    await snapshotBoth();
  });

  it("sees a write through a descriptor whose name was removed, to a file that lives on under a name in another folder", async () => {
    populate();
    const first = join(ws, "d0", "f.txt");
    writeFileSync(first, "v1");
    const fd = openSync(first, "a");
    try {
      linkSync(first, join(ws, "d1", "g.txt"));
      unlinkSync(first);
      await snapshotBoth();
      writeSync(fd, " appended through the old descriptor");
      await snapshotBoth();
    } finally {
      closeSync(fd);
    }
    await snapshotBoth();
  });

  it("sees a write through a link that takes the name of a file that had two, or that lies in an ignored folder", async () => {
    populate();
    writeFileSync(join(ws, "d0", "f.txt"), "original");
    writeFileSync(join(ws, "d1", "g"), "other");
    linkSync(join(ws, "d1", "g"), join(ws, "d1", "h"));
    mkdirSync(join(ws, "ign"));
    writeFileSync(join(ws, IGNORE_FILE), "ign/\n");
    await settled();
    await snapshotBoth();
    unlinkSync(join(ws, "d1", "g"));
    linkSync(join(ws, "d0", "f.txt"), join(ws, "d1", "g"));
    writeFileSync(join(ws, "d1", "g"), "changed through a name that had two links");
    await settled();
    await snapshotBoth();
    writeFileSync(join(ws, "d2", "k.txt"), "original");
    await settled();
    await snapshotBoth();
    linkSync(join(ws, "d2", "k.txt"), join(ws, "ign", "k"));
    writeFileSync(join(ws, "ign", "k"), "changed through an ignored name");
    await settled();
    await snapshotBoth();
    // Files read 100 ms after their last change are in the stat cache, and the folders were not
    // listed on that account: the tracker's answers made these snapshots walk everything.
  });

  it("walks the whole workspace again when the ignore rules change", async () => {
    populate();
    writeFileSync(join(ws, "d0", "build.log"), "log");
    await snapshotBoth();
    writeFileSync(join(ws, IGNORE_FILE), "*.log\n");
    const snap = await snapshotBoth();
    expect(snap.foldersListed).toBe(ALL_FOLDERS);
  });

  it("walks the whole workspace again after a restore, and after the helper died", async () => {
    const paths = populate();
    const first = await snapshotBoth();
    writeFileSync(paths[0]!, "x");
    await snapshotBoth();
    await tracked.restoreWorkspace(ws, first.digest);
    await tracked.idle();
    const restored = await snapshotBoth();
    expect(restored.digest).toBe(first.digest);
    expect(restored.foldersListed).toBe(ALL_FOLDERS);

    // The helper is killed (only this process's: other test files run theirs): the next
    // snapshot cannot know what changed, and walks it all.
    killOwnHelpers();
    writeFileSync(paths[1]!, "y");
    const afterKill = await snapshotBoth();
    expect(afterKill.foldersListed).toBe(ALL_FOLDERS);
    // Tracking resumes with the helper started again (its first answer is a whole walk too, when
    // the dead one's exit was noticed only after the question went to it).
    const listed: number[] = [];
    for (let i = 2; i < 5; i++) {
      writeFileSync(paths[i]!, `z${i}`);
      listed.push((await snapshotBoth()).foldersListed);
    }
    expect(listed.at(-1)).toBe(1);
  });

  it("answers a question sent to a helper that died unnoticed with a whole walk, not an uncaught write error", async () => {
    const tracker = new ChangeTracker({ python, timeoutMs: 5000 });
    try {
      expect(await tracker.changes(ws)).toBeUndefined();
      expect(await tracker.changes(ws)).toEqual({ folders: new Set(), trees: [] });
      // Killed, and given time to die, with no turn of the event loop to notice its exit: the
      // question is written to a pipe nobody reads (EPIPE).
      killOwnHelpers();
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 200);
      expect(await tracker.changes(ws)).toBeUndefined();
      // A new helper is started: its first answer is a whole walk, then tracking goes on.
      expect(await tracker.changes(ws)).toBeUndefined();
      writeFileSync(join(ws, "after"), "x");
      expect(await tracker.changes(ws)).toEqual({ folders: new Set([""]), trees: [] });
    } finally {
      tracker.close();
    }
  });

  it("walks the whole workspace again once a collection removed blobs, and never loses one it builds on", async () => {
    const paths = populate();
    // Over 1 MiB: a blob of its own, which a collection removes as soon as nothing needs it.
    const big = join(ws, "d0", "big.bin");
    writeFileSync(big, randomBytes(1_500_000));
    await tracked.snapshotWorkspace(ws, { hold: { sessionId: "s", key: "one" } });
    writeFileSync(big, randomBytes(1_500_000));
    await tracked.snapshotWorkspace(ws, { hold: { sessionId: "s", key: "two" } });
    // The first snapshot is let go and collected: its version of the big file goes.
    await tracked.release("s", "one");
    const collected = await tracked.collect();
    expect(collected.removed).toBeGreaterThan(0);
    const next = await tracked.snapshotWorkspace(ws, { hold: { sessionId: "s", key: "three" } });
    expect(next.foldersListed).toBe(ALL_FOLDERS);
    // Collections beside tracked snapshots keep whatever those use.
    for (let i = 0; i < 5; i++) {
      writeFileSync(paths[i + 1]!, `round ${i}`);
      const [snap] = await Promise.all([tracked.snapshotWorkspace(ws, { hold: { sessionId: "s", key: `r${i}` } }), tracked.collect()]);
      await tracked.release("s", i === 0 ? "three" : `r${i - 1}`);
      await tracked.collect();
      const manifest = await tracked.readManifest(snap.digest);
      for (const entry of manifest.entries) if (entry.type === "file") expect(await tracked.blobs.has(entry.digest)).toBe(true);
    }
  });

  it("walks the whole workspace again once fullWalkMs passed since the last whole walk", async () => {
    tracked.close();
    tracked = trackedStore(python, 3000);
    const paths = populate();
    await snapshotBoth();
    writeFileSync(paths[0]!, "x");
    expect((await snapshotBoth()).foldersListed).toBe(1);
    await new Promise((resolve) => setTimeout(resolve, 3100));
    writeFileSync(paths[1]!, "y");
    expect((await snapshotBoth()).foldersListed).toBe(ALL_FOLDERS);
    // Tracking resumes with the helper started again (its first answer is a whole walk too, when
    // the dead one's exit was noticed only after the question went to it).
    const listed: number[] = [];
    for (let i = 2; i < 5; i++) {
      writeFileSync(paths[i]!, `z${i}`);
      listed.push((await snapshotBoth()).foldersListed);
    }
    expect(listed.at(-1)).toBe(1);
  });

  it("walks a workspace of more folders than it watches whole every time, and says why", async () => {
    tracked.close();
    tracked = trackedStore(python, 600_000, 20);
    const paths = populate();
    await snapshotBoth();
    writeFileSync(paths[0]!, "x");
    expect((await snapshotBoth()).foldersListed).toBe(ALL_FOLDERS);
    expect(unavailable).toEqual([`${ws} is not watched: it has more than 20 folders`]);
  });

  it("watches nothing below a folder the ignore rules leave out by name, so a node_modules of more folders than it watches leaves the rest tracked", async () => {
    tracked.close();
    tracked = trackedStore(python, 600_000, 20);
    const manyFolders = (dir: string) => {
      for (let i = 0; i < 30; i++) mkdirSync(join(dir, `pkg${i}`, "lib"), { recursive: true });
      writeFileSync(join(dir, "pkg0", "lib", "index.js"), "x");
    };
    writeFileSync(join(ws, IGNORE_FILE), "node_modules/\n*.log\n");
    for (const name of ["a", "b", "c"]) mkdirSync(join(ws, "src", name), { recursive: true });
    manyFolders(join(ws, "node_modules"));
    await snapshotBoth();
    writeFileSync(join(ws, "src", "a", "x.ts"), "x");
    expect((await snapshotBoth()).foldersListed).toBe(1);
    // One made after tracking began, deeper down (an `npm install` in a package), is not watched below either.
    manyFolders(join(ws, "src", "b", "node_modules"));
    writeFileSync(join(ws, "src", "c", "y.ts"), "y");
    expect((await snapshotBoth()).foldersListed).toBeLessThan(5);
    writeFileSync(join(ws, "src", "a", "x.ts"), "changed");
    expect((await snapshotBoth()).foldersListed).toBe(1);
    expect(unavailable).toEqual([]);

    // A rule that may bring one back (`!…`): every folder is watched again, and these are too many.
    writeFileSync(join(ws, IGNORE_FILE), "node_modules/\n!node_modules/pkg0/\n");
    await snapshotBoth();
    writeFileSync(join(ws, "src", "a", "x.ts"), "again");
    await snapshotBoth();
    expect(unavailable).toEqual([`${ws} is not watched: it has more than 20 folders`]);
  });

  it("lets a workspace whose folders churn rest unwatched (whole walks), while the others stay tracked, and watches it again after", async () => {
    tracked.close();
    tracked = trackedStore(python, 600_000, 20, 1000);
    for (let i = 0; i < 15; i++) mkdirSync(join(ws, "big", `f${i}`), { recursive: true });
    writeFileSync(join(ws, "big", "f0", "x.txt"), "x");
    const other = join(root, "other");
    mkdirSync(join(other, "sub"), { recursive: true });
    await snapshotBoth();
    await tracked.snapshotWorkspace(other);
    // Each move unwatches 16 folders and watches 16: three are over twice the 20 it may watch.
    // A pause after each: the helper watches the tree under its name then (renamed again at
    // once, it would find the name gone and watch nothing).
    for (const [from, to] of [["big", "big2"], ["big2", "big"], ["big", "big3"]]) {
      renameSync(join(ws, from!), join(ws, to!));
      await settled();
    }
    writeFileSync(join(ws, "big3", "f1", "y.txt"), "y");
    // The root, big3 and its 15: all of it.
    const all = 17;
    expect((await snapshotBoth()).foldersListed).toBe(all);
    writeFileSync(join(other, "sub", "z.txt"), "z");
    expect((await tracked.snapshotWorkspace(other)).foldersListed).toBe(1);
    writeFileSync(join(ws, "big3", "f2", "w.txt"), "w");
    expect((await snapshotBoth()).foldersListed).toBe(all);
    await new Promise((resolve) => setTimeout(resolve, 1100));
    // Watched anew: its first answer is a whole walk, the next lists what changed.
    expect((await snapshotBoth()).foldersListed).toBe(all);
    writeFileSync(join(ws, "big3", "f2", "w.txt"), "changed");
    expect((await snapshotBoth()).foldersListed).toBe(1);
    expect(unavailable).toEqual([]);
  });

  it("takes as left out everywhere only plain names, and none when a rule re-includes", () => {
    expect(namesLeftOutEverywhere(["node_modules/", ".venv", "  # not a comment?", "# comment", "build/  ", "dist/*", "/target/", "a/b/", "*.log", "..", "."])).toEqual([
      ".venv",
      "build",
      "node_modules",
    ]);
    expect(namesLeftOutEverywhere(["node_modules/", "!keep.log"])).toEqual([]);
    expect(namesLeftOutEverywhere([])).toEqual([]);
  });

  it("works without change tracking when its helper cannot start, and says why once", async () => {
    tracked.close();
    tracked = trackedStore(join(root, "no-such-python"));
    const paths = populate();
    await snapshotBoth();
    writeFileSync(paths[0]!, "x");
    const snap = await snapshotBoth();
    expect(snap.foldersListed).toBe(ALL_FOLDERS);
    expect(unavailable).toHaveLength(1);
    expect(unavailable[0]).toContain("no-such-python");
  });
});

describe("manifests written from folder records", () => {
  it("are byte for byte what encodeManifest writes, for names that sort around a folder's own", async () => {
    // "a-b" and "a.b" sort before "a/x" (as '-' and '.' come before '/'), "a0" after it.
    for (const folder of ["a", "a/a", "a-b", "a.b", "a0", "é", "Z", "_", "a b"]) mkdirSync(join(ws, folder), { recursive: true });
    for (const file of ["a/x", "a/a/y", "a-b/z", "a.b", "a0/w", "é/ü", "Z/1", "_/2", "a b/3", "a-", "a~"]) {
      writeFileSync(join(ws, file.endsWith("a.b") ? "a.b/file" : file), file);
    }
    symlinkSync("a", join(ws, "a-link"));
    for (const store of [tracked, walked]) {
      const snap = await store.snapshotWorkspace(ws);
      // readManifest checks the order; the bytes must be the ones encodeManifest makes of its entries.
      const manifest = await store.readManifest(snap.digest);
      expect((await store.blobs.read(snap.digest)).equals(encodeManifest(manifest.entries))).toBe(true);
      expect(manifest.entries.map((entry) => entry.path)).toContain("a-b/z");
    }
    // And after a change in one deep folder, taken from the records of the others.
    writeFileSync(join(ws, "a", "a", "y"), "changed");
    const again = await snapshotBoth();
    const manifest = await tracked.readManifest(again.digest);
    expect((await tracked.blobs.read(again.digest)).equals(encodeManifest(manifest.entries))).toBe(true);
  });
});

describe("names that are not UTF-8", () => {
  it("are left out and reported, and the snapshot restores, also beside a name that reads the same", async () => {
    mkdirSync(join(ws, "d"));
    const bytesPath = (...parts: (string | number[])[]) => Buffer.concat(parts.map((part) => (typeof part === "string" ? Buffer.from(part) : Buffer.from(part))));
    writeFileSync(bytesPath(ws, "/d/x", [0xff]), "invalid name");
    writeFileSync(join(ws, "d", "x\uFFFD"), "a valid name that reads the same");
    mkdirSync(bytesPath(ws, "/bad", [0xfe]));
    writeFileSync(bytesPath(ws, "/bad", [0xfe], "/inside"), "below an invalid folder name");
    writeFileSync(join(ws, "d", "ok.txt"), "ok");
    const snap = await tracked.snapshotWorkspace(ws);
    // The valid name that reads like the invalid one is kept, with its own content.
    expect([...snap.skipped].sort()).toEqual(["bad\uFFFD", "d/x\uFFFD"]);
    const manifest = await tracked.readManifest(snap.digest);
    expect(manifest.entries.map((entry) => entry.path)).toEqual(["d", "d/ok.txt", "d/x\uFFFD"]);
    const copy = join(root, "copy");
    await tracked.copyWorkspace(snap.digest, copy);
    expect(readFileSync(join(copy, "d", "ok.txt"), "utf8")).toBe("ok");
    expect(readFileSync(join(copy, "d", "x\uFFFD"), "utf8")).toBe("a valid name that reads the same");
  });
});

describe("collection", () => {
  it("keeps a referenced blob that is no manifest, and every digest it names", async () => {
    const lease = tracked.blobs.lease();
    const named = await tracked.blobs.putBuffer(Buffer.from("kept because a damaged manifest names it"), lease);
    const damaged = await tracked.blobs.putBuffer(Buffer.from(`{"version":1,"entries":[{"path":"b","digest":"${named.digest}"},{"path":"a"}]}`), lease);
    lease.release();
    await tracked.hold("s", "damaged", damaged.digest);
    const result = await tracked.collect();
    expect(result.missingManifests).toBe(1);
    expect(await tracked.blobs.has(damaged.digest)).toBe(true);
    expect(await tracked.blobs.has(named.digest)).toBe(true);
  });
});
