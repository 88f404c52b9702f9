/**
 * Issue 8's speed figures: a CLI command is a whole Node process, so each figure is the median
 * wall time of a fresh `node <cli> …` process, beside `node -e 0` (the floor every command pays)
 * and beside seed 001's naive design (a command that reads and parses every session file) over
 * as many sessions, all measured in the same run, interleaved round by round so machine noise
 * hits every peer alike.
 *
 *   npx tsx bench/cli.ts [--quick] [--runs=N] [--sessions=N]
 *
 * The CLI measured is the `sessiond` bin, dist/cli/sessiond.cjs (rebuilt with `npm run build` when
 * src is newer); when the build fails (someone else's work in progress), the same build made by
 * the CLI tests' buildCli(), and the report says so.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { SocketTransport } from "../src/cli/socket-transport.js";
import { SessionsClient } from "../src/sdk/client/sessions-client.js";
import type { Transport } from "../src/sdk/client/transport.js";
import { buildCli } from "../test/cli/build-cli.js";
import { type Figure, cleanupTemp, fmtMs, fmtRatio, log, median, printFigures, table, tempDir } from "./lib.js";

const ROOT = fileURLToPath(new URL("../", import.meta.url));

function arg(name: string, fallback: number): number {
  const found = process.argv.find((a) => a.startsWith(`--${name}=`));
  return found ? Number(found.split("=")[1]) : fallback;
}

/** The newest mtime under a folder. */
function newest(dir: string): number {
  let max = 0;
  for (const f of readdirSync(dir, { recursive: true }) as string[]) max = Math.max(max, statSync(join(dir, f)).mtimeMs);
  return max;
}

/** dist/cli/sessiond.cjs, fresh; or the CLI tests' build of the sources when `npm run build` cannot run. */
async function cliEntry(): Promise<{ main: string; how: string; remove?: () => void }> {
  const dist = join(ROOT, "dist", "cli", "sessiond.cjs");
  const fresh = () => existsSync(dist) && statSync(dist).mtimeMs >= newest(join(ROOT, "src"));
  if (!fresh()) {
    log("dist is older than src: npm run build");
    try {
      execFileSync("npm", ["run", "build"], { cwd: ROOT, stdio: "ignore" });
    } catch {
      // tsc still emits what compiles; freshness decides below.
    }
  }
  if (fresh()) return { main: dist, how: "dist/cli/sessiond.cjs" };
  const built = await buildCli();
  return { main: built.main, how: "the CLI tests' build of the sources (npm run build failed on other work in progress)", remove: built.remove };
}

/** Seed 001's naive `list`: read and parse every session file, sort, print the newest 20. */
const NAIVE_LIST = `
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
const dir = process.argv[2];
const sessions = readdirSync(dir).map((id) => JSON.parse(readFileSync(join(dir, id, "session.json"), "utf8")));
sessions.sort((a, b) => (a.createdAt < b.createdAt ? 1 : -1));
for (const s of sessions.slice(0, 20)) process.stdout.write(s.id + "  " + s.status + "  " + s.iterations + "  " + s.createdAt + "  " + s.task + "\\n");
`;

/** A seed 004-sized session.json (2-10 KB per the seed): a task, context and a dozen history events. */
function sessionFile(i: number): string {
  const created = new Date(Date.UTC(2026, 0, 1) + i * 1000).toISOString();
  const history = Array.from({ length: 12 }, (_, k) => ({ timestamp: created, type: k === 0 ? "start" : "iteration", data: { step: k, note: "x".repeat(120) } }));
  return JSON.stringify({ id: `session_${i}`, mode: "developer", task: `task ${i}`, status: "active", createdAt: created, updatedAt: created, iterations: 11, maxIterations: 50, context: { i, tags: ["a", "b"] }, history, metadata: { model: "m" } }, null, 2);
}

async function populate(socketPath: string, count: number): Promise<void> {
  const transport = new SocketTransport(socketPath);
  const client = new SessionsClient(transport as unknown as Transport);
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const i = next++;
      await client.createSession({ task: `task ${i}`, mode: "developer", context: { i } });
    }
  };
  await Promise.all(Array.from({ length: 16 }, worker));
  await transport.close();
}

/** Wall time of one process run, in ms; throws when it fails. */
function timeRun(argv: readonly string[], env: NodeJS.ProcessEnv): number {
  const start = process.hrtime.bigint();
  const r = spawnSync(process.execPath, argv, { env, stdio: ["ignore", "pipe", "pipe"] });
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  if (r.status !== 0) throw new Error(`node ${argv.join(" ")} exited ${r.status}: ${r.stderr.toString()}`);
  return ms;
}

