import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
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

/**
 * `entries` and every source they import, transitively (relative imports, which name `.js`
 * files): the children load what the engine loads, whichever layers that grows to.
 */
function importClosure(entries: readonly string[]): string[] {
  const seen = new Set<string>();
  const pending = [...entries];
  while (pending.length > 0) {
    const file = pending.pop()!;
    if (seen.has(file)) continue;
    seen.add(file);
    for (const { fileName } of ts.preProcessFile(readFileSync(file, "utf8"), true, true).importedFiles) {
      if (!fileName.startsWith(".")) continue;
      const source = join(dirname(file), fileName).replace(/\.js$/, ".ts");
      if (existsSync(source)) pending.push(source);
    }
  }
  return [...seen];
}

let compiled: string | undefined;

/**
 * Transpiles the bench's children, figures and lib, and the sources they import (the engine's
 * layers), to plain ESM JavaScript in a temp dir (what `npm run build` makes, without
 * type-checking), with the SQL migrations copied beside and node_modules linked, so children
 * measuring memory and start-up run as sessiond runs in production: plain `node`, no TypeScript
 * loader in the process. The source imports already name `.js` files.
 * @returns the root of the compiled tree; `<root>/bench/<path>.js` mirror `bench/<path>.ts`
 */
export function compileForNode(): string {
  if (compiled) return compiled;
  const start = process.hrtime.bigint();
  const out = tempDir("compiled");
  // What the children load: the bench's figures and what they import (no server, no CLI).
  const entries = [["bench", "children"], ["bench", "figures"]].flatMap((d) => tsFiles(join(ROOT, ...d)));
  const files = importClosure([...entries, join(ROOT, "bench", "lib.ts")]);
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
