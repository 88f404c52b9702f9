/**
 * Profiles the engine's append path (figure 1's workload) with V8's sampling profiler, on the
 * compiled code so line numbers are real, and prints the heaviest functions by self time.
 *   npx tsx bench/profile.ts [full|normal] [events=200000] [top=15]
 * The .cpuprofile files stay in /tmp/sessiond-prof (open them in Chrome DevTools).
 */
import { mkdirSync, readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { compileForNode } from "./compile.js";
import { summarize } from "./cpuprofile-top.js";
import { cleanupTemp, fmtRate, runChild } from "./lib.js";

const [sync = "full", events = "200000", top = "15"] = process.argv.slice(2);
const dir = "/tmp/sessiond-prof";
rmSync(dir, { recursive: true, force: true });
mkdirSync(dir, { recursive: true });
try {
  const root = compileForNode();
  const { value } = await runChild<{ events: number; ms: number; perSecond: number }>(
    root,
    "bench/children/append-child.js",
    [sync, events],
    ["--cpu-prof", `--cpu-prof-dir=${dir}`],
  );
  console.log(`engine appends, sync=${sync}: ${fmtRate(value.perSecond, " events/s")} (${value.events} events in ${value.ms.toFixed(0)} ms)\n`);
  for (const file of readdirSync(dir).filter((f) => f.endsWith(".cpuprofile"))) {
    console.log(`${join(dir, file)}:`);
    console.log(summarize(join(dir, file), Number(top)));
  }
} finally {
  cleanupTemp();
}
