import { join } from "node:path";
import { inject } from "vitest";

/**
 * The tree's sources compiled once per test run to plain JavaScript, for the suites' child
 * processes: `sessiond serve`, CLI commands and the test fixtures that run as programs. Through
 * tsx each such process paid a TypeScript loader and a transform of everything it imports (about
 * a second on this machine, more under load), and the suites start hundreds of them.
 *
 * The tree is laid out as the package ships: `<tree>/package.json` and `<tree>/dist/**` (src/
 * compiled file by file as `npm run build` does, the assets scripts/copy-assets.mjs ships beside
 * them, and the `sessiond` bin `dist/cli/sessiond.cjs` of scripts/bundle-cli.mjs), so a script in
 * it imports `sessiond` by the package's own name. The fixtures are compiled to
 * `<tree>/test/<suite>/fixtures/*.js`, beside `<tree>/src`, a link to dist/ that their imports of
 * `../../../src/…` go through. It lives under node_modules/.cache so that packages resolve from
 * the repository's node_modules. Type errors are `npm run typecheck`'s job.
 */

declare module "vitest" {
  export interface ProvidedContext {
    /** The compiled tree's root (test/global-setup.ts). */
    compiledTree: string;
  }
}

/** The compiled tree of this run (built by test/global-setup.ts before any test file loads). */
export function compiledTree(): string {
  const tree = inject("compiledTree");
  if (!tree) throw new Error("no compiled tree: vitest.config.ts must list test/global-setup.ts as a globalSetup");
  return tree;
}

/** The `sessiond` CLI as it ships, for `node <it> <command>`: the bundled bin over the compiled tree. */
export function compiledCli(): string {
  return join(compiledTree(), "dist", "cli", "sessiond.cjs");
}

/**
 * The compiled form of a test fixture, by its path in the repository.
 * @example compiledFixture("test/engine/fixtures/append-until-killed.ts")
 */
export function compiledFixture(path: string): string {
  if (!path.endsWith(".ts")) throw new Error(`${path}: not a TypeScript fixture`);
  return join(compiledTree(), path.replace(/\.ts$/, ".js"));
}
