import { readdirSync, rmSync, writeFileSync, readFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { bundleCli } from "../../scripts/bundle-cli.mjs";
import { copyAssets } from "../../scripts/copy-assets.mjs";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));

/**
 * Builds the CLI as `npm run build` ships it, into a private folder under node_modules/.cache:
 * the sources compiled file by file (esbuild; the tree lazy imports and the server load from),
 * package.json and the assets beside them (SQL migrations, interpreter helpers: scripts/copy-assets.mjs), and the client bundle `cli/sessiond.cjs`
 * (scripts/bundle-cli.mjs). Commands then run as they ship, as plain JavaScript, without the
 * second-long tsx loader per command and without touching the shared dist/ that others build.
 * Type errors are `npm run typecheck`'s job. @returns the bundle (the `sessiond` bin) and a remover
 */
export async function buildCli(): Promise<{ main: string; remove: () => void }> {
  const out = join(ROOT, "node_modules", ".cache", `sessiond-cli-test-${process.pid}`);
  rmSync(out, { recursive: true, force: true });
  const src = join(ROOT, "src");
  const entryPoints = (readdirSync(src, { recursive: true }) as string[]).filter((f) => f.endsWith(".ts") && !f.endsWith(".d.ts")).map((f) => join(src, f));
  await build({ entryPoints, outdir: join(out, "dist"), outbase: src, format: "esm", platform: "node", target: "node20", logLevel: "error" });
  copyAssets({ src, dist: join(out, "dist") });
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, "package.json"), readFileSync(join(ROOT, "package.json")));
  const main = await bundleCli({ src, dist: join(out, "dist") });
  return { main, remove: () => rmSync(out, { recursive: true, force: true }) };
}
