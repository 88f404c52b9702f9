/**
 * Screenshots of each page of the dashboard, for the README and docs/ui.md: starts a sessiond with
 * demo data (agent sessions in every status with iterations, tool calls, checkpoints and context;
 * a shell that ran a few commands; a Python session with cells), signs Chromium in, and writes
 * one PNG per page to docs/ui/.
 *
 *   npx tsx scripts/ui-screenshots.ts [--out docs/ui]
 *
 * Needs /usr/bin/chromium (Debian's chromium) and builds the dashboard from ui/ when its cached
 * build is stale (test/browser/harness.ts).
 */
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import type { Page } from "playwright-core";
import type { SessiondClient } from "../src/sdk/client/index.js";
import { CHROMIUM, type BrowserServer, launchBrowser, signIn, startBrowserServer } from "../test/browser/harness.js";

const ROOT = fileURLToPath(new URL("../", import.meta.url));
const { values } = parseArgs({ options: { out: { type: "string", default: join(ROOT, "docs", "ui") } } });
const OUT = values.out!;

/** The demo: what a morning of agents looks like. @returns the ids of the sessions to show */
async function seed(client: SessiondClient): Promise<{ agent: string; shell: string; python: string | undefined }> {
  const s = client.sessions;
  const refactor = await s.createSession({
    name: "refactor-auth",
    agent_id: "planner",
    task: "Move token checks into one hook and cover them with tests",
    labels: { repo: "sessiond", team: "platform" },
    max_iterations: 20,
    context: { working_directory: "/work/sessiond", current_task: "split auth-hook.ts", files_open: ["src/server/auth/auth-hook.ts"] },
  });
  const steps: [string, unknown, unknown, number][] = [
    ["read_file", { path: "src/server/auth/auth-hook.ts" }, { lines: 111 }, 12],
    ["grep", { pattern: "installAuth" }, { matches: 4 }, 35],
    ["run_tests", { files: ["test/server/auth.test.ts"] }, { passed: 41, failed: 0 }, 8_400],
    ["edit_file", { path: "src/server/auth/auth-hook.ts", hunks: 3 }, { ok: true }, 20],
    ["run_tests", { files: ["test/server/auth.test.ts", "test/server/auth-failures.test.ts"] }, { passed: 53, failed: 1 }, 12_900],
    ["read_file", { path: "test/server/auth-failures.test.ts" }, { lines: 240 }, 9],
  ];
  for (const [i, [tool, args, result, ms]] of steps.entries()) {
    await s.recordToolCall(refactor.id, tool, args, result, { duration_ms: ms });
    if (i % 2 === 1) await s.incrementIteration(refactor.id, { step: tool });
    if (i === 2) await s.createCheckpoint(refactor.id, { label: "tests-green", data: { note: "before the edit" } });
  }
  await s.updateSession(refactor.id, { context: { working_directory: "/work/sessiond", current_task: "fix the limiter test", files_open: ["src/server/auth/auth-hook.ts", "test/server/auth-failures.test.ts"], failing: ["answers 429 past authMaxFailures"] } });
  await s.createCheckpoint(refactor.id, { label: "one-test-red" });

  const others: [string, string, string, "completed" | "failed" | "paused" | "active"][] = [
    ["fix-flaky-test", "fixer", "Find why test/streams/reconnect.test.ts fails one run in fifty", "completed"],
    ["nightly-report", "reporter", "Summarise yesterday's CI runs for the team channel", "failed"],
    ["triage-inbox", "triager", "Label and route new issues", "paused"],
    ["docs-review", "reviewer", "Check docs/api.md against the routes", "active"],
    ["upgrade-deps", "planner", "Bump fastify and re-run the suites", "completed"],
    ["migrate-store", "planner", "Try the PostgreSQL store on the staging data", "active"],
  ];
  for (const [name, agent, task, status] of others) {
    const made = await s.createSession({ name, agent_id: agent, task, labels: { team: "platform" } });
    await s.recordToolCall(made.id, "read_file", { path: "README.md" }, { lines: 300 }, { duration_ms: 15 });
    await s.incrementIteration(made.id);
    if (status === "completed") await s.complete(made.id, { ok: true });
    if (status === "failed") await s.fail(made.id, "the CI API answered 503 three times");
    if (status === "paused") await s.pause(made.id, "waiting for a human");
  }

  const shell = await s.createSession({ kind: "shell", name: "build-shell", agent_id: "builder", task: "Build and test the package" });
  for (const line of ["cd /tmp && mkdir -p demo && cd demo", "printf 'hello from sessiond\\n'", "ls -la", "echo \"built in $((3 + 4)) s\""]) await s.exec(shell.id, line);

  let python: string | undefined;
  try {
    const py = await s.createSession({ kind: "python", name: "data-notebook", agent_id: "analyst", task: "Explore the run times" });
    for (const cell of ["times = [8.4, 12.9, 9.1, 10.2]", "sum(times) / len(times)", "max(times) - min(times)"]) await s.exec(py.id, cell);
    python = py.id;
  } catch (err) {
    console.warn(`no Python session in the screenshots: ${(err as Error).message}`);
  }
  return { agent: refactor.id, shell: shell.id, python };
}

