import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { resolveConfig } from "../../src/core/index.js";
import { SessionManager } from "../../src/engine/index.js";
import { openSqliteStore } from "../../src/store/index.js";
import { closeSessions, configureSessions, createCheckpoint, startSession } from "sessiond";
import { cliHome } from "../cli/run-cli.js";
import { tempHome } from "../helpers/temp-home.js";

interface Cp {
  id: string;
  state: { workspace?: { digest: string; files: number; bytes: number } };
}

describe("sessiond checkpoint create --with-files", () => {
  const h = cliHome();
  afterAll(() => h.cleanup());

  it("snapshots the workspace from the CLI, lists it, and restore puts the files back", async () => {
    await h.json(["start", "--name", "cli-files"]);
    const dir = join(h.home, "workspaces", "cli-files");
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, "plan.md"), "step 1\n");
    const cp = await h.json<Cp>(["checkpoint", "create", "cli-files", "--label", "files", "--with-files"]);
    expect(cp.state.workspace).toMatchObject({ files: 1, bytes: 7 });
    const plain = await h.run(["checkpoint", "create", "cli-files", "--with-files"]);
    expect(plain.stdout).toMatch(/files 1 \(7 bytes\)/);
    execFileSync("mkfifo", [join(dir, "pipe")]);
    const withPipe = await h.run(["checkpoint", "create", "cli-files", "--with-files"]);
    expect(withPipe.stdout).toMatch(/files 1 \(7 bytes, 1 left out: pipe\)/);
    rmSync(join(dir, "pipe"));
    const listed = await h.run(["checkpoint", "list", "cli-files"]);
    expect(listed.stdout).toMatch(/FILES/);

    writeFileSync(join(dir, "plan.md"), "step 2\n");
    writeFileSync(join(dir, "scratch.txt"), "stray");
    expect((await h.run(["checkpoint", "restore", "cli-files", "files"])).code).toBe(0);
    expect(readFileSync(join(dir, "plan.md"), "utf8")).toBe("step 1\n");
    expect(existsSync(join(dir, "scratch.txt"))).toBe(false);
  });
});

describe("seed 004's embedded createCheckpoint with withFiles", () => {
  const homes: (() => void)[] = [];
  afterAll(() => homes.forEach((remove) => remove()));

  it("records the workspace when withFiles is set, and only then", async () => {
    const { config, remove } = tempHome();
    homes.push(remove);
    configureSessions({ home: config.home, config: { snapshotFsync: false } });
    try {
      const s = await startSession("write the plan", "planner");
      const dir = join(config.home, "workspaces", s.name);
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, "a.txt"), "a");
      const cp = await createCheckpoint(s.id, { label: "x", withFiles: true });
      expect(cp.state.workspace).toMatchObject({ files: 1, bytes: 1 });
      expect((await createCheckpoint(s.id, {})).state.workspace).toBeUndefined();
      await expect(createCheckpoint(s.id, { withFiles: "yes" as unknown as boolean })).rejects.toMatchObject({ code: "validation", field: "withFiles" });
    } finally {
      await closeSessions();
    }
  });

  it("refuses with_files that is no boolean, naming it", async () => {
    const { config, remove } = tempHome();
    homes.push(remove);
    const manager = new SessionManager({ store: openSqliteStore(resolveConfig({ env: { HOME: config.home }, flags: { home: config.home } })), config });
    try {
      const s = await manager.create({});
      await expect(manager.createCheckpoint(s.id, { with_files: "yes" as unknown as boolean })).rejects.toMatchObject({ code: "validation", field: "with_files" });
    } finally {
      await manager.close();
    }
  });
});
