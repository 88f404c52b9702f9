/**
 * Issue 5's HTTP figures for live shell sessions, measured from a second process against a
 * sessiond server in a child (live sessions on), each beside a bare Fastify hello-world measured
 * in the same run:
 *
 * 1. a warm shell exec of `true` over HTTP (POST /sessions/{id}/exec, one keep-alive connection,
 *    sequential), p50 ≤ 2 ms — beside a sequential hello-world GET on the same kind of connection;
 * 2. with 100 live shell sessions open, GET /sessions/{id} under load, p99 ≤ 20 ms;
 * 3. while one session runs `yes` at full speed (its output capped), the same GET, p99 ≤ 50 ms.
 *
 *   npx tsx bench/exec-http.ts [--execs=1000] [--duration=5] [--connections=50] [--shells=100]
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Client } from "undici";
import { fmtMs, quantile, table } from "./lib.js";
import { helloServer, measureLoad, parseArgs, reportReady, startServer, stopServer } from "./servers.js";

const SELF = fileURLToPath(import.meta.url);
const args = parseArgs();

/** Child side: sessiond with live sessions on, a rate limit out of the load generator's way. */
async function sessiondServer(home: string): Promise<void> {
  const [{ resolveConfig, dataPaths }, { SessionManager }, { buildApp }, { openStore }] = await Promise.all([
    import("../src/core/index.js"),
    import("../src/engine/index.js"),
    import("../src/server/index.js"),
    import("../src/store/index.js"),
  ]);
  const config = resolveConfig({ env: { HOME: home }, flags: { home, logLevel: "warn", rateLimitMax: 100_000_000, enableSessions: true } });
  const manager = new SessionManager({ store: await openStore(config), config });
  const app = await buildApp({ config, manager });
  await app.listen({ host: "127.0.0.1", port: 0 });
  reportReady({ port: (app.server.address() as { port: number }).port, token: readFileSync(dataPaths(config).token, "utf8").trim() });
  process.once("SIGTERM", () => {
    void app.close().then(() => manager.close()).then(() => process.exit(0));
  });
}

/** p50 and p99 (ms) of `n` sequential calls after `n / 10` warm-up calls. */
async function sequential(n: number, call: () => Promise<void>): Promise<{ p50: number; p99: number }> {
  for (let i = 0; i < Math.max(10, n / 10); i++) await call();
  const samples: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = process.hrtime.bigint();
    await call();
    samples.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  samples.sort((a, b) => a - b);
  return { p50: quantile(samples, 0.5), p99: quantile(samples, 0.99) };
}

