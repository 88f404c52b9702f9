import { execFileSync } from "node:child_process";
import { chmodSync, existsSync, lstatSync, mkdirSync, readFileSync, readdirSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { createClient } from "sessiond/client";
import { afterEach, describe, expect, it, vi } from "vitest";
import { type TestServer, startServer } from "../server/harness.js";
import { filesUnder, listTree } from "./tree.js";

let server: TestServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

async function serve(flags: Record<string, unknown> = {}): Promise<TestServer> {
  server = await startServer({ snapshotFsync: false, ...flags });
  return server;
}

/** A session and its workspace folder with a few files, a mode and links. */
async function sessionWithFiles(s: TestServer, name: string): Promise<{ id: string; dir: string }> {
  const created = await s.json({ method: "POST", url: "/sessions", body: { name } });
  expect(created.status).toBe(201);
  const dir = join(s.home, "workspaces", name);
  mkdirSync(join(dir, "files"), { recursive: true });
  writeFileSync(join(dir, "files", "notes.md"), "# notes\n");
  writeFileSync(join(dir, "run.sh"), "#!/bin/sh\n");
  chmodSync(join(dir, "run.sh"), 0o750);
  symlinkSync("/etc/passwd", join(dir, "passwd-link"));
  return { id: created.body.id as string, dir };
}

describe("checkpoints with_files over HTTP", () => {
  it("records the workspace in state.workspace, restores it exactly and says so in the restore event", async () => {
    const s = await serve();
    const { id, dir } = await sessionWithFiles(s, "files-restore");
    const before = listTree(dir);

    const bad = await s.json({ method: "POST", url: `/sessions/${id}/checkpoints`, body: { with_files: "yes" } });
    expect(bad.status).toBe(400);
    expect(bad.body.error.field).toBe("with_files");

    const plain = await s.json({ method: "POST", url: `/sessions/${id}/checkpoints`, body: { label: "no files" } });
    expect(plain.status).toBe(201);
    expect(plain.body.state.workspace).toBeUndefined();

    const cp = await s.json({ method: "POST", url: `/sessions/${id}/checkpoints`, body: { label: "with files", with_files: true } });
    expect(cp.status).toBe(201);
    expect(cp.body.state.workspace).toEqual({ digest: expect.stringMatching(/^sha256:[0-9a-f]{64}$/), files: 2, bytes: 18 });
    const listed = await s.json({ method: "GET", url: `/sessions/${id}/checkpoints/${cp.body.id}` });
    expect(listed.body.state.workspace).toEqual(cp.body.state.workspace);

    writeFileSync(join(dir, "files", "notes.md"), "overwritten");
    writeFileSync(join(dir, "added.txt"), "added since");
    chmodSync(join(dir, "run.sh"), 0o600);
    const restored = await s.json({ method: "POST", url: `/sessions/${id}/checkpoints/${cp.body.id}/restore` });
    expect(restored.status).toBe(200);
    expect(listTree(dir)).toEqual(before);
    expect(readlinkSync(join(dir, "passwd-link"))).toBe("/etc/passwd");

    const events = await s.json({ method: "GET", url: `/sessions/${id}/events?type=restore` });
    expect(events.body.at(-1).data).toMatchObject({
      checkpoint_id: cp.body.id,
      restored: ["context", "iterations", "workspace"],
      state: { workspace: cp.body.state.workspace },
    });

    // A checkpoint without files restores context and iterations only: the files stay.
    writeFileSync(join(dir, "added.txt"), "kept");
    await s.json({ method: "POST", url: `/sessions/${id}/checkpoints/${plain.body.id}/restore` });
    expect(readFileSync(join(dir, "added.txt"), "utf8")).toBe("kept");
  });

  it("says in state.workspace.left_out what the snapshot left out: a FIFO and a name that is not UTF-8", async () => {
    const s = await serve();
    const { id, dir } = await sessionWithFiles(s, "files-left-out");
    execFileSync("mkfifo", [join(dir, "files", "pipe")]);
    writeFileSync(Buffer.concat([Buffer.from(`${dir}/`), Buffer.from([0x6c, 0xe9, 0x2e, 0x74, 0x78, 0x74])]), "latin-1 name");
    const cp = await s.json({ method: "POST", url: `/sessions/${id}/checkpoints`, body: { with_files: true } });
    expect(cp.status).toBe(201);
    expect(cp.body.state.workspace).toMatchObject({ files: 2, bytes: 18, left_out: { count: 2, paths: expect.arrayContaining(["files/pipe", "l\uFFFD.txt"]) } });
    const listed = await s.json({ method: "GET", url: `/sessions/${id}/checkpoints/${cp.body.id}` });
    expect(listed.body.state.workspace).toEqual(cp.body.state.workspace);
    // A workspace with nothing left out has no left_out at all.
    rmSync(join(dir, "files", "pipe"));
    for (const name of readdirSync(dir, { encoding: "buffer" })) if (name.includes(0xe9)) rmSync(Buffer.concat([Buffer.from(`${dir}/`), name]));
    const clean = await s.json({ method: "POST", url: `/sessions/${id}/checkpoints`, body: { with_files: true } });
    expect(clean.body.state.workspace.left_out).toBeUndefined();
  });

  it("counts every entry left out but names at most 100 of them, and at most 32 KiB of their paths", async () => {
    const s = await serve();
    const { id, dir } = await sessionWithFiles(s, "files-left-out-many");
    mkdirSync(join(dir, "pipes"));
    for (let i = 0; i < 120; i++) execFileSync("mkfifo", [join(dir, "pipes", `p${i}`)]);
    const many = await s.json({ method: "POST", url: `/sessions/${id}/checkpoints`, body: { with_files: true } });
    expect(many.body.state.workspace.left_out.count).toBe(120);
    expect(many.body.state.workspace.left_out.paths).toHaveLength(100);
    rmSync(join(dir, "pipes"), { recursive: true });
    // Paths of ~1 KB (four folders of 250 characters): 32 KiB holds 32 of them, not 100.
    const deep = join(dir, ...Array.from({ length: 4 }, (_, i) => String(i).repeat(250)));
    mkdirSync(deep, { recursive: true });
    for (let i = 0; i < 50; i++) execFileSync("mkfifo", [join(deep, `p${i}`)]);
    const long = await s.json({ method: "POST", url: `/sessions/${id}/checkpoints`, body: { with_files: true } });
    const { count, paths } = long.body.state.workspace.left_out;
    expect(count).toBe(50);
    expect(paths.length).toBeLessThan(50);
    expect(paths.join("").length).toBeLessThanOrEqual(32 * 1024);
    // Counted as the event's JSON writes them: a control character there takes six bytes.
    rmSync(join(dir, "0".repeat(250)), { recursive: true });
    const controls = join(dir, "\u0001".repeat(250));
    mkdirSync(controls);
    for (let i = 0; i < 100; i++) execFileSync("mkfifo", [join(controls, `p${i}`)]);
    const escaped = (await s.json({ method: "POST", url: `/sessions/${id}/checkpoints`, body: { with_files: true } })).body.state.workspace.left_out;
    expect(escaped.count).toBe(100);
    expect(escaped.paths.length).toBeGreaterThan(10);
    expect(escaped.paths.map((path: string) => JSON.stringify(path).length).reduce((a: number, b: number) => a + b)).toBeLessThanOrEqual(32 * 1024);
  });

  it("refuses a workspace over maxSnapshotBytes with 413 snapshot_too_large naming the cap, and records no checkpoint and no blob", async () => {
    const s = await serve({ maxSnapshotBytes: 10 });
    const { id } = await sessionWithFiles(s, "files-cap");
    const res = await s.json({ method: "POST", url: `/sessions/${id}/checkpoints`, body: { with_files: true } });
    expect(res.status).toBe(413);
    expect(res.body.error).toMatchObject({ code: "snapshot_too_large", field: "with_files" });
    expect(res.body.error.message).toContain("10 bytes");
    const list = await s.json({ method: "GET", url: `/sessions/${id}/checkpoints` });
    expect(list.body).toEqual([]);
    expect(filesUnder(join(s.home, "blobs"))).toEqual([]);
  });

  it("gives a fork its own copy of the checkpoint's files", async () => {
    const s = await serve();
    const { id, dir } = await sessionWithFiles(s, "files-source");
    const cp = await s.json({ method: "POST", url: `/sessions/${id}/checkpoints`, body: { with_files: true } });
    writeFileSync(join(dir, "files", "notes.md"), "source changed after the checkpoint");
    const fork = await s.json({ method: "POST", url: `/sessions/${id}/checkpoints/${cp.body.id}/fork`, body: { name: "files-fork" } });
    expect(fork.status).toBe(201);
    const forkDir = join(s.home, "workspaces", "files-fork");
    expect(readFileSync(join(forkDir, "files", "notes.md"), "utf8")).toBe("# notes\n");
    expect(lstatSync(join(forkDir, "passwd-link")).isSymbolicLink()).toBe(true);
    writeFileSync(join(forkDir, "files", "notes.md"), "fork's own");
    expect(readFileSync(join(dir, "files", "notes.md"), "utf8")).toBe("source changed after the checkpoint");
    const events = await s.json({ method: "GET", url: `/sessions/${fork.body.id}/events?type=restore` });
    expect(events.body[0].data).toMatchObject({ forked_from: id, restored: ["context", "iterations", "workspace"] });
  });

  it("collects a deleted session's snapshots and keeps those another session's checkpoints share", async () => {
    const s = await serve();
    const one = await sessionWithFiles(s, "files-one");
    const two = await sessionWithFiles(s, "files-two");
    writeFileSync(join(one.dir, "only-one.txt"), "one's own");
    const cpOne = await s.json({ method: "POST", url: `/sessions/${one.id}/checkpoints`, body: { with_files: true } });
    const cpTwo = await s.json({ method: "POST", url: `/sessions/${two.id}/checkpoints`, body: { with_files: true } });
    // Same files but one: shared blobs.
    const blobs = s.manager.files.snapshots.blobs;
    expect((await blobs.inventory()).blobs).toBe(5); // notes.md, run.sh, only-one.txt and two manifests

    expect((await s.request({ method: "DELETE", url: `/sessions/${one.id}` })).statusCode).toBe(204);
    // The deletion drops the session's references once it is committed; then a collection sweeps.
    await vi.waitFor(async () => expect((await s.manager.files.snapshots.refs.heldBy(one.id)).size).toBe(0));
    await s.manager.files.scheduleCollect();
    expect((await blobs.inventory()).blobs).toBe(3);
    writeFileSync(join(two.dir, "run.sh"), "changed");
    const restored = await s.json({ method: "POST", url: `/sessions/${two.id}/checkpoints/${cpTwo.body.id}/restore` });
    expect(restored.status).toBe(200);
    expect(readFileSync(join(two.dir, "run.sh"), "utf8")).toBe("#!/bin/sh\n");
    expect(cpOne.body.state.workspace.files).toBe(3);
  });

  it("keeps every checkpoint's files restorable while deletions collect beside new checkpoints", async () => {
    const s = await serve();
    const kept: { id: string; dir: string; cp: string; tree: ReturnType<typeof listTree> }[] = [];
    const doomed: string[] = [];
    for (let i = 0; i < 6; i++) {
      const made = await sessionWithFiles(s, `gc-race-${i}`);
      // Shared files (deduplicated across sessions) and one of each session's own.
      writeFileSync(join(made.dir, "files", `own-${i}.txt`), `session ${i}`);
      if (i % 2 === 0) kept.push({ ...made, cp: "", tree: listTree(made.dir) });
      else {
        await s.json({ method: "POST", url: `/sessions/${made.id}/checkpoints`, body: { with_files: true } });
        doomed.push(made.id);
      }
    }
    // Checkpoints of the kept sessions race the deletions (each deletion starts a collection).
    const results = await Promise.all([
      ...kept.map((k) => s.json({ method: "POST", url: `/sessions/${k.id}/checkpoints`, body: { with_files: true } })),
      ...doomed.map((id) => s.request({ method: "DELETE", url: `/sessions/${id}` })),
    ]);
    kept.forEach((k, i) => (k.cp = results[i]!.body.id as string));
    await s.manager.files.scheduleCollect();
    for (const k of kept) {
      writeFileSync(join(k.dir, "files", "notes.md"), "changed");
      const restored = await s.json({ method: "POST", url: `/sessions/${k.id}/checkpoints/${k.cp}/restore` });
      expect(restored.status).toBe(200);
      expect(listTree(k.dir)).toEqual(k.tree);
    }
  });

  it("takes the SDK's withFiles over a real port", async () => {
    const s = await serve();
    const { id, dir } = await sessionWithFiles(s, "files-sdk");
    await s.app.listen({ host: "127.0.0.1", port: 0 });
    const { port } = s.app.server.address() as AddressInfo;
    const client = createClient({ baseUrl: `http://127.0.0.1:${port}`, token: s.token, home: s.home });
    const cp = await client.sessions.createCheckpoint(id, { label: "sdk", withFiles: true });
    expect(cp.state.workspace?.files).toBe(2);
    writeFileSync(join(dir, "stray.txt"), "stray");
    await client.sessions.restore(id, cp.id);
    expect(existsSync(join(dir, "stray.txt"))).toBe(false);
  });
});