export async function benchCli(options: { quick: boolean; runs: number; sessions: number }) {
  const cli = await cliEntry();
  log(`CLI: ${cli.how}`);
  const home = tempDir("cli-home");
  const files = tempDir("cli-naive");
  const env = { ...process.env, SESSIOND_HOME: home, SESSIOND_PORT: "0", ENABLE_SESSIONS: "true", SESSIOND_RATE_LIMIT_MAX: "0", NO_COLOR: "1" };
  try {
    execFileSync(process.execPath, [cli.main, "server", "start"], { env, stdio: "ignore" });
    log(`populating ${options.sessions} sessions through the server and as ${options.sessions} session.json files`);
    await populate(join(home, "sessiond.sock"), options.sessions);
    for (let i = 0; i < options.sessions; i++) {
      mkdirSync(join(files, `session_${i}`));
      writeFileSync(join(files, `session_${i}`, "session.json"), sessionFile(i));
    }
    const naive = join(files, "..", `naive-list-${process.pid}.mjs`);
    writeFileSync(naive, NAIVE_LIST);
    const agent = JSON.parse(execFileSync(process.execPath, [cli.main, "start", "--name", "bench-agent", "--json"], { env }).toString()) as { id: string };
    execFileSync(process.execPath, [cli.main, "start", "--kind", "shell", "--name", "bench-shell"], { env, stdio: "ignore" });

    const commands: Record<string, string[]> = {
      "node -e 0": ["-e", "0"],
      "sessiond list --limit 20": [cli.main, "list", "--limit", "20"],
      "sessiond show": [cli.main, "show", agent.id],
      "sessiond exec true": [cli.main, "exec", "bench-shell", "true"],
      "sessiond checkpoint create": [cli.main, "checkpoint", "create", agent.id],
      "naive list (parse every file)": [naive, files],
    };
    const samples: Record<string, number[]> = Object.fromEntries(Object.keys(commands).map((k) => [k, []]));
    for (const argv of Object.values(commands)) timeRun(argv, env); // warm the page cache for every peer
    for (let round = 0; round < options.runs; round++) {
      for (const [name, argv] of Object.entries(commands)) samples[name]!.push(timeRun(argv, env));
    }
    const med = Object.fromEntries(Object.entries(samples).map(([k, v]) => [k, median(v)]));
    const floor = med["node -e 0"]!;
    const figures: Figure[] = [];
    for (const name of ["sessiond list --limit 20", "sessiond show", "sessiond exec true", "sessiond checkpoint create"]) {
      const ratio = med[name]! / floor;
      figures.push({ name: `${name}, median wall`, measured: fmtMs(med[name]!), peer: `node -e 0 ${fmtMs(floor)}`, ratio: fmtRatio(ratio), target: "≤ 1.5× node -e 0", pass: ratio <= 1.5 });
    }
    const naiveMs = med["naive list (parse every file)"]!;
    const speedup = naiveMs / med["sessiond list --limit 20"]!;
    figures.push({
      name: `sessiond list --limit 20 vs reading and parsing ${options.sessions} session files`,
      measured: fmtMs(med["sessiond list --limit 20"]!),
      peer: `naive ${fmtMs(naiveMs)}`,
      ratio: `${fmtRatio(speedup)} faster`,
      target: "≥ 10× faster",
      pass: speedup >= 10,
    });
    return { cli: cli.how, sessions: options.sessions, runs: options.runs, medians: med, figures };
  } finally {
    try {
      execFileSync(process.execPath, [cli.main, "server", "stop", "--force"], { env, stdio: "ignore" });
    } finally {
      cli.remove?.();
      cleanupTemp();
    }
  }
}

if (import.meta.url === `file://${process.argv[1]}` || process.argv[1]?.endsWith("bench/cli.ts")) {
  const quick = process.argv.includes("--quick");
  const result = await benchCli({ quick, runs: arg("runs", quick ? 7 : 21), sessions: arg("sessions", quick ? 1000 : 10_000) });
  console.log(`sessiond CLI: ${result.sessions} sessions on the server, median of ${result.runs} runs per command, interleaved (CLI: ${result.cli})\n`);
  console.log(table(["command", "median wall"], Object.entries(result.medians).map(([k, v]) => [k, fmtMs(v)])));
  console.log("");
  printFigures(result.figures);
}
