import { readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import type { TestProject } from "vitest/node";
import { bundleCli } from "../scripts/bundle-cli.mjs";
import { copyAssets } from "../scripts/copy-assets.mjs";
import type {} from "./helpers/compiled-tree.js";

/**
 * A vitest globalSetup: compiles the tree once per run for the suites' child processes
 * (test/helpers/compiled-tree.ts says what and why) and removes it after the run.
 */

const ROOT = fileURLToPath(new URL("../", import.meta.url));

/**
 * Every project of vitest.config.ts runs this setup (they inherit it from the root config), each
 * with a module instance of its own; they share the one process, so one build is kept on it.
 */
interface SharedBuild {
  tree: Promise<string>;
  users: number;
}
const shared = globalThis as typeof globalThis & { sessiondCompiledTree?: SharedBuild };

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const compiled = (shared.sessiondCompiledTree ??= { tree: compileTree(join(ROOT, "node_modules", ".cache", `sessiond-test-tree-${process.pid}`)), users: 0 });
  // In watch mode the sources change between runs: compiled again before each rerun (once for all projects).
  if (compiled.users++ === 0) project.onTestsRerun(async () => void (await compileTree(await compiled.tree)));
  project.provide("compiledTree", await compiled.tree);
  return async () => {
    if (--compiled.users > 0) return;
    delete shared.sessiondCompiledTree;
    rmSync(await compiled.tree, { recursive: true, force: true });
  };
}

/** esbuild's options for plain ES modules on Node 20, as tsconfig.build.json compiles them (types are `npm run typecheck`'s job). */
const TO_NODE = { format: "esm", platform: "node", target: "node20", logLevel: "error" } as const;

function tsFiles(dir: string): string[] {
  return (readdirSync(dir, { recursive: true }) as string[]).filter((f) => f.endsWith(".ts") && !f.endsWith(".d.ts")).map((f) => join(dir, f));
}

/**
 * Compiles src/ and the test fixtures (every `.ts` under a suite's `fixtures/` folder) into `out`,
 * replacing what is there: src/ as `npm run build` ships it in dist/ (esbuild file by file, the
 * assets beside, the CLI bundle), the fixtures in their place under test/, and `src` a link to
 * dist/ so that their imports of `../../../src/…` find the compiled sources.
 * @returns `out`
 */
async function compileTree(out: string): Promise<string> {
  rmSync(out, { recursive: true, force: true });
  const src = join(ROOT, "src");
  const dist = join(out, "dist");
  const fixtures = tsFiles(join(ROOT, "test")).filter((f) => f.split(sep).includes("fixtures"));
  await Promise.all([
    build({ entryPoints: tsFiles(src), outdir: dist, outbase: src, ...TO_NODE }),
    build({ entryPoints: fixtures, outdir: out, outbase: ROOT, ...TO_NODE }),
  ]);
  copyAssets({ src, dist });
  symlinkSync("dist", join(out, "src"), "dir");
  writeFileSync(join(out, "package.json"), readFileSync(join(ROOT, "package.json")));
  await bundleCli({ src, dist });
  return out;
}
