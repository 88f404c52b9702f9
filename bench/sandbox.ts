/**
 * What the sandbox costs (docs/security.md), measured in-process through LiveSessions, each
 * sandboxed figure beside the same thing unsandboxed (config `sandbox: "none"`) in the same run,
 * interleaved exec by exec (starts round by round):
 *
 *   - a warm shell exec of `true` and a python `x += 1`: p50 within +10% of unsandboxed;
 *   - a shell and a python session's start (LiveSessions.start → active and ready);
 *   - memory per idle sandboxed shell: the resident memory of everything in its cgroup
 *     (bubblewrap, its init, bash) beside an unsandboxed bash.
 *
 * Skipped, saying why, where the sandbox cannot start. Run with `npm run bench:sandbox`
 * (`--quick` for a smoke run, `--json` for machine-readable output).
 */
import { readFileSync } from "node:fs";
import { pathToFileURL } from "node:url";
import type { Session } from "../src/core/index.js";
import { LiveSessions } from "../src/drivers/index.js";
import { checkSandbox } from "../src/drivers/sandbox/index.js";
import { listProcesses } from "../src/drivers/process-tree.js";
import { type Figure, benchConfig, cleanupTemp, fmtMB, fmtMs, fmtRatio, log, median, openEngine, printFigures, quantile, tempDir } from "./lib.js";

type Mode = "bwrap" | "none";

export interface SandboxBenchResult {
  readonly skipped?: string;
  readonly figures: Figure[];
}

/** One engine with live sessions in one sandbox mode. */
async function openLive(mode: Mode) {
  const home = tempDir(`sandbox-${mode}`);
  const config = benchConfig(home, { enableSessions: true, sandbox: mode });
  const { manager } = openEngine(config);
  const live = new LiveSessions({ manager, config });
  return {
    live,
    manager,
    async close() {
      await live.close();
      await manager.close();
    },
  };
}

async function timedLoop(live: LiveSessions, session: Session, input: string, n: number): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < n; i++) {
    const started = performance.now();
    const result = await live.exec(session.id, input);
    times.push(performance.now() - started);
    if (result.status !== "ok") throw new Error(`exec failed: ${JSON.stringify(result)}`);
  }
  return times;
}

async function timedStart(live: LiveSessions, kind: string): Promise<number> {
  const started = performance.now();
  const session = await live.start({ kind });
  const ms = performance.now() - started;
  await live.stop(session.id);
  return ms;
}

/** Resident bytes of the processes of a session: its cgroup's, or the shell's own without one. */
function residentBytes(session: Session): number {
  const pids = new Set<number>([session.runtime_metadata.pid as number]);
  const cgroup = session.runtime_metadata.cgroup;
  if (typeof cgroup === "string") {
    for (const line of readFileSync(`${cgroup}/cgroup.procs`, "utf8").split("\n")) if (line) pids.add(Number(line));
  } else {
    // Unsandboxed, the shell is the session: count it and its children.
    for (const p of listProcesses()) if (pids.has(p.ppid)) pids.add(p.pid);
  }
  let total = 0;
  for (const pid of pids) {
    const match = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    total += match ? Number(match[1]) * 1024 : 0;
  }
  return total;
}

