import { execFileSync, spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import {
  chmodSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  rmSync,
  symlinkSync,
  truncateSync,
  unlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { defaultConfig, isSessiondError } from "../../src/core/index.js";
import { IGNORE_FILE, SessionFiles, WorkspaceSnapshots, decodeManifest, digestOf, encodeManifest } from "../../src/snapshots/index.js";
import { filesUnder, listTree, writeRandomFiles } from "./tree.js";

let root: string;
let snapshots: WorkspaceSnapshots;
let ws: string;
const blobsDir = () => join(root, "blobs");
/** Files the blob store holds, temporary ones included. */
const blobFiles = () => filesUnder(blobsDir());

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), "sessiond-snapshots-"));
  snapshots = new WorkspaceSnapshots({ blobsDir: join(root, "blobs"), snapshotsDir: join(root, "snapshots"), fsync: false });
  ws = join(root, "ws");
  mkdirSync(ws);
});
// By rm: a test makes paths longer than fs.rm can remove.
afterEach(() => void execFileSync("rm", ["-rf", root]));

async function refusal(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => expect.fail("expected a refusal"),
    (err: unknown) => err,
  );
}

describe("deduplication", () => {
  it("stores only the bytes of the 10 files changed since the previous snapshot", async () => {
    const paths = writeRandomFiles(ws, 200, 4096);
    const first = await snapshots.snapshotWorkspace(ws);
    expect(first).toMatchObject({ files: 200, bytes: 200 * 4096, newBytes: 200 * 4096 });
    for (const [i, path] of paths.slice(0, 10).entries()) writeFileSync(path, Buffer.alloc(4096, i + 1));
    const second = await snapshots.snapshotWorkspace(ws);
    expect(second.digest).not.toBe(first.digest);
    expect(second).toMatchObject({ files: 200, bytes: 200 * 4096, newBytes: 10 * 4096 });
  });

  it("stores nothing new for a second workspace that holds the same files, and nothing for an unchanged one", async () => {
    writeRandomFiles(ws, 50, 10_000);
    const first = await snapshots.snapshotWorkspace(ws);
    const again = await snapshots.snapshotWorkspace(ws);
    expect(again).toMatchObject({ digest: first.digest, newBytes: 0 });
    const other = join(root, "other");
    await snapshots.copyWorkspace(first.digest, other);
    // Another session's workspace, another stat cache entry for each file: still no new bytes.
    const fresh = new WorkspaceSnapshots({ blobsDir: blobsDir(), snapshotsDir: join(root, "snapshots"), fsync: false });
    const copied = await fresh.snapshotWorkspace(other);
    expect(copied).toMatchObject({ digest: first.digest, files: 50, newBytes: 0 });
  });

  it("keeps every file of a pack many write buffers long exact, and a file repeated in the workspace once", async () => {
    // 40 files of ~900 KB: a pack of 27 MB, written while the walk goes on (more buffers than
    // may be in flight), each file read where the pack puts it; the last 10 repeat the first 10.
    const unique = Array.from({ length: 30 }, (_, i) => randomBytes(900_000 + i));
    const contents = [...unique, ...unique.slice(0, 10)];
    contents.forEach((bytes, i) => writeFileSync(join(ws, `f${String(i).padStart(2, "0")}.bin`), bytes));
    const distinct = new Set(contents);
    const snap = await snapshots.snapshotWorkspace(ws);
    const total = contents.reduce((sum, bytes) => sum + bytes.length, 0);
    const distinctBytes = [...distinct].reduce((sum, bytes) => sum + bytes.length, 0);
    expect(snap).toMatchObject({ files: 40, bytes: total, newBytes: distinctBytes });
    const copy = join(root, "copy");
    await snapshots.copyWorkspace(snap.digest, copy);
    contents.forEach((bytes, i) => expect(readFileSync(join(copy, `f${String(i).padStart(2, "0")}.bin`)).equals(bytes)).toBe(true));
  });

  it("writes a manifest of thousands of entries from its pieces, byte for byte what encodeManifest makes of them", async () => {
    // 2,500 entries: a manifest of some 400 KB, written from its folders' records as they lie.
    writeRandomFiles(ws, 2500, 16);
    const snap = await snapshots.snapshotWorkspace(ws);
    const stored = await snapshots.blobs.read(snap.digest);
    expect(stored.length).toBeGreaterThan(256 * 1024);
    expect(digestOf(stored)).toBe(snap.digest);
    expect(stored.equals(encodeManifest(decodeManifest(snap.digest, stored).entries))).toBe(true);
    const copy = join(root, "copy");
    await snapshots.copyWorkspace(snap.digest, copy);
    expect(listTree(copy)).toEqual(listTree(ws));
  });

  it("stores a file of several megabytes (streamed) once, whoever holds it", async () => {
    const big = Buffer.alloc(5 * 1024 * 1024, 7);
    writeFileSync(join(ws, "big.bin"), big);
    writeFileSync(join(ws, "big-copy.bin"), big);
    const snap = await snapshots.snapshotWorkspace(ws);
    expect(snap).toMatchObject({ files: 2, bytes: 2 * big.length, newBytes: big.length });
  });
});

