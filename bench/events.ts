/**
 * Issue 9's Redis figure: write throughput with the Redis publisher on must be ≥ 80% of the same
 * with it off, measured in the same run.
 *
 * Two figures, each as a ratio of "Redis on" to "Redis off", alternating on/off runs over several
 * rounds and reporting the medians:
 *
 * 1. HTTP: `POST /sessions/{id}/events` (answered once committed) from a second process
 *    (autocannon, 50 connections), against two servers in child processes built as `sessiond
 *    serve` builds them (event sinks started), one with `redisUrl` set and one without.
 * 2. Engine: `appendEvent` in-process, 1000 writes in flight over 100 sessions, in one process
 *    whose rounds alternate without and with a Redis publisher on its bus — the publisher's cost
 *    with nothing else in the way (wall-time rates, and CPU time per append as a steadier peer).
 *
 * A real subscriber counts what reaches Redis, so the "on" runs are checked to have published
 * every change (dropped must be 0). Messages go to a bench-only channel, not `events:session`.
 *
 *   npx tsx bench/events.ts [--rounds=3] [--duration=5] [--connections=50] [--appends=20000] [--redis-url=redis://127.0.0.1:6379] [--engine-only] [--no-subscriber] [--quick]
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Redis } from "ioredis";
import { fmtRate, fmtRatio, log, median, table } from "./lib.js";
import { measureLoad, parseArgs, reportReady, startServer, stopServer } from "./servers.js";

const SELF = fileURLToPath(import.meta.url);
const args = parseArgs();
const quick = "quick" in args;
const REDIS_URL = args["redis-url"] ?? process.env.SESSIOND_REDIS_URL ?? "redis://127.0.0.1:6379";
/** Not `events:session`: other consumers of the machine's Redis should not get the bench's flood. */
const CHANNEL = args.channel ?? `bench:events:${process.pid}`;
const TARGET_SESSIONS = 100;