async function main(): Promise<void> {
  const execs = Number(args.execs ?? 1000);
  const duration = Number(args.duration ?? 5);
  const connections = Number(args.connections ?? 50);
  const shells = Number(args.shells ?? 100);
  console.log(`bench/exec-http: ${execs} sequential execs, ${shells} live shells, ${connections} connections × ${duration} s; load ${loadavg().map((l) => l.toFixed(2)).join(" ")}`);

  const home = mkdtempSync(join(tmpdir(), "sessiond-bench-exec-http-"));
  const hello = await startServer(SELF, "hello");
  const sessiond = await startServer(SELF, "sessiond", [`--home=${home}`]);
  const { port, token } = sessiond.info as { port: number; token: string };
  const origin = `http://127.0.0.1:${port}`;
  const helloOrigin = `http://127.0.0.1:${hello.info.port as number}`;
  const auth = { authorization: `Bearer ${token}` };
  const api = new Client(origin, { pipelining: 1 });
  const helloClient = new Client(helloOrigin, { pipelining: 1 });
  const post = async (path: string, body: unknown): Promise<Record<string, unknown>> => {
    const res = await api.request({ method: "POST", path, headers: { ...auth, "content-type": "application/json" }, body: JSON.stringify(body) });
    const json = (await res.body.json()) as Record<string, unknown>;
    if (res.statusCode >= 300) throw new Error(`POST ${path}: ${res.statusCode} ${JSON.stringify(json)}`);
    return json;
  };
  const rows: string[][] = [];
  try {
    // 1. exec `true` over HTTP, interleaved in halves with the hello-world round trip.
    const shell = await post("/sessions", { kind: "shell", name: "bench-exec" });
    const execTrue = async () => void (await post(`/sessions/${shell.id as string}/exec`, { input: "true" }));
    const helloGet = async () => {
      const res = await helloClient.request({ method: "GET", path: "/" });
      await res.body.dump();
    };
    const h1 = await sequential(execs / 2, helloGet);
    const e1 = await sequential(execs / 2, execTrue);
    const h2 = await sequential(execs / 2, helloGet);
    const e2 = await sequential(execs / 2, execTrue);
    const execP50 = (e1.p50 + e2.p50) / 2;
    const helloP50 = (h1.p50 + h2.p50) / 2;
    rows.push(["exec `true` over HTTP, p50", fmtMs(execP50), `hello-world GET p50 ${fmtMs(helloP50)}`, `${(execP50 / helloP50).toFixed(1)}×`, "≤ 2 ms", execP50 <= 2 ? "yes" : "NO"]);

    // 2. GET under load with `shells` live shells (the exec session above is one of them).
    const ids: string[] = [shell.id as string];
    for (let i = 1; i < shells; i++) ids.push((await post("/sessions", { kind: "shell", name: `bench-shell-${i}` })).id as string);
    const getOne = { url: `${origin}/sessions/${ids[ids.length - 1]}`, connections, duration, headers: auth };
    const helloLoad = { url: `${helloOrigin}/`, connections, duration };
    const helloBefore = await measureLoad("hello-world", helloLoad);
    const withShells = await measureLoad("GET with shells", getOne);
    rows.push([
      `GET /sessions/{id}, ${shells} live shells, p99`,
      `${withShells.p99} ms (${Math.round(withShells.rps)} req/s)`,
      `hello-world p99 ${helloBefore.p99} ms (${Math.round(helloBefore.rps)} req/s)`,
      `${((withShells.rps / helloBefore.rps) * 100).toFixed(0)}% of its req/s`,
      "p99 ≤ 20 ms",
      withShells.p99 <= 20 && withShells.bad === 0 ? "yes" : "NO",
    ]);

    // 3. The same GET while one shell floods its PTY with `yes` (capped output, read and dropped).
    const floodClient = new Client(origin);
    const flood = floodClient
      .request({ method: "POST", path: `/sessions/${ids[1]}/exec`, headers: { ...auth, "content-type": "application/json" }, body: JSON.stringify({ input: "yes", timeout_ms: (duration * 2 + 10) * 1000 }) })
      .then(async (res) => (await res.body.json()) as Record<string, unknown>);
    const duringFlood = await measureLoad("GET during yes", getOne);
    await post(`/sessions/${ids[1]}/interrupt`, {});
    const floodResult = await flood;
    await floodClient.close();
    const helloAfter = await measureLoad("hello-world", helloLoad, 1);
    rows.push([
      "GET /sessions/{id} while `yes` floods a shell, p99",
      `${duringFlood.p99} ms (${Math.round(duringFlood.rps)} req/s)`,
      `hello-world p99 ${helloAfter.p99} ms (${Math.round(helloAfter.rps)} req/s)`,
      `${((duringFlood.rps / helloAfter.rps) * 100).toFixed(0)}% of its req/s`,
      "p99 ≤ 50 ms",
      duringFlood.p99 <= 50 && duringFlood.bad === 0 ? "yes" : "NO",
    ]);
    console.log(`the flood ended ${String(floodResult.status)}, truncated=${String(floodResult.truncated)}, ${String((floodResult.stdout as string | undefined)?.length ?? 0)} chars kept`);
    console.log(`\n${table(["figure", "measured", "same-run peer", "ratio", "target", "met"], rows)}`);
  } finally {
    await api.close();
    await helloClient.close();
    await stopServer(sessiond);
    await stopServer(hello);
    rmSync(home, { recursive: true, force: true });
  }
}

if (args.mode === "hello") await helloServer();
else if (args.mode === "sessiond") await sessiondServer(args.home!);
else await main();
