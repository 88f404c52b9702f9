import { spawn, spawnSync } from "node:child_process";
import { join } from "node:path";
import { afterEach, expect, it } from "vitest";
import { tempHome } from "../helpers/temp-home.js";

const EXAMPLE = new URL("../../examples/agent-loop.ts", import.meta.url).pathname;
let home: ReturnType<typeof tempHome> | undefined;
afterEach(() => home?.remove());

it("runs the README's agent loop (npm run demo) against a fresh SESSIOND_HOME", () => {
  home = tempHome();
  expectTheLoop(home.home);
});

it("runs it the same while a server owns the data dir (as `npm start` leaves one), writing through it", async () => {
  home = tempHome();
  const server = spawn(process.execPath, ["--import", "tsx", join(ROOT, "src/cli/main.ts"), "serve", "--port", "0"], {
    env: { ...process.env, SESSIOND_HOME: home.home },
    stdio: ["ignore", "pipe", "inherit"],
  });
  try {
    await new Promise<void>((resolve, reject) => {
      server.stdout!.on("data", (chunk: Buffer) => chunk.toString().includes("sessiond listening") && resolve());
      server.once("exit", (code) => reject(new Error(`the server exited (${code})`)));
    });
    expectTheLoop(home.home);
  } finally {
    server.kill("SIGTERM");
    await new Promise((resolve) => server.once("exit", resolve));
  }
});

const ROOT = new URL("../../", import.meta.url).pathname;

function expectTheLoop(dataDir: string): void {
  const run = spawnSync(process.execPath, ["--import", "tsx", EXAMPLE], {
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
