import { cpSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";
import { log, msSince, tempDir } from "./lib.js";

const ROOT = fileURLToPath(new URL("..", import.meta.url));

function tsFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return tsFiles(path);
    return entry.name.endsWith(".ts") && !entry.name.endsWith(".d.ts") ? [path] : [];
  });
}

let compiled: string | undefined;

/**
 * Transpiles the engine's layers of src/ (core, store, engine) and the bench's children, figures
 * and lib to plain ESM JavaScript in a temp dir (what `npm run build` makes, without
 * type-checking), with the SQL migrations copied beside and node_modules linked, so children
 * measuring memory and start-up run as sessiond runs in production: plain `node`, no TypeScript
 * loader in the process. The source imports already name `.js` files.
 * @returns the root of the compiled tree; `<root>/bench/<path>.js` mirror `bench/<path>.ts`
 */
export function compileForNode(): string {
  if (compiled) return compiled;
  const start = process.hrtime.bigint();
  const out = tempDir("compiled");
  // What the children load: the engine's layers and the bench's figures (no server, no CLI).
  const dirs = [["src", "core"], ["src", "store"], ["src", "engine"], ["bench", "children"], ["bench", "figures"]];
  const files = [...dirs.flatMap((d) => tsFiles(join(ROOT, ...d))), join(ROOT, "bench", "lib.ts")];
  for (const file of files) {
    const { outputText } = ts.transpileModule(readFileSync(file, "utf8"), {
      fileName: file,
      compilerOptions: {
        module: ts.ModuleKind.ESNext,
        target: ts.ScriptTarget.ES2022,
        verbatimModuleSyntax: true,
        sourceMap: false,
      },
    });
    const target = join(out, relative(ROOT, file)).replace(/\.ts$/, ".js");
    mkdirSync(dirname(target), { recursive: true });
    writeFileSync(target, outputText);
  }
  cpSync(join(ROOT, "src", "store", "sqlite", "migrations"), join(out, "src", "store", "sqlite", "migrations"), { recursive: true });
  writeFileSync(join(out, "package.json"), JSON.stringify({ type: "module" }));
  symlinkSync(join(ROOT, "node_modules"), join(out, "node_modules"), "dir");
  log(`compiled ${files.length} files for plain node in ${msSince(start).toFixed(0)} ms`);
  compiled = out;
  return out;
}
