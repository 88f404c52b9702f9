import { spawnSync } from "node:child_process";
import { afterEach, expect, it } from "vitest";
import { tempHome } from "../helpers/temp-home.js";

const EXAMPLE = new URL("../../examples/agent-loop.ts", import.meta.url).pathname;
let home: ReturnType<typeof tempHome> | undefined;
afterEach(() => home?.remove());

it("runs the README's agent loop (npm run demo) against a fresh SESSIOND_HOME", () => {
  home = tempHome();
  const run = spawnSync(process.execPath, ["--import", "tsx", EXAMPLE], {
    env: { ...process.env, SESSIOND_HOME: home.home },
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
});
