import { spawn, spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { transform } from "esbuild";
import { afterEach, expect, it } from "vitest";
import { compiledCli, compiledTree } from "../helpers/compiled-tree.js";
import { tempHome } from "../helpers/temp-home.js";

const EXAMPLE = new URL("../../examples/agent-loop.ts", import.meta.url).pathname;
let home: ReturnType<typeof tempHome> | undefined;
afterEach(() => home?.remove());

it("runs the README's agent loop (npm run demo) against a fresh SESSIOND_HOME", () => {
  home = tempHome();
  // As `npm run demo` runs it: tsx, from the repository, on the sources.
  expectTheLoop(home.home, ["--import", "tsx", EXAMPLE]);
});

it("runs it the same while a server owns the data dir (as `npm start` leaves one), writing through it", async () => {
  home = tempHome();
  // The server and the example as they ship: compiled once per run (test/helpers/compiled-tree.ts),
  // the example inside that package, where `sessiond` resolves to it.
  const example = join(compiledTree(), "examples", "agent-loop.js");
  mkdirSync(join(example, ".."), { recursive: true });
  writeFileSync(example, (await transform(readFileSync(EXAMPLE, "utf8"), { loader: "ts", format: "esm", target: "node20" })).code);
  const server = spawn(process.execPath, [compiledCli(), "serve", "--port", "0"], {
    env: { ...process.env, SESSIOND_HOME: home.home },
    stdio: ["ignore", "pipe", "inherit"],
  });
  try {
    await new Promise<void>((resolve, reject) => {
      server.stdout!.on("data", (chunk: Buffer) => chunk.toString().includes("sessiond listening") && resolve());
      server.once("exit", (code) => reject(new Error(`the server exited (${code})`)));
    });
    expectTheLoop(home.home, [example]);
  } finally {
    server.kill("SIGTERM");
    await new Promise((resolve) => server.once("exit", resolve));
  }
});

const ROOT = new URL("../../", import.meta.url).pathname;

function expectTheLoop(dataDir: string, args: string[]): void {
  const run = spawnSync(process.execPath, args, {
    cwd: ROOT,
    env: { ...process.env, SESSIOND_HOME: dataDir },
    encoding: "utf8",
  });
  expect(run.stderr).toBe("");
  expect(run.status).toBe(0);
  const lines = run.stdout.trim().split("\n");
  // Seed 002: a session for a user is named after them.
  expect(lines[0]).toMatch(/^started human-ada-\d{4}-\d{2}-\d{2}-[0-9a-f]{8} \(/);
  expect(lines.slice(1)).toEqual([
    "completed after 3 iterations, 12 events",
    'context: {"lastPhase":"testing"}',
    "all sessions: 1, success rate 100%",
  ]);
}
