import { execFileSync } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
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
 *   and `sessiond/client` resolve to this tree, as the package's self-reference) and run with tsx
 *   from that same bash, so they see its exported variables. Each must exit 0.
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
/** How long a streaming curl (`curl -N`) follows its stream before it is stopped. */
const STREAM_SECONDS = 2;
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
  const sessiond = (...args: string[]) => execFileSync(join(dirs.bin, "sessiond"), args, { env, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  sessiond("server", "start");
  const shell = DocShell.start({ cwd: dirs.work, env, scratch: dirs.scratch, streamSeconds: STREAM_SECONDS });
  let n = 0;
  return {
    port,
    shell,
    /** Writes a script block into the package and returns the shell line that runs it. */
    script(block: DocBlock, code: string): string {
      const ext = block.lang.startsWith("j") ? "js" : "ts";
      const path = join(scripts, `line-${block.line}-${++n}.${ext}`);
      writeFileSync(path, code);
      return `${JSON.stringify(tsx)} ${JSON.stringify(path)}`;
    },
    async close() {
      try {
        await shell.close();
      } finally {
        try {
          sessiond("server", "stop", "--force");
        } finally {
          rmSync(root, { recursive: true, force: true });
          rmSync(scripts, { recursive: true, force: true });
        }
      }
    },
  };
}

for (const file of DOCS) {
  const blocks = readBlocks(join(ROOT, file), file);
  if (blocks.length === 0) continue;
  const runs = blocks.some((b) => b.notRun === undefined && (SHELL.has(b.lang) || SCRIPT.has(b.lang)));
  describe(file, () => {
    let m: Awaited<ReturnType<typeof machine>> | undefined;
    if (runs) {
      beforeAll(async () => {
        m = await machine(file);
      }, 60_000);
      afterAll(() => m?.close());
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
          const line = SHELL.has(block.lang) ? code : m!.script(block, code);
          const run = await m!.shell.run(line, BLOCK_TIMEOUT_MS - 5_000);
          if (process.env.DOCS_EXAMPLES_VERBOSE) console.log(`${name}:\n${run.output}`);
          expect(run.failures, `${name} printed:\n${run.output}`).toEqual([]);
        },
        BLOCK_TIMEOUT_MS,
      );
    }
  });
}