describe("ignore rules", () => {
  it("leaves out what the config patterns and the workspace's .sessiondignore match, and a restore leaves those paths as they are", async () => {
    mkdirSync(join(ws, "build"));
    mkdirSync(join(ws, "src"));
    writeFileSync(join(ws, "build", "out.js"), "built");
    writeFileSync(join(ws, "src", "main.ts"), "code");
    writeFileSync(join(ws, "src", "debug.log"), "noise");
    writeFileSync(join(ws, "keep.log"), "kept");
    writeFileSync(join(ws, "secret.env"), "TOKEN=1");
    writeFileSync(join(ws, IGNORE_FILE), "secret.env\n!keep.log\n");
    const snap = await snapshots.snapshotWorkspace(ws, { ignore: ["*.log", "build/"] });
    const manifest = await snapshots.readManifest(snap.digest);
    expect(manifest.entries.map((e) => e.path)).toEqual([IGNORE_FILE, "keep.log", "src", "src/main.ts"]);

    writeFileSync(join(ws, "src", "debug.log"), "newer noise");
    writeFileSync(join(ws, "src", "main.ts"), "changed");
    writeFileSync(join(ws, "added.txt"), "added");
    await snapshots.restoreWorkspace(ws, snap.digest, { ignore: ["*.log", "build/"] });
    expect(readFileSync(join(ws, "src", "main.ts"), "utf8")).toBe("code");
    expect(existsSync(join(ws, "added.txt"))).toBe(false);
    // Ignored paths were neither kept nor removed: they are as the restore found them.
    expect(readFileSync(join(ws, "src", "debug.log"), "utf8")).toBe("newer noise");
    expect(readFileSync(join(ws, "build", "out.js"), "utf8")).toBe("built");
    expect(readFileSync(join(ws, "secret.env"), "utf8")).toBe("TOKEN=1");
  });
});

