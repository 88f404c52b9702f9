/**
 * HTTP speed of issue 4, measured from a second process: each server runs in a child process,
 * and this process drives it with autocannon (50 connections). Every figure is read as a ratio
 * against a bare Fastify hello-world measured in the same run on the same machine: each figure
 * is measured between two hello-world runs and read against their mean, over several rounds,
 * and the medians are reported.
 *
 *   npx tsx bench/http.ts [--rounds=3] [--duration=5] [--sessions=100000] [--connections=50] [--flags='{"rateLimitMax":0}']
 *
 * Targets: GET /sessions/{id} ≥ 60% of hello-world req/s with p99 ≤ 5 ms; POST
 * /sessions/{id}/events (answered once committed, with the shipped sqliteSynchronous; pass
 * --flags='{"sqliteSynchronous":"full"}' for the power-loss-safe setting) ≥ 35%; GET
 * /sessions/?status=active&limit=50 over 100,000 sessions p99 ≤ 15 ms. A page of 50 sessions is
 * ~35 KB, so the list figure has a second peer: a bare Fastify answering with the same bytes,
 * which shows what moving that page through HTTP and the load generator costs on this machine.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { type CannonOptions, type LoadFigure as Figure, helloServer, measureLoad as measure, parseArgs, reportReady as report, startServer, staticServer, stopServer as stop } from "./servers.js";

const SELF = fileURLToPath(import.meta.url);
const args = parseArgs();

// ---- child modes: the servers under test --------------------------------------------------------

/** `--flags='{"key": value}'` overrides config keys of the sessiond server (for experiments). */
async function sessiondServer(home: string, sessions: number): Promise<void> {
  const [{ resolveConfig, dataPaths }, { SessionManager }, { buildApp, ServerMetrics }, { openStore }] = await Promise.all([
    import("../src/core/index.js"),
    import("../src/engine/index.js"),
    import("../src/server/index.js"),
    import("../src/store/index.js"),
  ]);
  // The shipped defaults (an event is answered once committed), except a rate limit high enough for a load
  // generator (the limiter still runs on every request) and warnings-only logs.
  const overrides = args.flags ? (JSON.parse(args.flags) as Record<string, unknown>) : {};
  const config = resolveConfig({ env: { HOME: home }, flags: { home, logLevel: "warn", rateLimitMax: 100_000_000, ...overrides } });
  const metrics = new ServerMetrics();
  const manager = new SessionManager({ store: await openStore(config), config, observeCommit: metrics.observeCommit });
  const started = Date.now();
  const statuses = ["active", "active", "paused", "completed"] as const;
  const batch = 2000;
  for (let i = 0; i < sessions; i += batch) {
    await Promise.all(
      Array.from({ length: Math.min(batch, sessions - i) }, async (_, j) => {
        const n = i + j;
        const s = await manager.create({ agent_id: `agent-${n % 100}`, type: "task", context: { n, task: "benchmark", files: ["a.ts", "b.ts"] } });
        const status = statuses[n % statuses.length]!;
        if (status === "paused") await manager.pause(s.id);
        else if (status === "completed") await manager.complete(s.id, { ok: true });
      }),
    );
  }
  const seededMs = Date.now() - started;
  const target = await manager.create({ name: "bench-target", agent_id: "bench", type: "task", context: { working_directory: "/project", current_task: "benchmark", files_open: ["a.ts"] } });
  const app = await buildApp({ config, manager, metrics });
  await app.listen({ host: "127.0.0.1", port: 0 });
  report({
    port: (app.server.address() as { port: number }).port,
    token: readFileSync(dataPaths(config).token, "utf8").trim(),
    id: target.id,
    seededMs,
  });
  process.once("SIGTERM", () => {
    void app.close().then(() => manager.close()).then(() => process.exit(0));
  });
}

