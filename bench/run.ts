/**
 * `npm run bench`: measures the speed figures of the foundation issue, each beside a floor or
 * peer measured in the same run (the machine is noisy, so a figure is read as a ratio), and
 * prints one table. Exits 0 when a target is missed (it reports); non-zero on an exception.
 *
 * Flags: `--quick` smaller sizes for a smoke run; `--only=appends,naive,get,rss,open,list,postgres`.
 */
import { execFileSync } from "node:child_process";
import { loadavg } from "node:os";
import { appendFigures } from "./figures/appends.js";
import { buildBigStore } from "./figures/big-store.js";
import { hotGetFigures } from "./figures/hot-get.js";
import { listFigures } from "./figures/list.js";
import { naiveFigures } from "./figures/naive.js";
import { openFigures } from "./figures/open.js";
import { postgresFigures } from "./figures/postgres.js";
import { rssBigStoreFigure, rssFigures } from "./figures/rss.js";
import { type Figure, cleanupTemp, log, sizes as sizesFor, table } from "./lib.js";

const ALL = ["appends", "naive", "get", "rss", "open", "list", "postgres"] as const;
type Part = (typeof ALL)[number];

function parseArgs(argv: readonly string[]): { quick: boolean; only: Set<Part> } {
  let quick = false;
  let only = new Set<Part>(ALL);
  for (const arg of argv) {
    if (arg === "--quick") quick = true;
    else if (arg.startsWith("--only=")) {
      const parts = arg.slice("--only=".length).split(",");
      const unknown = parts.filter((p) => !(ALL as readonly string[]).includes(p));
      if (unknown.length) throw new Error(`unknown --only part(s): ${unknown.join(", ")}; known: ${ALL.join(", ")}`);
      only = new Set(parts as Part[]);
    } else throw new Error(`unknown argument ${arg}; use --quick and/or --only=${ALL.join(",")}`);
  }
  return { quick, only };
}

/** The commit measured, marked dirty when src/ has uncommitted changes. */
function revision(): string {
  try {
    const head = execFileSync("git", ["rev-parse", "--short", "HEAD"], { encoding: "utf8" }).trim();
    const dirty = execFileSync("git", ["status", "--porcelain", "--", "src"], { encoding: "utf8" }).trim();
    return dirty ? `${head} + uncommitted changes in src/` : head;
  } catch {
    return "unknown revision";
  }
}

const load = () => loadavg().map((l) => l.toFixed(2)).join(" ");

async function main(): Promise<void> {
  const { quick, only } = parseArgs(process.argv.slice(2));
  const sizes = sizesFor(quick);
  const started = process.hrtime.bigint();
  const loadBefore = load();
  log(`sessiond bench${quick ? " (--quick)" : ""} at ${revision()}: node ${process.version}, parts ${[...only].join(", ")}, load ${loadBefore}`);

  let engineRate = { full: Number.NaN, normal: Number.NaN };
  const part: Partial<Record<Part | "rssBig", Figure[]>> = {};
  if (only.has("appends") || only.has("naive")) {
    const appends = await appendFigures(sizes);
    engineRate = appends.engineRate;
    if (only.has("appends")) part.appends = appends.figures;
  }
  if (only.has("naive")) part.naive = await naiveFigures(sizes, engineRate);
  if (only.has("get")) part.get = await hotGetFigures(sizes);
  if (only.has("rss")) part.rss = await rssFigures(sizes);
  if (only.has("open") || only.has("list") || only.has("rss")) {
    const big = buildBigStore(sizes.listSessions, sizes.listEventsPerSession);
    // Open first: the first open of a freshly built file is the one a restart would see.
    if (only.has("open")) part.open = await openFigures(sizes, big);
    if (only.has("list")) part.list = await listFigures(sizes, big);
    if (only.has("rss")) part.rssBig = await rssBigStoreFigure(sizes, big);
  }
  if (only.has("postgres")) part.postgres = await postgresFigures(sizes);
  const order = ["appends", "naive", "get", "rss", "rssBig", "open", "list", "postgres"] as const;
  const figures: Figure[] = order.flatMap((p) => part[p] ?? []);

  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  console.log(`\nsessiond bench${quick ? " --quick (smaller sizes: figures are not the issue's)" : ""} at ${revision()}, ${seconds.toFixed(0)} s`);
  console.log(`load average before ${loadBefore}, after ${load()} (2 cores: above ~1 means something else competed for the CPU)`);
  console.log(
    table(
      ["figure", "measured", "peer / floor (same run)", "ratio", "target", "result"],
      figures.map((f) => [
        f.name,
        f.measured,
        f.peer,
        f.ratio,
        f.target,
        `${f.pass === null ? "info" : f.pass ? "PASS" : "MISS"}${f.note ? ` (${f.note})` : ""}`,
      ]),
    ),
  );
  const missed = figures.filter((f) => f.pass === false).length;
  console.log(`\n${figures.filter((f) => f.pass).length} pass, ${missed} miss, ${figures.filter((f) => f.pass === null).length} info`);
}

// Ctrl-C still removes the temp data (children get the signal from the terminal too).
process.once("SIGINT", () => {
  cleanupTemp();
  process.exit(130);
});

try {
  await main();
} catch (err) {
  console.error(err);
  process.exitCode = 1;
} finally {
  cleanupTemp();
}