describe("ignore rules that would take the server's time", () => {
  it("refuses a pattern with two `**` before its last part, in .sessiondignore or config, before anything changes", async () => {
    writeFileSync(join(ws, "a.txt"), "a");
    const snap = await snapshots.snapshotWorkspace(ws);
    writeFileSync(join(ws, IGNORE_FILE), "x/**/**/**/y\n");
    writeFileSync(join(ws, "a.txt"), "changed");
    for (const attempt of [snapshots.snapshotWorkspace(ws), snapshots.restoreWorkspace(ws, snap.digest)]) {
      const err = await refusal(attempt);
      expect(isSessiondError(err, "validation")).toBe(true);
      expect((err as { field?: string }).field).toBe(IGNORE_FILE);
    }
    expect(readFileSync(join(ws, "a.txt"), "utf8")).toBe("changed");
    unlinkSync(join(ws, IGNORE_FILE));
    const config = await refusal(snapshots.snapshotWorkspace(ws, { ignore: ["**/a/**/b"] }));
    expect((config as { field?: string }).field).toBe("snapshotIgnore");
    // From config, it is refused when the server starts.
    const start = (() => {
      try {
        return new SessionFiles({ ...defaultConfig(root), snapshotIgnore: ["**/a/**/b"] });
      } catch (err) {
        return err;
      }
    })();
    expect(isSessiondError(start, "validation")).toBe(true);
    expect((start as { field?: string }).field).toBe("snapshotIgnore");
    // One, and a last one, are taken.
    writeFileSync(join(ws, IGNORE_FILE), "x/**/y\n**/cache\nbuild/**\nlogs/**/*.log\n");
    await snapshots.snapshotWorkspace(ws);
  });

  it("refuses rules that would cost seconds a path: a line too long, too many wildcards, too many patterns", async () => {
    writeFileSync(join(ws, "a.txt"), "a");
    const refused = async (text: string, reason: RegExp) => {
      writeFileSync(join(ws, IGNORE_FILE), text);
      const err = await refusal(snapshots.snapshotWorkspace(ws));
      expect(err).toMatchObject({ code: "validation", field: IGNORE_FILE });
      expect((err as Error).message).toMatch(reason);
    };
    // A regular expression too large for V8 (it was a 500 at the first path matched).
    await refused(`${"[ab]".repeat(2000)}\n`, /has a line of 8000 characters, over 1024/);
    await refused(`#${" ".repeat(20_000)}x\n`, /has a line of 20002 characters, over 1024/);
    // 255 lines of 2000 `*a` each took seconds for one path.
    await refused(`${"*a".repeat(17)}\n`, /with 17 wildcards \(\*, \?, \[\), over 16/);
    await refused(Array.from({ length: 1001 }, (_, i) => `f${i}`).join("\n"), /has more than 1000 patterns/);
    await refused(`#${"x".repeat(70_000)}`, /is 70001 bytes, over 65536/);
    // Trailing spaces were trimmed by a regular expression quadratic in a run of spaces with text after it.
    writeFileSync(join(ws, IGNORE_FILE), `${" ".repeat(1000)}x\n`.repeat(60));
    await snapshots.snapshotWorkspace(ws);
  });

  it("refuses rules inside every limit that cost more than their budget of time, naming where they came from", async () => {
    // 1,000 patterns of 15 wildcards each, and long names that match them slowly: each name cost
    // some 2.5 ms of the event loop (80 ms the first), so minutes for a workspace of them.
    const patterns = Array.from({ length: 1000 }, (_, i) => `${"*aaa".repeat(15)}${i}`);
    writeFileSync(join(ws, IGNORE_FILE), `${patterns.join("\n")}\n`);
    for (let i = 0; i < 4000; i++) writeFileSync(join(ws, `${"a".repeat(240)}${i}`), "");
    const err = await refusal(snapshots.snapshotWorkspace(ws));
    expect(err).toMatchObject({ code: "validation", field: IGNORE_FILE });
    expect((err as Error).message).toMatch(/cost \d+ ms to match \d+ paths, over the budget/);
  });
});

describe("a restore racing the session's own writes", () => {
  it("finishes every swap while a process makes and removes a file at the workspace's top, leaving the checkpoint's files", async () => {
    writeRandomFiles(ws, 50, 100);
    for (let i = 0; i < 20; i++) writeFileSync(join(ws, `top-${i}.txt`), String(i));
    const before = listTree(ws);
    const snap = await snapshots.snapshotWorkspace(ws);
    const churn = spawn("bash", ["-c", "while :; do : > zz; rm -f zz; done"], { cwd: ws, stdio: "ignore" });
    try {
      // A name listed, then removed by the loop before the swap moved it, was a 500 and a half-moved workspace.
      for (let round = 0; round < 30; round++) {
        writeFileSync(join(ws, `extra-${round}.txt`), "x");
        await snapshots.restoreWorkspace(ws, snap.digest);
      }
    } finally {
      churn.kill("SIGKILL");
      await new Promise((resolve) => churn.once("exit", resolve));
    }
    rmSync(join(ws, "zz"), { force: true });
    expect(listTree(ws)).toEqual(before);
  });

  it("finishes every swap while a process makes again, as fast as it can, a folder the checkpoint has and the swap moves", async () => {
    mkdirSync(join(ws, "d"));
    writeFileSync(join(ws, "d", "kept.txt"), "kept");
    writeFileSync(join(ws, "top.txt"), "top");
    const before = listTree(ws);
    const snap = await snapshots.snapshotWorkspace(ws);
    // The second pass moving `d` onto the first pass's `d`, and the move in onto the loop's `d`, were ENOTEMPTY: a 500, then every later restore failed the same way.
    const churn = spawn("bash", ["-c", "while :; do mkdir -p d/x; done"], { cwd: ws, stdio: "ignore" });
    try {
      for (let round = 0; round < 30; round++) await snapshots.restoreWorkspace(ws, snap.digest);
    } finally {
      churn.kill("SIGKILL");
      await new Promise((resolve) => churn.once("exit", resolve));
    }
    await snapshots.restoreWorkspace(ws, snap.digest);
    expect(listTree(ws)).toEqual(before);
  });
});

describe("a restore that keeps ignored paths", () => {
  it("finishes when the workspace is more than 256 folders deep, keeping the ignored paths it can reach", async () => {
    writeFileSync(join(ws, IGNORE_FILE), "*.log\n");
    writeFileSync(join(ws, "a.txt"), "a");
    const snap = await snapshots.snapshotWorkspace(ws);
    writeFileSync(join(ws, "kept.log"), "kept");
    execFileSync("bash", ["-c", `cd '${ws}' && for i in $(seq 300); do mkdir a && cd a; done`]);
    await snapshots.restoreWorkspace(ws, snap.digest);
    await snapshots.idle();
    expect(readdirSync(ws).sort()).toEqual([IGNORE_FILE, "a.txt", "kept.log"]);
    expect(readFileSync(join(ws, "kept.log"), "utf8")).toBe("kept");
    expect(readdirSync(join(root, ".sessiond-staging"))).toEqual([]);
  });

  it.skipIf(process.getuid?.() !== 0)("gives a folder it makes for a kept path to the workspace's owner", async () => {
    writeFileSync(join(ws, IGNORE_FILE), "*.log\n");
    const snap = await snapshots.snapshotWorkspace(ws);
    mkdirSync(join(ws, "sub", "deeper"), { recursive: true });
    writeFileSync(join(ws, "sub", "deeper", "x.log"), "x");
    execFileSync("chown", ["-R", "12345:12345", ws]);
    await snapshots.restoreWorkspace(ws, snap.digest);
    expect(lstatSync(join(ws, "sub")).uid).toBe(12345);
    expect(lstatSync(join(ws, "sub", "deeper")).gid).toBe(12345);
    expect(readFileSync(join(ws, "sub", "deeper", "x.log"), "utf8")).toBe("x");
  });
});

describe("size cap", () => {
  it("refuses a workspace over the cap with snapshot_too_large, naming the cap, and writes nothing", async () => {
    writeRandomFiles(ws, 20, 1000);
    const err = await refusal(snapshots.snapshotWorkspace(ws, { maxBytes: 10_000, hold: { sessionId: "s1", key: "checkpoint-1" } }));
    expect(isSessiondError(err, "snapshot_too_large")).toBe(true);
    expect((err as Error).message).toContain("10000");
    expect(blobFiles()).toEqual([]);
    expect(await snapshots.refs.all()).toEqual(new Set());
  });

  it("refuses a sparse file of 2 GiB against a 1 GiB cap before reading it", async () => {
    const sparse = join(ws, "sparse.img");
    writeFileSync(sparse, "");
    truncateSync(sparse, 2 * 1024 ** 3);
    writeFileSync(join(ws, "small.txt"), "hi");
    const err = await refusal(snapshots.snapshotWorkspace(ws, { maxBytes: 1024 ** 3 }));
    expect(isSessiondError(err, "snapshot_too_large")).toBe(true);
    expect(blobFiles()).toEqual([]);
  });
});

describe("exact restore", () => {
  function populate(): void {
    mkdirSync(join(ws, "src", "lib"), { recursive: true });
    writeFileSync(join(ws, "src", "main.ts"), "main");
    writeFileSync(join(ws, "src", "lib", "util.ts"), "util");
    writeFileSync(join(ws, "run.sh"), "#!/bin/sh\necho hi\n");
    chmodSync(join(ws, "run.sh"), 0o755);
    writeFileSync(join(ws, "readonly.txt"), "ro");
    chmodSync(join(ws, "readonly.txt"), 0o444);
    mkdirSync(join(ws, "private"));
    chmodSync(join(ws, "private"), 0o700);
    writeFileSync(join(ws, "empty"), "");
    symlinkSync("/etc", join(ws, "etc-link"));
    symlinkSync("src/main.ts", join(ws, "main-link"));
    symlinkSync("../../outside", join(ws, "src", "up-link"));
  }

  it("puts back files, modes and links, removes what was added, and keeps every link a link", async () => {
    populate();
    const before = listTree(ws);
    const snap = await snapshots.snapshotWorkspace(ws);
    // /etc behind the link was not followed: only the workspace's own files are in it.
    expect(snap.files).toBe(5);

    writeFileSync(join(ws, "src", "main.ts"), "changed");
    writeFileSync(join(ws, "added.txt"), "added");
    mkdirSync(join(ws, "added-dir"));
    writeFileSync(join(ws, "added-dir", "x"), "x");
    unlinkSync(join(ws, "src", "lib", "util.ts"));
    chmodSync(join(ws, "run.sh"), 0o600);
    unlinkSync(join(ws, "etc-link"));
    symlinkSync("/tmp", join(ws, "etc-link"));
    rmSync(join(ws, "private"), { recursive: true });
    writeFileSync(join(ws, "private"), "now a file");

    const restored = await snapshots.restoreWorkspace(ws, snap.digest);
    expect(restored).toMatchObject({ digest: snap.digest, files: 5 });
    expect(listTree(ws)).toEqual(before);
    expect(lstatSync(join(ws, "etc-link")).isSymbolicLink()).toBe(true);
    expect(readlinkSync(join(ws, "etc-link"))).toBe("/etc");
  });

  it("keeps an ignored path out of a link the checkpoint restores where its folder now is", async () => {
    // The checkpoint holds `sub` as a link out of the workspace; since, `sub` became a folder
    // holding an ignored file. The restore puts the link back: the ignored file must not be moved
    // through it (it stays out, with the old tree).
    const outside = join(root, "outside-target");
    mkdirSync(outside);
    symlinkSync(outside, join(ws, "sub"));
    const snap = await snapshots.snapshotWorkspace(ws);
    unlinkSync(join(ws, "sub"));
    mkdirSync(join(ws, "sub"));
    writeFileSync(join(ws, "sub", "planted"), "planted");
    writeFileSync(join(ws, IGNORE_FILE), "sub/planted\nsub2/kept\n");
    mkdirSync(join(ws, "sub2"));
    writeFileSync(join(ws, "sub2", "kept"), "kept");
    await snapshots.restoreWorkspace(ws, snap.digest);
    await snapshots.idle();
    expect(readdirSync(outside)).toEqual([]);
    expect(readlinkSync(join(ws, "sub"))).toBe(outside);
    // An ignored file whose folder the checkpoint does not have is still kept (its folder made).
    expect(readFileSync(join(ws, "sub2", "kept"), "utf8")).toBe("kept");
  });

  it("restores a workspace holding names that are not UTF-8: they go, as anything the snapshot does not hold", async () => {
    const latin1 = (dir: string) => Buffer.concat([Buffer.from(`${dir}/`), Buffer.from([0x63, 0x61, 0x66, 0xe9])]);
    writeFileSync(join(ws, "a.txt"), "before");
    mkdirSync(join(ws, "sub"));
    writeFileSync(latin1(ws), "top");
    writeFileSync(latin1(join(ws, "sub")), "nested");
    const snap = await snapshots.snapshotWorkspace(ws);
    expect(snap.skipped).toHaveLength(2);
    writeFileSync(join(ws, "a.txt"), "after");
    await snapshots.restoreWorkspace(ws, snap.digest);
    await snapshots.idle();
    expect(readFileSync(join(ws, "a.txt"), "utf8")).toBe("before");
    expect(readdirSync(ws, { encoding: "buffer" }).map(String).sort()).toEqual(["a.txt", "sub"]);
    expect(readdirSync(join(ws, "sub"))).toEqual([]);
  });

  it("never writes through a link the session put where a folder was", async () => {
    mkdirSync(join(ws, "sub"));
    writeFileSync(join(ws, "sub", "file.txt"), "inside");
    const snap = await snapshots.snapshotWorkspace(ws);
    const outside = join(root, "outside");
    mkdirSync(outside);
    writeFileSync(join(outside, "precious.txt"), "precious");
    rmSync(join(ws, "sub"), { recursive: true });
    symlinkSync(outside, join(ws, "sub"));

    await snapshots.restoreWorkspace(ws, snap.digest);
    expect(lstatSync(join(ws, "sub")).isDirectory()).toBe(true);
    expect(readFileSync(join(ws, "sub", "file.txt"), "utf8")).toBe("inside");
    expect(listTree(outside)).toEqual([{ path: "precious.txt", type: "file", mode: expect.any(Number), sha: sha("precious") }]);
  });

  it("keeps the workspace folder itself (a sandbox has it mounted) and restores into it", async () => {
    writeFileSync(join(ws, "a.txt"), "a");
    const snap = await snapshots.snapshotWorkspace(ws);
    const inode = lstatSync(ws).ino;
    writeFileSync(join(ws, "a.txt"), "b");
    await snapshots.restoreWorkspace(ws, snap.digest);
    expect(lstatSync(ws).ino).toBe(inode);
    expect(readFileSync(join(ws, "a.txt"), "utf8")).toBe("a");
  });

  it("refuses a snapshot with a missing blob before it changes anything", async () => {
    writeFileSync(join(ws, "a.txt"), "a");
    // Large enough to be a blob of its own, which the test can remove.
    writeFileSync(join(ws, "b.txt"), Buffer.alloc(2 * 1024 * 1024, 1));
    const snap = await snapshots.snapshotWorkspace(ws);
    const manifest = await snapshots.readManifest(snap.digest);
    const file = manifest.entries.find((e) => e.path === "b.txt");
    if (file?.type !== "file") throw new Error("no b.txt");
    unlinkSync(snapshots.blobs.pathOf(file.digest));
    writeFileSync(join(ws, "a.txt"), "changed");
    const err = await refusal(snapshots.restoreWorkspace(ws, snap.digest));
    expect(isSessiondError(err, "snapshot_damaged")).toBe(true);
    expect(readFileSync(join(ws, "a.txt"), "utf8")).toBe("changed");
  });

  it("restores and forks a tree whose paths are longer than the kernel takes in one call (PATH_MAX)", async () => {
    // 25 folders of 200-byte names: the deepest paths are over 5 KB. Made and read by a shell
    // going down one folder at a time, as a session would.
    const down = (dir: string) => `cd '${dir}' && for i in $(seq 25); do cd ${"x".repeat(200)}$i; done`;
    const shell = (dir: string, script: string) => execFileSync("bash", ["-c", `${down(dir)} && ${script}`], { encoding: "utf8" });
    execFileSync("bash", ["-c", `cd '${ws}' && for i in $(seq 25); do mkdir ${"x".repeat(200)}$i && cd ${"x".repeat(200)}$i; done`]);
    shell(ws, "echo deep > file.txt && chmod 640 file.txt && ln -s file.txt link && mkdir sub && chmod 750 sub");
    const snap = await snapshots.snapshotWorkspace(ws);
    expect(snap.files).toBe(1);
    shell(ws, "echo changed > file.txt && echo new > added");

    await snapshots.restoreWorkspace(ws, snap.digest);
    await snapshots.idle();
    expect(shell(ws, "cat file.txt && readlink link && stat -c %a file.txt sub && ls")).toBe("deep\nfile.txt\n640\n750\nfile.txt\nlink\nsub\n");
    expect((await snapshots.snapshotWorkspace(ws)).digest).toBe(snap.digest);
    // A file the snapshots know from before is looked at again, by a name the kernel takes.
    shell(ws, "echo more >> file.txt");
    expect((await snapshots.snapshotWorkspace(ws)).digest).not.toBe(snap.digest);
    await snapshots.restoreWorkspace(ws, snap.digest);

    const fork = join(root, "fork");
    await snapshots.copyWorkspace(snap.digest, fork);
    expect(shell(fork, "cat file.txt")).toBe("deep\n");
    expect((await snapshots.snapshotWorkspace(fork)).digest).toBe(snap.digest);
    // The replaced tree, as deep, was removed with its staging folder.
    expect(readdirSync(join(root, ".sessiond-staging"))).toEqual([]);
  });
});

describe("a folder swapped for a link while it is walked", () => {
  it("never leads a snapshot outside the workspace", async () => {
    const outside = join(root, "outside");
    mkdirSync(outside);
    writeFileSync(join(outside, "secret.txt"), "OUTSIDE");
    mkdirSync(join(ws, "a"));
    writeFileSync(join(ws, "a", "secret.txt"), "inside");
    writeRandomFiles(ws, 100, 100);
    // Swaps ws/a for a link to the outside folder and back, as fast as it can.
    const swapper = spawn(
      process.execPath,
      [
        "-e",
        `const fs = require("node:fs"); const [ws, outside] = process.argv.slice(1);
         for (;;) { try { fs.renameSync(ws + "/a", ws + "/a-real"); fs.symlinkSync(outside, ws + "/a"); fs.unlinkSync(ws + "/a"); fs.renameSync(ws + "/a-real", ws + "/a"); } catch {} }`,
        ws,
        outside,
      ],
      { stdio: "ignore" },
    );
    try {
      for (let i = 0; i < 20; i++) {
        const snap = await snapshots.snapshotWorkspace(ws, { ignore: ["a-real/"] });
        for (const entry of (await snapshots.readManifest(snap.digest)).entries) {
          if (entry.type !== "file") continue;
          expect((await snapshots.blobs.read(entry.digest)).toString(), entry.path).not.toBe("OUTSIDE");
        }
      }
    } finally {
      swapper.kill("SIGKILL");
    }
  });
});

describe("copy for a fork", () => {
  it("gives the new folder its own files: writes on either side do not reach the other or the store", async () => {
    writeRandomFiles(ws, 20, 2000);
    writeFileSync(join(ws, "shared.txt"), "original");
    const snap = await snapshots.snapshotWorkspace(ws);
    const fork = join(root, "fork");
    await snapshots.copyWorkspace(snap.digest, fork);
    expect(listTree(fork)).toEqual(listTree(ws));
    expect(lstatSync(join(fork, "shared.txt")).nlink).toBe(1);

    writeFileSync(join(fork, "shared.txt"), "fork wrote");
    writeFileSync(join(ws, "d0", "f0.bin"), "source wrote");
    expect(readFileSync(join(ws, "shared.txt"), "utf8")).toBe("original");
    expect(readFileSync(join(fork, "d0", "f0.bin"), "utf8")).not.toBe("source wrote");
    // The store still holds the snapshot as taken.
    const again = join(root, "again");
    await snapshots.copyWorkspace(snap.digest, again);
    expect(readFileSync(join(again, "shared.txt"), "utf8")).toBe("original");
  });
});

describe("garbage collection", () => {
  it("removes what no reference holds and never a blob a held snapshot needs", async () => {
    writeRandomFiles(ws, 30, 1000, "kept");
    const held = await snapshots.snapshotWorkspace(ws, { hold: { sessionId: "s1", key: "checkpoint-a" } });
    writeRandomFiles(ws, 30, 1000, "dropped");
    const dropped = await snapshots.snapshotWorkspace(ws, { hold: { sessionId: "s2", key: "checkpoint-b" } });
    await snapshots.release("s2");
    const result = await snapshots.collect();
    // The 30 files only the dropped snapshot had, and its manifest.
    expect(result).toMatchObject({ manifests: 1, removed: 31, missingManifests: 0 });
    const out = join(root, "out");
    await snapshots.copyWorkspace(held.digest, out);
    expect(listTree(out).filter((e) => e.type === "file")).toHaveLength(30);
    await expect(snapshots.readManifest(dropped.digest)).rejects.toMatchObject({ code: "snapshot_damaged" });
  });

  it("rewrites a pack that is mostly garbage with its live blobs, which stay readable", async () => {
    const paths = writeRandomFiles(ws, 20, 1000);
    await snapshots.snapshotWorkspace(ws, { hold: { sessionId: "s1", key: "checkpoint-a" } });
    for (const path of paths.slice(2)) unlinkSync(path);
    const small = await snapshots.snapshotWorkspace(ws, { hold: { sessionId: "s2", key: "checkpoint-b" } });
    expect(small.newBytes).toBe(0);
    await snapshots.release("s1");
    const result = await snapshots.collect();
    expect(result).toMatchObject({ removed: 19 }); // 18 files and the first manifest
    expect(await snapshots.blobs.inventory()).toMatchObject({ blobs: 3, packs: 2 });
    const out = join(root, "out");
    await snapshots.copyWorkspace(small.digest, out);
    expect(listTree(out).filter((e) => e.type === "file")).toEqual(listTree(ws).filter((e) => e.type === "file"));
    // A store opened afresh (the next server) finds the same.
    const reopened = new WorkspaceSnapshots({ blobsDir: blobsDir(), snapshotsDir: join(root, "snapshots"), fsync: false });
    await reopened.copyWorkspace(small.digest, join(root, "out2"));
    expect(listTree(join(root, "out2"))).toEqual(listTree(out));
  });

  it("keeps every blob of snapshots taken while collections run beside them", async () => {
    const taken: string[] = [];
    let stop = false;
    const collector = (async () => {
      let runs = 0;
      while (!stop || runs === 0) {
        await snapshots.collect();
        runs++;
      }
      return runs;
    })();
    for (let round = 0; round < 8; round++) {
      // Each round: new files (new blobs), and the previous round's reference dropped (garbage).
      writeRandomFiles(ws, 20, 3000, `r${round}-`);
      const snap = await snapshots.snapshotWorkspace(ws, { hold: { sessionId: `s${round}`, key: "checkpoint-x" } });
      taken.push(snap.digest);
      if (round % 2 === 1) await snapshots.release(`s${round - 1}`);
    }
    stop = true;
    expect(await collector).toBeGreaterThan(0);
    await snapshots.collect();
    for (const [round, digest] of taken.entries()) {
      if (round % 2 === 0 && round < 7) continue; // released
      const out = join(root, `out-${round}`);
      await snapshots.copyWorkspace(digest, out);
      expect(listTree(out).filter((e) => e.type === "file").length).toBe(20 * (round + 1));
    }
  });
});

describe("a file that changes while it is read", () => {
  // The writer rewrites the file front to back, version after version: at any one moment the
  // file is version v up to where the writer is and v-1 after it. A read that a write overlapped
  // and that was kept anyway shows something else (three versions, or v-1 before v).
  it("is read again or refused, and never stored as bytes from different moments", async () => {
    const path = join(ws, "hot.bin");
    const size = 4 * 1024 * 1024;
    writeFileSync(path, Buffer.alloc(size, 0));
    // A writer that rewrites the file in place, 64 KiB at a time, each version one byte value throughout.
    const writer = spawn(
      process.execPath,
      [
        "-e",
        `const fs = require("node:fs"); const fd = fs.openSync(process.argv[1], "r+"); const chunk = 65536;
         for (let v = 1; ; v = (v % 250) + 1) { const b = Buffer.alloc(chunk, v); for (let o = 0; o < ${size}; o += chunk) fs.writeSync(fd, b, 0, chunk, o); }`,
        path,
      ],
      { stdio: "ignore" },
    );
    try {
      let refused = 0;
      let stored = 0;
      for (let i = 0; i < 6; i++) {
        try {
          const snap = await snapshots.snapshotWorkspace(ws);
          const manifest = await snapshots.readManifest(snap.digest);
          const entry = manifest.entries.find((e) => e.path === "hot.bin");
          if (entry?.type !== "file") throw new Error("hot.bin missing");
          const blob = readFileSync(snapshots.blobs.pathOf(entry.digest));
          expect(blob.length).toBe(size);
          expect(runsOf(blob), "a state the file had at one moment").toSatisfy(isOneMoment);
          stored++;
        } catch (err) {
          if (!isSessiondError(err, "file_changed")) throw err;
          expect((err as Error).message).toContain("hot.bin");
          refused++;
        }
      }
      expect(refused + stored).toBe(6);
    } finally {
      writer.kill("SIGKILL");
    }
  });
});

/** The values of a blob's runs of equal bytes, in order. */
function runsOf(blob: Buffer): number[] {
  const runs: number[] = [];
  for (const byte of blob) if (runs.at(-1) !== byte) runs.push(byte);
  return runs;
}

/** One version, or version v followed by v-1 (the writer's values cycle 1…250). */
function isOneMoment(runs: number[]): boolean {
  if (runs.length === 1) return true;
  if (runs.length !== 2) return false;
  const [newer, older] = runs as [number, number];
  return newer === (older % 250) + 1;
}

function sha(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}
