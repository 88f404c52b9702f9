// Copies the non-TypeScript files the runtime reads (SQL migrations, interpreter helpers) next to
// the compiled code, so dist/ is self-contained. Also used by the tests' build of the CLI
// (test/cli/build-cli.ts), so what they run has every file the package ships.
import { cpSync, existsSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const assets = [
  "store/sqlite/migrations",
  "store/postgres/migrations",
  // The interpreter helpers live sessions run: plain Python and JavaScript, shipped as is.
  "drivers/python/helper.py",
  "snapshots/change-watcher.py",
  "drivers/typescript/helper.mjs",
  "drivers/typescript/checker.mjs",
  "drivers/llm/helper.mjs",
  "drivers/interpreter/helper-protocol.mjs",
];

/** Copies the assets from the source tree `src` to the compiled tree `dist` (both paths). */
export function copyAssets({ src, dist }) {
  for (const asset of assets) {
    const from = join(src, asset);
    if (existsSync(from)) cpSync(from, join(dist, asset), { recursive: true });
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const root = fileURLToPath(new URL("..", import.meta.url));
  copyAssets({ src: join(root, "src"), dist: join(root, "dist") });
}
