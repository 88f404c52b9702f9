import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { cliHome, until, useCompiledCli } from "../cli/run-cli.js";
import { type LiveNode, runNode, startNode } from "../helpers/run-node.js";

const ROOT = new URL("../../", import.meta.url).pathname;
const CHILD = [
  "--import",
  pathToFileURL(join(ROOT, "node_modules/tsx/dist/loader.mjs")).href,
  join(ROOT, "test/adapters/langgraph/graph-child.mts"),
];

interface GraphState {
  log: string[];
  count: number;
}

/** One JSON result a graph child printed (`RESULT {…}`). */
function resultOf(stdout: string): any {
  const line = stdout.split("\n").find((l) => l.startsWith("RESULT "));
  if (!line) throw new Error(`no result in:\n${stdout}`);
  return JSON.parse(line.slice("RESULT ".length));
}

/**
 * A real StateGraph (@langchain/langgraph, plain-function nodes a → b → c → d → e, no network)
 * with SessiondSaver embedded, each step in processes of its own on one data dir: killed mid-run,
 * resumed from its last checkpoint by a new process, forked from an earlier checkpoint, and its
 * run read back with `sessiond trace`.
 */
describe("sessiond/langgraph with a real StateGraph across processes", () => {
  const cli = useCompiledCli();
  const live: LiveNode[] = [];
  let cleanup: (() => Promise<void>) | undefined;
  afterEach(async () => {
    for (const run of live.splice(0)) if (run.child.exitCode === null && run.child.signalCode === null) run.child.kill("SIGKILL");
    await cleanup?.();
    cleanup = undefined;
  });

  it("resumes a killed run from its last checkpoint, forks from an earlier one, and shows the run on the timeline", { timeout: 180_000 }, async () => {
    void cli.main;
    const home = cliHome();
    cleanup = home.cleanup;
    const env = { SESSIOND_HOME: home.home, SESSIOND_PORT: "0" };
    const graph = (...args: string[]) => runNode([...CHILD, ...args], { env });

    // 1. Runs a and b, then is killed (SIGKILL) while c runs.
    const first = startNode([...CHILD, "run", "support-42", "c"], { env });
    live.push(first);
    await until(() => first.lines.includes("HANG c") || first.child.exitCode !== null);
    expect(first.lines).toContain("HANG c");
    first.child.kill("SIGKILL");
    await first.exited;
    const firstPid = first.child.pid;

    // What survived: the checkpoint after b, with c next.
    const afterKill = resultOf((await graph("state", "support-42")).stdout);
    expect(afterKill.values).toEqual({ log: [`a:${firstPid}`, `b:${firstPid}`], count: 2 });
    expect(afterKill.next).toEqual(["c"]);

    // The run so far is on the session's timeline (the CLI starts a server on the data dir for it,
    // so the steps below reach the data dir through its owner, as any second process does).
    const trace = await home.run(["trace", "langgraph/support-42"]);
    expect(trace.code, trace.stderr).toBe(0);
    expect(trace.stdout).toContain("support-42");
    expect(trace.stdout).toMatch(/langgraph\.checkpoint \{"step":1,"source":"loop"/);
    expect(trace.stdout).toContain("langgraph.writes");

    // 2. A new process resumes: c, d and e run there; a and b are not run again.
    const resumed = await graph("resume", "support-42");
    expect(resumed.status, resumed.stderr).toBe(0);
    const resumedPid = resultOf(resumed.stdout).log[2].split(":")[1];
    expect(resultOf(resumed.stdout) as GraphState).toEqual({
      log: [`a:${firstPid}`, `b:${firstPid}`, `c:${resumedPid}`, `d:${resumedPid}`, `e:${resumedPid}`],
      count: 5,
    });
    expect(Number(resumedPid)).not.toBe(firstPid);
    const finished = resultOf((await graph("state", "support-42")).stdout);
    expect(finished.next).toEqual([]);

    // 3. Time travel: from the checkpoint before c, count set to 100, the rest runs again there.
    const forked = await graph("fork", "support-42");
    expect(forked.status, forked.stderr).toBe(0);
    const fork = resultOf(forked.stdout);
    expect(fork.final.count).toBe(103);
    expect(fork.final.log.slice(0, 2)).toEqual([`a:${firstPid}`, `b:${firstPid}`]);
    expect(fork.final.log).toHaveLength(5);
    // The thread's latest state is the fork's; the first branch's end is still there, unchanged.
    const latest = resultOf((await graph("state", "support-42")).stdout);
    expect(latest.values).toEqual(fork.final);
    const original = resultOf((await graph("state", "support-42", finished.checkpoint_id)).stdout);
    expect(original.values).toEqual({ log: [`a:${firstPid}`, `b:${firstPid}`, `c:${resumedPid}`, `d:${resumedPid}`, `e:${resumedPid}`], count: 5 });

    // Every checkpoint of both branches is one event on the timeline, in the order they were put.
    const events = (await home.run(["trace", "langgraph/support-42", "--json"])).stdout
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line) as { seq: number; type: string; data: Record<string, unknown> });
    const checkpoints = events.filter((e) => e.type === "langgraph.checkpoint");
    expect(checkpoints).toHaveLength(latest.history);
    expect(checkpoints.map((e) => e.data.checkpoint_id)).toContain(fork.forked);
    expect(checkpoints.find((e) => e.data.checkpoint_id === fork.forked)?.data).toMatchObject({ parent_checkpoint_id: fork.from, source: "update" });
    expect(events.filter((e) => e.type === "langgraph.writes").length).toBeGreaterThan(0);
  });
});