export async function benchSandbox(options: { quick?: boolean } = {}): Promise<SandboxBenchResult> {
  const check = checkSandbox();
  if (!check.ok) return { skipped: `the sandbox cannot start here: it lacks ${check.missing}`, figures: [] };
  const rounds = options.quick ? 2 : 5;
  const perRound = options.quick ? 200 : 1000;
  const starts = options.quick ? 3 : 10;
  const engines = { bwrap: await openLive("bwrap"), none: await openLive("none") };
  const samples = {
    shell: { bwrap: [] as number[], none: [] as number[] },
    python: { bwrap: [] as number[], none: [] as number[] },
    shellStart: { bwrap: [] as number[], none: [] as number[] },
    pythonStart: { bwrap: [] as number[], none: [] as number[] },
  };
  const memory = { bwrap: 0, none: 0 };
  try {
    const sessions = {
      bwrap: { shell: await engines.bwrap.live.start({ kind: "shell" }), python: await engines.bwrap.live.start({ kind: "python" }) },
      none: { shell: await engines.none.live.start({ kind: "shell" }), python: await engines.none.live.start({ kind: "python" }) },
    };
    for (const mode of ["bwrap", "none"] as const) {
      await engines[mode].live.exec(sessions[mode].python.id, "x = 0");
      await timedLoop(engines[mode].live, sessions[mode].shell, "true", 200);
      await timedLoop(engines[mode].live, sessions[mode].python, "x += 1", 200);
    }
    for (let round = 0; round < rounds; round++) {
      log(`sandbox round ${round + 1}/${rounds}`);
      // Exec by exec, alternating which mode goes first: the machine's drift falls on both alike.
      for (let i = 0; i < perRound; i++) {
        for (const mode of i % 2 ? (["none", "bwrap"] as const) : (["bwrap", "none"] as const)) {
          samples.shell[mode].push(...(await timedLoop(engines[mode].live, sessions[mode].shell, "true", 1)));
          samples.python[mode].push(...(await timedLoop(engines[mode].live, sessions[mode].python, "x += 1", 1)));
        }
      }
      for (const mode of round % 2 ? (["none", "bwrap"] as const) : (["bwrap", "none"] as const)) {
        const { live } = engines[mode];
        for (let i = 0; i < starts; i++) {
          samples.shellStart[mode].push(await timedStart(live, "shell"));
          samples.pythonStart[mode].push(await timedStart(live, "python"));
        }
      }
    }
    for (const mode of ["bwrap", "none"] as const) {
      const session = await engines[mode].manager.get(sessions[mode].shell.id);
      memory[mode] = residentBytes(session);
    }
  } finally {
    await engines.bwrap.close();
    await engines.none.close();
    cleanupTemp();
  }
  const p50 = (xs: number[]) => quantile([...xs].sort((a, b) => a - b), 0.5);
  const latencyFigure = (name: string, sandboxed: number[], bare: number[]): Figure => {
    const ratio = p50(sandboxed) / p50(bare);
    return {
      name,
      measured: `p50 ${fmtMs(p50(sandboxed))}`,
      peer: `unsandboxed p50 ${fmtMs(p50(bare))}`,
      ratio: fmtRatio(ratio),
      target: "≤ +10% (1.10×)",
      pass: ratio <= 1.1,
    };
  };
  const startFigure = (name: string, sandboxed: number[], bare: number[]): Figure => ({
    name,
    measured: `median ${fmtMs(median(sandboxed))}`,
    peer: `unsandboxed median ${fmtMs(median(bare))}`,
    ratio: fmtRatio(median(sandboxed) / median(bare)),
    target: "informational",
    pass: null,
  });
  return {
    figures: [
      latencyFigure("shell exec `true` in the sandbox", samples.shell.bwrap, samples.shell.none),
      latencyFigure("python `x += 1` in the sandbox", samples.python.bwrap, samples.python.none),
      startFigure("shell session start, sandboxed", samples.shellStart.bwrap, samples.shellStart.none),
      startFigure("python session start, sandboxed", samples.pythonStart.bwrap, samples.pythonStart.none),
      {
        name: "memory of an idle sandboxed shell (its cgroup: bwrap, init, bash)",
        measured: fmtMB(memory.bwrap),
        peer: `unsandboxed bash ${fmtMB(memory.none)}`,
        ratio: fmtRatio(memory.bwrap / memory.none),
        target: "informational",
        pass: null,
      },
    ],
  };
}

function print(result: SandboxBenchResult): void {
  if (result.skipped) {
    console.log(`sandbox bench skipped: ${result.skipped}`);
    return;
  }
  printFigures(result.figures);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const result = await benchSandbox({ quick: process.argv.includes("--quick") });
  if (process.argv.includes("--json")) console.log(JSON.stringify(result, null, 2));
  else print(result);
}