/** The engine, store, event sinks and (optionally) HTTP app, as `sessiond serve` assembles them. */
async function assemble(home: string, redis: boolean) {
  const [{ resolveConfig }, { SessionManager }, { ServerMetrics }, { openStore }, { startEventSinks }] = await Promise.all([
    import("../src/core/index.js"),
    import("../src/engine/index.js"),
    import("../src/server/index.js"),
    import("../src/store/index.js"),
    import("../src/events/index.js"),
  ]);
  // Shipped defaults, except warnings-only logs and a rate limit a load generator does not hit.
  const config = resolveConfig({
    env: { HOME: home },
    flags: { home, logLevel: "warn", rateLimitMax: 100_000_000, redisChannel: CHANNEL, ...(redis ? { redisUrl: REDIS_URL } : {}) },
  });
  const metrics = new ServerMetrics();
  const store = await openStore(config);
  const manager = new SessionManager({ store, config, observeCommit: metrics.observeCommit });
  const sinks = await startEventSinks({ config, manager, store, registry: metrics.registry });
  const ids: string[] = [];
  for (let i = 0; i < TARGET_SESSIONS; i++) ids.push((await manager.create({ agent_id: `agent-${i % 10}`, type: "task" })).id);
  if (sinks.redis) {
    const deadline = Date.now() + 10_000;
    while (!sinks.redis.stats().connected) {
      if (Date.now() > deadline) throw new Error(`could not connect to Redis at ${REDIS_URL}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }
  return { config, metrics, store, manager, sinks, ids };
}

// ---- child mode: a server under test ----------------------------------------------------------

async function serverChild(redis: boolean): Promise<void> {
  const home = mkdtempSync(join(tmpdir(), "sessiond-bench-events-"));
  const { dataPaths } = await import("../src/core/index.js");
  const { buildApp } = await import("../src/server/index.js");
  const { config, metrics, store, manager, sinks, ids } = await assemble(home, redis);
  const app = await buildApp({ config, manager, store, metrics });
  await app.listen({ host: "127.0.0.1", port: 0 });
  reportReady({ port: (app.server.address() as { port: number }).port, token: readFileSync(dataPaths(config).token, "utf8").trim(), id: ids[0] });
  process.once("SIGTERM", () => {
    void (async () => {
      await app.close();
      await sinks.close();
      await manager.close();
      rmSync(home, { recursive: true, force: true });
      process.exit(0);
    })();
  });
}

/** CPU time (user + system) a process has used so far, in ms, from /proc (Linux; clock ticks of 10 ms). */
function processCpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

/** The on-server's publisher counters, from its /metrics. */
async function redisCounts(port: number, token: string): Promise<{ published: number; dropped: number }> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`, { headers: { authorization: `Bearer ${token}` } })).text();
  const sum = (name: string) => [...text.matchAll(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\d+)$`, "gm"))].reduce((n, m) => n + Number(m[1]), 0);
  return { published: sum("sessiond_redis_messages_published_total"), dropped: sum("sessiond_redis_messages_dropped_total") };
}

// ---- engine figure: in-process appends --------------------------------------------------------

interface EngineResult {
  /** Appends per second of wall time, per round. */
  offRates: number[];
  onRates: number[];
  /** CPU time of the process per append (µs), per round: steadier than wall time on a busy machine. */
  offCpuUs: number[];
  onCpuUs: number[];
  published: number;
  dropped: number;
}

/**
 * Child mode: one engine (with the webhook sink, as served), measured in rounds that alternate
 * without and with a Redis publisher attached to its bus — the same process, heap and store
 * for both, so the difference is the publisher's.
 */
async function engineChild(appends: number, rounds: number): Promise<void> {
  const home = mkdtempSync(join(tmpdir(), "sessiond-bench-events-engine-"));
  const { config, manager, sinks, ids } = await assemble(home, false);
  const { RedisPublisher } = await import("../src/events/redis/index.js");
  const result: EngineResult = { offRates: [], onRates: [], offCpuUs: [], onCpuUs: [], published: 0, dropped: 0 };
  const inFlight = 1000;
  let written = 0;
  const run = async () => {
    const cpu = process.cpuUsage();
    const start = process.hrtime.bigint();
    for (let done = 0; done < appends; done += inFlight) {
      const n = Math.min(inFlight, appends - done);
      await Promise.all(Array.from({ length: n }, () => manager.appendEvent(ids[written++ % ids.length]!, "bench", { n: written })));
    }
    const seconds = Number(process.hrtime.bigint() - start) / 1e9;
    const used = process.cpuUsage(cpu);
    return { rate: appends / seconds, cpuUs: (used.user + used.system) / appends };
  };
  await run(); // warm-up: JIT, page cache
  for (let round = 0; round < 2 * rounds; round++) {
    const on = round % 4 === 1 || round % 4 === 2; // off on on off …: each side goes first as often
    const publisher = on
      ? await RedisPublisher.start(manager.bus, { url: REDIS_URL, channel: CHANNEL, maxQueuedMessages: config.redisMaxQueuedMessages, commandTimeoutMs: config.redisCommandTimeoutMs })
      : undefined;
    while (publisher && !publisher.stats().connected) await new Promise((r) => setTimeout(r, 10));
    const { rate, cpuUs } = await run();
    if (publisher) {
      await publisher.close();
      result.published += publisher.stats().published;
      result.dropped += publisher.stats().dropped;
    }
    (on ? result.onRates : result.offRates).push(rate);
    (on ? result.onCpuUs : result.offCpuUs).push(cpuUs);
  }
  await sinks.close();
  await manager.close();
  rmSync(home, { recursive: true, force: true });
  reportReady({ ...result });
  await new Promise<void>((resolve) => process.once("SIGTERM", () => resolve()));
}

// ---- parent -----------------------------------------------------------------------------------

/** Runs both, off first in even rounds and on first in odd ones, so drift and warm-up hit both alike. */
async function alternate<T>(round: number, off: () => Promise<T>, on: () => Promise<T>): Promise<{ off: T; on: T }> {
  if (round % 2 === 0) {
    const a = await off();
    return { off: a, on: await on() };
  }
  const b = await on();
  return { off: await off(), on: b };
}

async function main(): Promise<void> {
  const rounds = Number(args.rounds ?? (quick ? 1 : 3));
  const duration = Number(args.duration ?? (quick ? 2 : 5));
  const connections = Number(args.connections ?? 50);
  const appends = Number(args.appends ?? (quick ? 5000 : 20_000));
  console.log(`bench/events: Redis ${REDIS_URL}, ${rounds} rounds; HTTP ${connections} connections × ${duration} s; engine ${appends} appends; load ${loadavg().map((l) => l.toFixed(2)).join(" ")}`);

  // The subscriber runs in a process of its own: in this one it would slow the load generator
  // exactly when the publisher is on, and flatter "off".
  // `--no-subscriber` leaves it out, to see what Redis delivering to it costs the others on two cores.
  const subscriber = "no-subscriber" in args ? undefined : await startServer(SELF, "subscriber", [`--redis-url=${REDIS_URL}`, `--channel=${CHANNEL}`]);
  let subscriberOut = "";
  subscriber?.child.stdout!.on("data", (chunk: Buffer) => (subscriberOut += chunk.toString()));
  const received = async (): Promise<number> => {
    if (!subscriber) return 0;
    subscriber.child.kill("SIGUSR2");
    const before = subscriberOut.length;
    for (let i = 0; i < 200 && !subscriberOut.slice(before).includes("\n"); i++) await new Promise((r) => setTimeout(r, 10));
    return Number(/COUNT (\d+)\s*$/.exec(subscriberOut)?.[1] ?? 0);
  };

  const rows: string[][] = [];
  let onWrites = 0;
  try {
    // HTTP: both servers up for the whole run; runs alternate off/on so drift hits both alike.
    if (!("engine-only" in args)) {
      log("starting the two servers");
      const off = await startServer(SELF, "server", ["--publisher=off", `--redis-url=${REDIS_URL}`, `--channel=${CHANNEL}`]);
      const on = await startServer(SELF, "server", ["--publisher=on", `--redis-url=${REDIS_URL}`, `--channel=${CHANNEL}`]);
      const offRates: number[] = [];
      const onRates: number[] = [];
      const offCpu: number[] = [];
      const onCpu: number[] = [];
      try {
        const body = JSON.stringify({ type: "bench", data: { tool: "grep", args: { pattern: "TODO" } } });
        const post = (s: typeof off) => ({
          url: `http://127.0.0.1:${s.info.port}/sessions/${s.info.id}/events`,
          method: "POST",
          connections,
          duration,
          headers: { authorization: `Bearer ${s.info.token}`, "content-type": "application/json" },
          body,
        });
        // Both warmed up before anything counts; then each round swaps which goes first.
        await measureLoad("warm off", { ...post(off), duration: 2 }, 0);
        await measureLoad("warm on", { ...post(on), duration: 2 }, 0);
        // The server's own CPU per request: what the publisher costs it, apart from what Redis,
        // the subscriber and the load generator take from the same two cores.
        const measured = async (name: string, server: typeof off) => {
          const cpu = processCpuMs(server.child.pid!);
          const figure = await measureLoad(name, post(server), 0);
          return { ...figure, cpuUs: ((processCpuMs(server.child.pid!) - cpu) * 1000) / (figure.rps * duration) };
        };
        for (let round = 0; round < rounds; round++) {
          const { off: a, on: b } = await alternate(round, () => measured("redis off", off), () => measured("redis on", on));
          if (a.bad || b.bad) throw new Error(`bad answers: off ${a.bad}, on ${b.bad}`);
          offRates.push(a.rps);
          onRates.push(b.rps);
          offCpu.push(a.cpuUs);
          onCpu.push(b.cpuUs);
          log(`HTTP round ${round + 1}: off ${fmtRate(a.rps)} (${a.cpuUs.toFixed(0)} µs CPU/req), on ${fmtRate(b.rps)} (${b.cpuUs.toFixed(0)} µs CPU/req): ${fmtRatio(b.rps / a.rps)}`);
        }
        const counts = await redisCounts(on.info.port as number, on.info.token as string);
        onWrites = counts.published;
        rows.push([
          "POST /sessions/{id}/events (HTTP, 2nd process)",
          fmtRate(median(offRates), " req/s"),
          fmtRate(median(onRates), " req/s"),
          // Each round's pair ran back to back: the median of the paired ratios is steadier than a ratio of medians.
          `${fmtRatio(median(onRates.map((r, i) => r / offRates[i]!)))} (server CPU/req: ${fmtRatio(median(offCpu.map((c, i) => c / onCpu[i]!)))})`,
          `published ${counts.published}, dropped ${counts.dropped}`,
        ]);
      } finally {
        await stopServer(off);
        await stopServer(on);
      }
    }

    log("engine appends");
    const child = await startServer(SELF, "engine", [`--appends=${appends}`, `--rounds=${rounds}`, `--redis-url=${REDIS_URL}`, `--channel=${CHANNEL}`]);
    await stopServer(child);
    const engine = child.info as unknown as EngineResult;
    const enginePublished = engine.published;
    const cpuRatio = median(engine.offCpuUs.map((c, i) => c / engine.onCpuUs[i]!));
    log(`engine: off ${engine.offRates.map((r) => fmtRate(r)).join(" ")}, on ${engine.onRates.map((r) => fmtRate(r)).join(" ")}`);
    log(`engine CPU µs/append: off ${engine.offCpuUs.map((c) => c.toFixed(1)).join(" ")}, on ${engine.onCpuUs.map((c) => c.toFixed(1)).join(" ")}`);
    rows.push([
      "appendEvent, 1000 in flight (engine, in-process)",
      fmtRate(median(engine.offRates), " ev/s"),
      fmtRate(median(engine.onRates), " ev/s"),
      `${fmtRatio(median(engine.onRates.map((r, i) => r / engine.offRates[i]!)))} (CPU: ${fmtRatio(cpuRatio)})`,
      `published ${engine.published}, dropped ${engine.dropped}`,
    ]);
    // Let the subscriber catch up with what was published, then compare.
    const expected = onWrites + enginePublished;
    const deadline = Date.now() + 10_000;
    let got = await received();
    while (subscriber && got < expected && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
      got = await received();
    }
    console.log("");
    console.log(table(["write path", "Redis off (median)", "Redis on (median)", "on/off, median of paired rounds (target ≥ 0.80×)", "publisher"], rows));
    console.log(subscriber ? `subscriber (its own process) received ${got} of ${expected} published messages` : "no subscriber (--no-subscriber)");
  } finally {
    if (subscriber) await stopServer(subscriber);
  }
}

