import { mkdirSync, mkdtempSync, readdirSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { describe, expect, it } from "vitest";
import { PEER, loadPeer } from "../../src/adapters/openai-agents/peer.js";
import { perTestChildren, runNode } from "../helpers/run-node.js";

const ROOT = new URL("../../", import.meta.url).pathname;
const TSX = pathToFileURL(join(ROOT, "node_modules/tsx/dist/loader.mjs")).href;

/**
 * A tree where the peer is not installed: the sources and every package of this checkout but
 * `@openai/*`, by symbolic links that Node follows as paths (`--preserve-symlinks`), so a bare
 * import resolves from this tree's node_modules, which lacks the peer — as in an app that
 * installed sessiond alone.
 */
function treeWithoutPeer(dirs: string[]): string {
  const tree = mkdtempSync(join(tmpdir(), "sessiond-no-peer-"));
  dirs.push(tree);
  writeFileSync(join(tree, "package.json"), JSON.stringify({ type: "module" }));
  symlinkSync(join(ROOT, "src"), join(tree, "src"));
  mkdirSync(join(tree, "node_modules"));
  for (const entry of readdirSync(join(ROOT, "node_modules"))) {
    if (entry !== "@openai") symlinkSync(join(ROOT, "node_modules", entry), join(tree, "node_modules", entry));
  }
  return tree;
}

function importIn(tree: string, module: string) {
  const url = pathToFileURL(join(tree, module)).href;
  return runNode(["--preserve-symlinks", "--import", TSX, "--input-type=module", "-e", `await import(${JSON.stringify(url)}); console.log("loaded")`], { cwd: tree });
}

describe("sessiond/openai-agents without its peer", () => {
  const { dirs } = perTestChildren();

  it("importing the adapter throws one error that names the package to install", async () => {
    const tree = treeWithoutPeer(dirs);
    const run = await importIn(tree, "src/adapters/openai-agents/index.ts");
    expect(run.status).toBe(1);
    expect(run.stdout).not.toContain("loaded");
    expect(run.stderr).toContain("Error: sessiond/openai-agents needs the package @openai/agents-core, which is not installed: npm install @openai/agents-core");
    expect(run.stderr).not.toContain("ERR_MODULE_NOT_FOUND");
  });

  it("sessiond and sessiond/client load without it: neither imports the adapter", async () => {
    const tree = treeWithoutPeer(dirs);
    for (const module of ["src/index.ts", "src/sdk/client/index.ts"]) {
      const run = await importIn(tree, module);
      expect(run.stderr).toBe("");
      expect(run.stdout.trim()).toBe("loaded");
    }
  });

  it("a package the peer itself needs and lacks is named instead; any other failure is passed on as it is", async () => {
    const missingZod = Object.assign(new Error("Cannot find package 'zod' imported from /app/node_modules/@openai/agents-core/dist/index.mjs"), { code: "ERR_MODULE_NOT_FOUND" });
    await expect(loadPeer(PEER, () => Promise.reject(missingZod))).rejects.toThrow(
      "sessiond/openai-agents needs the package @openai/agents-core, which cannot load without zod: npm install zod",
    );
    const broken = new SyntaxError("Unexpected token");
    await expect(loadPeer(PEER, () => Promise.reject(broken))).rejects.toBe(broken);
    expect(await loadPeer<{ ok: boolean }>(PEER, async () => ({ ok: true }))).toEqual({ ok: true });
  });
});
