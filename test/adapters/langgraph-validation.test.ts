import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { type TestServer, startServer } from "../server/harness.js";

const ROOT = new URL("../../", import.meta.url).pathname;
/** The validation package's own vitest (4): the suite is written for it, and the project runs vitest 3. */
const VALIDATION_VITEST = join(ROOT, "node_modules/@langchain/langgraph-checkpoint-validation/node_modules/vitest/vitest.mjs");
const CONFIG = join(ROOT, "test/adapters/langgraph/validation.vitest.config.mts");

/** What the JSON reporter says of a run. */
interface Summary {
  numTotalTests: number;
  numPassedTests: number;
  numFailedTests: number;
  numPendingTests: number;
  numTodoTests: number;
  testResults: { assertionResults: { fullName: string; status: string }[] }[];
}

/**
 * The official checkpointer suite (@langchain/langgraph-checkpoint-validation: `validate()` —
 * put, putWrites, getTuple, list, deleteThread — and its delta-channel-history tests) against
 * SessiondSaver, embedded and remote, with nothing filtered or skipped.
 *
 * The package's `validate-checkpointer` CLI cannot run any initializer in 1.1.1: its runner
 * imports `findPackageRoot` and `checkpointerTestInitializerSchema`, which its bundle does not
 * export. So this runs what the CLI runs (`specTest` with no filter, through `validate()`) the
 * way the package's README shows, in a test file of its own vitest, in a child process.
 */
describe("sessiond/langgraph against the official checkpointer validation suite", () => {
  const dirs: string[] = [];
  let server: TestServer | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  async function validate(env: Record<string, string>): Promise<Summary> {
    const out = mkdtempSync(join(tmpdir(), "sessiond-lg-validation-"));
    dirs.push(out);
    const report = join(out, "report.json");
    const run = await new Promise<{ status: number | null; output: string }>((resolve, reject) => {
      const child = spawn(process.execPath, [VALIDATION_VITEST, "run", "--config", CONFIG, "--reporter=json", `--outputFile=${report}`], {
        cwd: out,
        env: { ...process.env, ...env },
        stdio: ["ignore", "pipe", "pipe"],
      });
      let output = "";
      child.stdout.on("data", (c: Buffer) => (output += c.toString()));
      child.stderr.on("data", (c: Buffer) => (output += c.toString()));
      child.once("error", reject);
      child.once("exit", (status) => resolve({ status, output }));
    });
    const summary = JSON.parse(readFileSync(report, "utf8")) as Summary;
    const failed = summary.testResults.flatMap((file) => file.assertionResults.filter((t) => t.status !== "passed").map((t) => `${t.status}: ${t.fullName}`));
    expect({ status: run.status, failed }, run.output.slice(-4000)).toEqual({ status: 0, failed: [] });
    return summary;
  }

  function expectAllPassed(summary: Summary): void {
    expect(summary.numFailedTests).toBe(0);
    expect(summary.numPendingTests).toBe(0);
    expect(summary.numTodoTests).toBe(0);
    expect(summary.numPassedTests).toBe(summary.numTotalTests);
    // The whole suite ran: each method's tests, the one the package skips for its own SQLite saver included.
    const names = summary.testResults.flatMap((file) => file.assertionResults.map((t) => t.fullName));
    for (const method of ["#put", "#putWrites", "#getTuple", "#list", "#deleteThread", "#getDeltaChannelHistory"]) expect(names.some((n) => n.includes(method))).toBe(true);
    expect(names.some((n) => n.includes("should only store channel_values that have changed"))).toBe(true);
    expect(summary.numTotalTests).toBeGreaterThan(700);
  }

  it("passes embedded: the saver on the SQLite data dir of this process", { timeout: 240_000 }, async () => {
    const home = mkdtempSync(join(tmpdir(), "sessiond-lg-home-"));
    dirs.push(home);
    expectAllPassed(await validate({ LANGGRAPH_VALIDATION_MODE: "embedded", LANGGRAPH_VALIDATION_HOME: home }));
  });

  it("passes remote: the saver through sessiond/client on a server over TCP", { timeout: 240_000 }, async () => {
    server = await startServer();
    await server.app.listen({ host: "127.0.0.1", port: 0 });
    const address = server.app.server.address();
    if (!address || typeof address === "string") throw new Error("no TCP address");
    expectAllPassed(
      await validate({ LANGGRAPH_VALIDATION_MODE: "remote", LANGGRAPH_VALIDATION_URL: `http://127.0.0.1:${address.port}`, LANGGRAPH_VALIDATION_TOKEN: server.token }),
    );
  });
});