/** The page as a 1280-pixel-wide window shows it, `height` pixels tall. */
async function shoot(page: Page, name: string, height = 860): Promise<void> {
  const path = join(OUT, `${name}.png`);
  await page.setViewportSize({ width: 1280, height });
  await page.screenshot({ path, fullPage: false });
  console.log(`wrote ${path}`);
}

async function main(): Promise<void> {
  mkdirSync(OUT, { recursive: true });
  const [browser, server]: [Awaited<ReturnType<typeof launchBrowser>>, BrowserServer] = await Promise.all([
    launchBrowser(),
    startBrowserServer({ enableSessions: true, logLevel: "warn" }),
  ]);
  try {
    const ids = await seed(server.client());
    const context = await browser.newContext({ viewport: { width: 1280, height: 860 }, deviceScaleFactor: 1, colorScheme: "light" });
    const page = await context.newPage();

    await page.goto(server.uiUrl);
    await page.getByLabel("Token").waitFor();
    await shoot(page, "sign-in");

    await signIn(page, server, server.token);
    await page.getByRole("table", { name: "Sessions" }).getByRole("link", { name: "refactor-auth" }).waitFor();
    await shoot(page, "sessions");

    await page.goto(`${server.uiUrl}sessions/${ids.agent}`);
    await page.getByRole("region", { name: "Tool calls" }).waitFor();
    await page.getByRole("region", { name: "Timeline" }).getByText("run_tests").first().waitFor();
    // Taller: the tool calls' chart and the start of the timeline below the header, context and checkpoints.
    await shoot(page, "session", 1500);
    await page.setViewportSize({ width: 1280, height: 860 });
    await page.getByRole("heading", { name: "Timeline" }).evaluate((heading) => (heading as unknown as { scrollIntoView(): void }).scrollIntoView());
    await shoot(page, "timeline");

    await page.goto(`${server.uiUrl}sessions/${ids.shell}`);
    const terminal = page.getByRole("region", { name: "Terminal" });
    await terminal.getByText(/built in 7 s/).first().waitFor();
    await terminal.scrollIntoViewIfNeeded();
    await shoot(page, "terminal");

    if (ids.python) {
      await page.goto(`${server.uiUrl}sessions/${ids.python}`);
      await page.getByRole("textbox", { name: "Cell" }).waitFor();
      await page.getByRole("textbox", { name: "Cell" }).scrollIntoViewIfNeeded();
      await shoot(page, "cells");
    }

    await page.goto(`${server.uiUrl}stats`);
    await page.getByRole("heading", { name: "Stats", level: 1 }).waitFor();
    // The charts fill in from /stats and /metrics answers that a long-lived feed keeps the page from ever going idle over.
    await page.waitForTimeout(1500);
    await shoot(page, "stats");
    await context.close();
  } finally {
    await browser.close();
    await server.close();
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error && /Executable doesn't exist|ENOENT/.test(err.message) ? `${CHROMIUM} is missing: install Debian's chromium package` : err);
  process.exitCode = 1;
});
