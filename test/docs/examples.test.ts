import { execFile } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { transform } from "esbuild";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEFAULT_PORT } from "../../src/core/defaults.js";
import { FakeOpenAI } from "../drivers/support/fake-openai.js";
import { DocShell } from "./doc-shell.js";
import { type DocBlock, readBlocks } from "./extract.js";
import { parseJsonShapes } from "./json-shapes.js";
import { compiledCli } from "../helpers/compiled-tree.js";
import { freePort } from "../helpers/ports.js";

/**
 * Every fenced block of README.md and docs/*.md runs here, as a reader would paste it, against a
 * real `sessiond` server (the CLI compiled from this tree, one server per markdown file):
 *
 * - `bash`/`sh` blocks are pasted, in document order, into one bash per file (test/docs/doc-shell.ts),
 *   so a block may use what an earlier one set (`TOKEN`, `sd`, `ID`). Every command must succeed;
 *   curl fails on an HTTP error.
 * - `ts`/`typescript`/`js` blocks are written to a file inside the compiled package (so `sessiond`
 *   and `sessiond/client` resolve to this tree, as the package's self-reference) and run with node
 *   from that same bash, so they see its exported variables. Each must exit 0. A ts block is first
 *   stripped of its types by esbuild, as tsx would (tsx is esbuild's transform in a loader), here
 *   in this process: a tsx per block cost a second or two of loading its TypeScript hooks, which
 *   then ran over every module the block imported.
 * - `json`/`jsonc` blocks are shapes: each must parse (test/docs/json-shapes.ts).
 * - Blocks without a language are text (trees, sketches) and are not run.
 * - Anything else fails, unless marked `<!-- example: not run — <reason> -->` on the line above
 *   (test/docs/extract.ts): a new block is runnable or says why not.
 *
 * The environment is the reader's, moved into temp dirs: HOME and SESSIOND_HOME are two different
 * temp dirs (so a block that reads `~/.sessiond` while SESSIOND_HOME is set fails, as it would for
 * the reader), `sessiond` (and `npx sessiond`) is the compiled CLI, live sessions are on, and the
 * llm endpoint is a fake OpenAI-compatible server. Two rewrites of the pasted text, and no more:
 * the docs' port (the default, 8011) becomes the test server's, and a line that starts the server
 * in the background (`sessiond serve &`, `npm start &`) is dropped — the test started it already.
 */

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const DOCS = ["README.md", ...readdirSync(join(ROOT, "docs")).filter((f) => f.endsWith(".md")).sort().map((f) => `docs/${f}`)];
const SHELL = new Set(["bash", "sh", "shell"]);
const SCRIPT = new Set(["ts", "typescript", "js", "javascript"]);
const SHAPE = new Set(["json", "jsonc"]);
/** How long a streaming curl (`curl -N`) follows its stream, once answered 2xx, before it is stopped (test/docs/doc-shell.ts). */
const STREAM_SECONDS = 0.5;
/** One block's longest run: an llm turn and a python start fit easily. */
const BLOCK_TIMEOUT_MS = 90_000;

