// Builds the dashboard (ui/, Preact + Vite) into dist/ui, which the server serves at /ui and the
// npm package ships, then prints each asset's gzipped size and their total. The total has a
// budget (300 KB gzipped, issue's goal): a build over it fails, so growth is a decision, not an
// accident.
//
//   node scripts/build-ui.mjs                 ui/ -> dist/ui
//   buildUi({ outDir })                       the same into another folder (the browser tests)
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";

const ROOT = fileURLToPath(new URL("..", import.meta.url));

/** The gzipped assets' budget, in bytes. */
export const GZIP_BUDGET_BYTES = 300 * 1024;

/**
 * Runs Vite's production build of ui/ into `outDir`.
 * @param {{ outDir?: string, quiet?: boolean }} [options] outDir default dist/ui
 * @returns {Promise<{ outDir: string, files: { file: string, bytes: number, gzipBytes: number }[], gzipBytes: number }>}
 */
export async function buildUi(options = {}) {
  const outDir = options.outDir ?? join(ROOT, "dist", "ui");
  const { build } = await import("vite");
  await build({ configFile: join(ROOT, "ui", "vite.config.ts"), build: { outDir, emptyOutDir: true }, logLevel: options.quiet ? "error" : "warn" });
  const files = walk(outDir).map((file) => {
    const content = readFileSync(file);
    return { file: relative(outDir, file), bytes: content.length, gzipBytes: gzipSync(content, { level: 9 }).length };
  });
  const gzipBytes = files.reduce((sum, f) => sum + f.gzipBytes, 0);
  return { outDir, files, gzipBytes };
}

function walk(dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? walk(path) : [path];
  });
}

const kb = (n) => `${(n / 1024).toFixed(1)} KB`;

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const result = await buildUi();
  for (const f of result.files.sort((a, b) => b.gzipBytes - a.gzipBytes)) console.log(`  ${f.file.padEnd(48)} ${kb(f.bytes).padStart(10)}  gzip ${kb(f.gzipBytes).padStart(9)}`);
  console.log(`dashboard: ${relative(ROOT, result.outDir)}, ${result.files.length} files, ${kb(result.gzipBytes)} gzipped (budget ${kb(GZIP_BUDGET_BYTES)})`);
  if (result.gzipBytes > GZIP_BUDGET_BYTES) {
    console.error(`the dashboard's assets are ${kb(result.gzipBytes)} gzipped, over the budget of ${kb(GZIP_BUDGET_BYTES)}`);
    process.exit(1);
  }
}
