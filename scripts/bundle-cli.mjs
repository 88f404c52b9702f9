// Bundles the CLI's client path into one CommonJS file, dist/cli/sessiond.cjs (the `sessiond` bin).
//
// Why: a client command lives ~100 ms, most of it Node's own start. Loading the CLI as ~30 ES
// modules costs another ~50 ms (the ESM loader, one resolve + read + compile per file); one
// CommonJS file of what every command needs (commander, the commands, the SDK client) costs a
// fraction of that. What only some commands need is imported lazily in the sources (the server
// for `serve`, the config schema for autostart, ws for attach, the REPL, import/export), and
// stays lazy here: a dynamic import is not bundled but loaded from the compiled tree beside the
// bundle (dist/…), where the server's SQL migrations and interpreter helpers live too. Compiling
// those into the bundle would cost every command their parse time (the config schema alone is
// 300 KB of TypeBox).
//
//   node scripts/bundle-cli.mjs                 src/cli/main.ts -> dist/cli/sessiond.cjs
//   bundleCli({ src, dist })                    the same for another tree (the CLI tests)
import { dirname, join, relative, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

/**
 * Bundles `<src>/cli/main.ts` into `<dist>/cli/sessiond.cjs`.
 * @param {{ src: string, dist: string }} trees the TypeScript sources and the compiled tree the server runs from
 * @returns {Promise<string>} the bundle's path
 */
export async function bundleCli({ src, dist }) {
  const outfile = join(dist, "cli", "sessiond.cjs");
  await build({
    entryPoints: [join(src, "cli", "main.ts")],
    outfile,
    bundle: true,
    format: "cjs",
    platform: "node",
    target: "node20",
    sourcemap: "linked",
    logLevel: "warning",
    // import.meta is ESM-only; the bundle's own URL stands in for it (autostart respawns this file).
    define: { "import.meta.url": "__sessiond_bundle_url" },
    banner: { js: 'const __sessiond_bundle_url = require("node:url").pathToFileURL(__filename).href;' },
    plugins: [lazyStaysInTree(src, dist, dirname(outfile)), loadedOnFirstUse(["node:child_process"])],
  });
  return outfile;
}

/** An esbuild plugin: a relative dynamic import becomes an import of the same module in the compiled tree. */
function lazyStaysInTree(src, dist, outdir) {
  return {
    name: "lazy-stays-in-tree",
    setup(b) {
      b.onResolve({ filter: /^\./ }, (args) => {
        if (args.kind !== "dynamic-import") return undefined;
        const compiled = join(dist, relative(src, join(args.resolveDir, args.path)));
        return { path: "./" + relative(outdir, compiled).split(sep).join("/"), external: true };
      });
    },
  };
}

/**
 * An esbuild plugin: these built-ins load on first use instead of at start. commander requires
 * child_process (~4 ms) for executable subcommands, which sessiond does not have; the autostart
 * code that does spawn loads it then.
 */
function loadedOnFirstUse(builtins) {
  const LAZY = "loaded-on-first-use";
  return {
    name: LAZY,
    setup(b) {
      b.onResolve({ filter: /^node:/ }, (args) => {
        if (!builtins.includes(args.path)) return undefined;
        return args.namespace === LAZY ? { path: args.path, external: true } : { path: args.path, namespace: LAZY };
      });
      b.onLoad({ filter: /.*/, namespace: LAZY }, (args) => ({
        contents: `let loaded; module.exports = new Proxy({}, { get: (_, key) => (loaded ??= require(${JSON.stringify(args.path)}))[key] });`,
        loader: "js",
      }));
    },
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const root = fileURLToPath(new URL("..", import.meta.url));
  await bundleCli({ src: join(root, "src"), dist: join(root, "dist") });
}