async function main(): Promise<void> {
  const duration = Number(args.duration ?? 5);
  const rounds = Number(args.rounds ?? 3);
  const sessions = Number(args.sessions ?? 100_000);
  const connections = Number(args.connections ?? 50);
  const base = { connections, duration };
  console.log(
    `bench/http: ${connections} connections, ${rounds} rounds of ${duration} s per figure, ${sessions} sessions; load ${loadavg().map((l) => l.toFixed(2)).join(" ")}`,
  );

  const home = mkdtempSync(join(tmpdir(), "sessiond-bench-http-"));
  const hello = await startServer(SELF, "hello");
  const sessiond = await startServer(SELF, "sessiond", [`--home=${home}`, `--sessions=${sessions}`, ...(args.flags ? [`--flags=${args.flags}`] : [])]);
  let samePage: Awaited<ReturnType<typeof startServer>> | undefined;
  try {
    const { port, token, id, seededMs } = sessiond.info as { port: number; token: string; id: string; seededMs: number };
    console.log(`seeded ${sessions} sessions in ${(seededMs / 1000).toFixed(1)} s`);
    const headers = { authorization: `Bearer ${token}` };
    const url = `http://127.0.0.1:${port}`;
    const listPath = "/sessions/?status=active&limit=50";
    const page = Buffer.from(await (await fetch(`${url}${listPath}`, { headers })).arrayBuffer());
    writeFileSync(join(home, "page.json"), page);
    samePage = await startServer(SELF, "static", [`--file=${join(home, "page.json")}`]);
    console.log(`a page of the list is ${(page.length / 1024).toFixed(1)} KiB`);
    const runs: Record<string, CannonOptions> = {
      "hello-world": { ...base, url: `http://127.0.0.1:${hello.info.port}/` },
      "GET /sessions/{id}": { ...base, url: `${url}/sessions/${id}`, headers },
      "POST /sessions/{id}/events": {
        ...base,
        url: `${url}/sessions/${id}/events`,
        method: "POST",
        headers: { ...headers, "content-type": "application/json" },
        body: JSON.stringify({ type: "note", data: { tool: "grep", ms: 12 } }),
      },
      [LIST]: { ...base, url: `${url}${listPath}`, headers },
      [SAME_PAGE]: { ...base, url: `http://127.0.0.1:${samePage.info.port}${listPath}` },
    };
    // Both servers stay up, one idle while the other is loaded. Each sessiond figure is measured
    // between two hello-world runs and read against their mean, round after round, so that load
    // from elsewhere on the machine (which comes and goes) weighs on both sides of each ratio.
    const figures = new Map<string, { figure: Figure; ratio: number }[]>();
    const { "hello-world": helloRun, ...sessiondRuns } = runs;
    let before = await measure("hello-world", helloRun!, 2);
    for (let round = 1; round <= rounds; round++) {
      for (const [name, options] of Object.entries(sessiondRuns)) {
        const figure = await measure(name, options, round === 1 ? 2 : 1);
        const after = await measure("hello-world", helloRun!, 1);
        const ratio = figure.rps / ((before.rps + after.rps) / 2);
        if (!figures.has(name)) figures.set(name, []);
        figures.get(name)!.push({ figure, ratio });
        console.log(
          `  round ${round}: ${name}: ${Math.round(figure.rps)} req/s, p99 ${figure.p99} ms; hello-world ${Math.round(before.rps)} → ${Math.round(after.rps)} req/s; ratio ${(ratio * 100).toFixed(0)}%`,
        );
        if (!figures.has("hello-world")) figures.set("hello-world", []);
        figures.get("hello-world")!.push({ figure: after, ratio: 1 });
        before = after;
      }
    }
    printTable(figures);
  } finally {
    if (samePage) await stop(samePage);
    await stop(sessiond);
    await stop(hello);
    rmSync(home, { recursive: true, force: true });
  }
}

const LIST = "GET /sessions/?status=active&limit=50";
const SAME_PAGE = "  bare Fastify sending the same page";

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

function printTable(figures: Map<string, { figure: Figure; ratio: number }[]>): void {
  const targets: Record<string, { ratio?: number; p99?: number }> = {
    "GET /sessions/{id}": { ratio: 0.6, p99: 5 },
    "POST /sessions/{id}/events": { ratio: 0.35 },
    [LIST]: { p99: 15 },
  };
  console.log("\nmedians over the rounds (a ratio is against the hello-world runs just before and after):\n");
  console.log("| figure | req/s | vs hello-world | p50 ms | p99 ms | non-2xx/errors | target | met |");
  console.log("|---|---:|---:|---:|---:|---:|---|---|");
  for (const [name, runs] of [...figures].sort(([a], [b]) => (a === "hello-world" ? -1 : b === "hello-world" ? 1 : 0))) {
    const rps = median(runs.map((r) => r.figure.rps));
    const ratio = median(runs.map((r) => r.ratio));
    const p50 = median(runs.map((r) => r.figure.p50));
    const p99 = median(runs.map((r) => r.figure.p99));
    const bad = runs.reduce((sum, r) => sum + r.figure.bad, 0);
    const t = targets[name];
    const goals: string[] = [];
    let met = bad === 0;
    if (t?.ratio !== undefined) {
      goals.push(`≥ ${t.ratio * 100}%`);
      met &&= ratio >= t.ratio;
    }
    if (t?.p99 !== undefined) {
      goals.push(`p99 ≤ ${t.p99} ms`);
      met &&= p99 <= t.p99;
    }
    console.log(`| ${name} | ${Math.round(rps)} | ${(ratio * 100).toFixed(0)}% | ${p50} | ${p99} | ${bad} | ${goals.join(", ") || (name === "hello-world" ? "baseline" : "peer")} | ${t ? (met ? "yes" : "NO") : ""} |`);
  }
}

if (args.mode === "hello") await helloServer();
else if (args.mode === "static") await staticServer(args.file!);
else if (args.mode === "sessiond") await sessiondServer(args.home!, Number(args.sessions));
else await main();