/**
 * Child mode: a real subscriber, as light as redis-cli: it speaks RESP on a plain socket and
 * counts the `message` frames without parsing them, so the CPU it takes from the two cores is
 * Redis's delivery, not a client library's. SIGUSR2 prints `COUNT n`.
 */
async function subscriberChild(): Promise<void> {
  const { connect } = await import("node:net");
  const url = new URL(REDIS_URL);
  const socket = connect(Number(url.port || 6379), url.hostname);
  await new Promise<void>((resolve, reject) => socket.once("connect", resolve).once("error", reject));
  const frame = Buffer.from("\r\n$7\r\nmessage\r\n");
  let count = 0;
  let tail: Buffer = Buffer.alloc(0);
  socket.on("data", (chunk: Buffer) => {
    // A frame may straddle two chunks: look across the seam too.
    const data = tail.length ? Buffer.concat([tail, chunk]) : chunk;
    for (let at = data.indexOf(frame); at !== -1; at = data.indexOf(frame, at + frame.length)) count++;
    tail = data.subarray(Math.max(0, data.length - frame.length + 1));
  });
  socket.write(`*2\r\n$9\r\nSUBSCRIBE\r\n$${Buffer.byteLength(CHANNEL)}\r\n${CHANNEL}\r\n`);
  await new Promise((r) => setTimeout(r, 50));
  process.on("SIGUSR2", () => process.stdout.write(`COUNT ${count}\n`));
  reportReady({});
  process.once("SIGTERM", () => {
    socket.destroy();
    process.exit(0);
  });
}

if (args.mode === "subscriber") {
  await subscriberChild();
} else if (args.mode === "server") {
  await serverChild(args.publisher === "on");
} else if (args.mode === "engine") {
  await engineChild(Number(args.appends), Number(args.rounds));
} else {
  await main();
}