const SERVE_LINE = /^\s*(?:[A-Z_]+=\S+\s+)*(?:npx\s+sessiond\s+serve|sessiond\s+serve|npm\s+start)\b[^#\n]*&\s*(?:#.*)?$/;

/** The pasted text of a block: the docs' port → the test server's, background server starts dropped. */
function pasted(code: string, port: number): string {
  return code
    .split("\n")
    .filter((line) => !SERVE_LINE.test(line))
    .join("\n")
    .replaceAll(`:${DEFAULT_PORT}`, `:${port}`);
}


/** The `sessiond` bin of the package compiled for this run (test/helpers/compiled-tree.ts). */
const CLI = compiledCli();
let fake: FakeOpenAI | undefined;
beforeAll(async () => {
  fake = await FakeOpenAI.start();
}, 120_000);
afterAll(async () => {
  await fake?.close();
});

/** A reader's machine for one markdown file: temp HOME, data dir, bin shims, a server and a bash. */
async function machine(file: string) {
  const root = mkdtempSync(join(tmpdir(), "sessiond-docs-"));
  const dirs = { home: join(root, "home"), data: join(root, "data"), bin: join(root, "bin"), work: join(root, "work"), scratch: join(root, "scratch") };
  for (const dir of Object.values(dirs)) mkdirSync(dir, { recursive: true });
  // The scripts live inside the compiled package, where `sessiond` resolves to it.
  const scripts = join(CLI, "..", "..", "docs-examples", file.replace(/[/.]/g, "-"));
  mkdirSync(scripts, { recursive: true });
  const tsx = join(ROOT, "node_modules", ".bin", "tsx");
  writeFileSync(join(dirs.bin, "sessiond"), `#!/bin/sh\nexec ${JSON.stringify(process.execPath)} ${JSON.stringify(CLI)} "$@"\n`);
  writeFileSync(join(dirs.bin, "npx"), `#!/bin/sh\ncase "$1" in sessiond) shift; exec sessiond "$@";; tsx) shift; exec ${JSON.stringify(tsx)} "$@";; esac\necho "npx $1: not available in the docs test" >&2; exit 127\n`);
  for (const bin of ["sessiond", "npx"]) chmodSync(join(dirs.bin, bin), 0o755);
  const port = await freePort();
  const env: Record<string, string> = {
    PATH: `${dirs.bin}:${process.env.PATH ?? ""}`,
    HOME: dirs.home,
    LANG: "C.UTF-8",
    SESSIOND_HOME: dirs.data,
    SESSIOND_PORT: String(port),
    ENABLE_SESSIONS: "true",
    SESSIOND_LLM_BASE_URL: fake!.baseUrl,
    SESSIOND_LLM_API_KEY: "sk-docs-test",
    NO_COLOR: "1",
  };
  const sessiond = (...args: string[]) => promisify(execFile)(join(dirs.bin, "sessiond"), args, { env, encoding: "utf8" });
  try {
    await sessiond("server", "start");
  } catch (err) {
    rmSync(root, { recursive: true, force: true });
    rmSync(scripts, { recursive: true, force: true });
    throw err;
  }
  const shell = DocShell.start({ cwd: dirs.work, env, scratch: dirs.scratch, streamSeconds: STREAM_SECONDS });
  let n = 0;
  return {
    port,
    shell,
    /**
     * Writes a script block into the package (a ts block beside its JavaScript, stripped of types
     * with an inline source map) and returns the shell line that runs it.
     */
    async script(block: DocBlock, code: string): Promise<string> {
      const base = join(scripts, `line-${block.line}-${++n}`);
      let js = code;
      if (!block.lang.startsWith("j")) {
        writeFileSync(`${base}.ts`, code);
        js = (await transform(code, { loader: "ts", format: "esm", target: `node${process.versions.node}`, sourcemap: "inline", sourcefile: `${base}.ts` })).code;
      }
      writeFileSync(`${base}.js`, js);
      return `${JSON.stringify(process.execPath)} --enable-source-maps ${JSON.stringify(`${base}.js`)}`;
    },
    async close() {
      try {
        await shell.close();
      } finally {
        try {
          await sessiond("server", "stop", "--force");
        } finally {
          rmSync(root, { recursive: true, force: true });
          rmSync(scripts, { recursive: true, force: true });
        }
      }
    },
  };
}

type Machine = Awaited<ReturnType<typeof machine>>;
const FILES = DOCS.map((file) => ({ file, blocks: readBlocks(join(ROOT, file), file) })).filter(({ blocks }) => blocks.length > 0);
/** The files with blocks to run, in the order they run: each needs a machine. */
const RUNNING = FILES.filter(({ blocks }) => blocks.some((b) => b.notRun === undefined && (SHELL.has(b.lang) || SCRIPT.has(b.lang)))).map(({ file }) => file);

/**
 * The machines, by file, each started once. A file's machine is started when the file before it
 * starts, so that its server's start (a second or more of loading) overlaps that file's blocks; it
 * is fresh all the same: no block runs on it before its own file's.
 */
const machines = new Map<string, Promise<Machine>>();
function machineFor(file: string): Promise<Machine> {
  let m = machines.get(file);
  if (!m) machines.set(file, (m = machine(file)));
  return m;
}
afterAll(async () => {
  // Any machine still up: one started ahead for a file that did not run (a filtered run, a failure).
  await Promise.all([...machines.values()].map(async (m) => (await m.catch(() => undefined))?.close()));
});

for (const { file, blocks } of FILES) {
  describe(file, () => {
    let m: Machine | undefined;
    if (RUNNING.includes(file)) {
      beforeAll(async () => {
        const next = RUNNING[RUNNING.indexOf(file) + 1];
        // Started ahead; a failure to start shows when its own file awaits it.
        if (next) machineFor(next).catch(() => undefined);
        m = await machineFor(file);
      }, 60_000);
      afterAll(async () => {
        machines.delete(file);
        await m?.close();
      });
    }
    for (const block of blocks) {
      const name = `${file}:${block.line} ${block.lang || "text"}`;
      if (block.notRun !== undefined) {
        it.skip(`${name} (not run: ${block.notRun})`, () => {});
        continue;
      }
      if (block.lang === "") {
        it(`${name} is text, not run`, () => {});
        continue;
      }
      if (SHAPE.has(block.lang)) {
        it(`${name} parses`, () => {
          expect(() => parseJsonShapes(block.code), name).not.toThrow();
        });
        continue;
      }
      if (!SHELL.has(block.lang) && !SCRIPT.has(block.lang)) {
        it(`${name} runs`, () => {
          expect.fail(`${name}: no runner for "${block.lang}" blocks; make it a bash, ts or json block, or mark it <!-- example: not run — <reason> -->`);
        });
        continue;
      }
      it(
        `${name} runs`,
        async () => {
          const code = pasted(block.code, m!.port);
          const line = SHELL.has(block.lang) ? code : await m!.script(block, code);
          const run = await m!.shell.run(line, BLOCK_TIMEOUT_MS - 5_000);
          if (process.env.DOCS_EXAMPLES_VERBOSE) console.log(`${name}:\n${run.output}`);
          expect(run.failures, `${name} printed:\n${run.output}`).toEqual([]);
        },
        BLOCK_TIMEOUT_MS,
      );
    }
  });
}
