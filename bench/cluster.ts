/**
 * Scale-out figures (DESIGN.md §7): three `sessiond serve` processes on one PostgreSQL schema,
 * with the shipped defaults (the 5 s lease included), measured from this process.
 *
 *   npx tsx bench/cluster.ts [--quick] [--rounds=3] [--duration=3] [--sessions=200] [--connections=50] [--hops=2000] [--failovers=3]
 *
 * `--hops=0` or `--failovers=0` leaves that part out; `--rounds=0` the throughput.
 * `--quick` (a smoke run, under a minute): one round of 1 s runs without warm-up over 60 sessions,
 * 300 hop calls, one failover.
 *
 * 1. GET /sessions/{id} and durable POST /sessions/{id}/events over many sessions (autocannon,
 *    each request to the next session in turn), sent (a) to one node directly, (b) through
 *    HAProxy to that one node, (c) through HAProxy to two nodes, (d) to three. Each read as a
 *    ratio to (a) measured in the same round; the rounds alternate their order (a→e, then e→a)
 *    so that load from elsewhere drifting during a round weighs on both sides; medians reported.
 *    The sessions of (a) and (b) are all the one node's; those of (c) and (d) are spread evenly
 *    over its nodes, so round robin lands (k−1)/k of the requests on a node that forwards them
 *    to the owner: one hop more. (e) sends every request to a node that owns none of them.
 * 2. The forwarding hop: GET of a session sent directly to its owner, and directly to a node that
 *    forwards it there, call by call in turn (one connection each), p50 and the difference.
 * 3. Failover: a client polls a session through HAProxy with the SDK (which sends a request that
 *    was refused without being applied again after a backoff), one GET every 20 ms; its owner
 *    gets SIGKILL; the time from the kill to the first 200 answered by another node, beside the
 *    lease (goal: lease + at most 1 s), over several rounds, each killing another node (restarted
 *    after).
 *
 * Needs PostgreSQL (test/helpers/services.ts) and haproxy; without them it says why and exits 0.
 */
import { loadavg } from "node:os";
import { Pool } from "undici";
import { resolveConfig } from "../src/core/index.js";
import { Transport } from "../src/sdk/client/index.js";
// The node name on every answer: the owner's on a forwarded one.
import { NODE_HEADER } from "../src/server/cluster/headers.js";
import { type Haproxy, haproxyMissing } from "../test/helpers/haproxy.js";
import { SERVICES, isReachable } from "../test/helpers/services.js";
import { type BenchCluster, type BenchNode, startBenchCluster } from "./cluster-nodes.js";
import { type Figure, fmtMs, fmtRatio, log, median, msSince, printFigures, quantile, table } from "./lib.js";
import { type CannonOptions, type CannonResult, autocannon, parseArgs } from "./servers.js";

const args = parseArgs();
const quick = "quick" in args;
const ROUNDS = Number(args.rounds ?? (quick ? 1 : 3));
const DURATION = Number(args.duration ?? (quick ? 1 : 3));
const SESSIONS = Number(args.sessions ?? (quick ? 60 : 200));
const CONNECTIONS = Number(args.connections ?? 50);
const HOPS = Number(args.hops ?? (quick ? 300 : 2000));
const FAILOVERS = Number(args.failovers ?? (quick ? 1 : 3));
/** Seconds of load before each measured run (none in a smoke run: its figures are not the issue's). */
const WARMUP = quick ? 0 : 1;
/** How often the failover client asks for its session. */
const POLL_MS = 20;
const NODES = 3;

const load = () => loadavg().map((l) => l.toFixed(2)).join(" ");

// ---- the load: one request after another, each to the next session ---------------------------------

interface Target {
  readonly label: string;
  readonly url: string;
  /** The sessions it is loaded with, in the order they are asked for. */
  readonly ids: readonly string[];
}

type Kind = "GET" | "POST";

interface Run {
  rps: number;
  p50: number;
  p99: number;
  bad: number;
}

type SpreadOptions = CannonOptions & {
  requests: { method: string; headers: Record<string, string>; body?: string; setupRequest: (request: Record<string, unknown>) => Record<string, unknown> }[];
};
const cannon = autocannon as unknown as (options: SpreadOptions) => Promise<CannonResult>;

async function loadRun(target: Target, kind: Kind, token: string, seconds: number): Promise<Run> {
  let next = 0;
  const suffix = kind === "POST" ? "/events" : "";
  const headers: Record<string, string> = { authorization: `Bearer ${token}`, ...(kind === "POST" ? { "content-type": "application/json" } : {}) };
  const r = await cannon({
    url: target.url,
    connections: CONNECTIONS,
    duration: seconds,
    requests: [
      {
        method: kind,
        headers,
        ...(kind === "POST" ? { body: JSON.stringify({ type: "note", data: { tool: "grep", ms: 12 } }) } : {}),
        setupRequest: (request) => ({ ...request, path: `/sessions/${target.ids[next++ % target.ids.length]}${suffix}` }),
      },
    ],
  });
  return { rps: r.requests.average, p50: r.latency.p50, p99: r.latency.p99, bad: r.errors + r.timeouts + r.non2xx };
}

async function throughput(targets: readonly Target[], token: string): Promise<string> {
  const runs = new Map<string, { run: Run; ratio: number }[]>();
  for (let round = 1; round <= ROUNDS; round++) {
    const order = round % 2 ? targets : [...targets].reverse();
    for (const kind of ["GET", "POST"] as const) {
      const measured = new Map<Target, Run>();
      for (const target of order) {
        if (WARMUP > 0) await loadRun(target, kind, token, WARMUP);
        measured.set(target, await loadRun(target, kind, token, DURATION));
      }
      const base = measured.get(targets[0]!)!;
      for (const target of targets) {
        const run = measured.get(target)!;
        const key = `${kind}|${target.label}`;
        runs.set(key, [...(runs.get(key) ?? []), { run, ratio: run.rps / base.rps }]);
        log(`round ${round} ${kind} ${target.label}: ${Math.round(run.rps)} req/s, p50 ${run.p50} ms, p99 ${run.p99} ms, ${run.bad} bad; ${fmtRatio(run.rps / base.rps)} of (a)`);
      }
    }
  }
  const rows = [...runs].map(([key, list]) => {
    const [kind, label] = key.split("|") as [Kind, string];
    const path = kind === "GET" ? "GET /sessions/{id}" : "POST /sessions/{id}/events";
    return [
      path,
      label,
      String(Math.round(median(list.map((r) => r.run.rps)))),
      label === targets[0]!.label ? "1 (peer)" : fmtRatio(median(list.map((r) => r.ratio))),
      String(median(list.map((r) => r.run.p50))),
      String(median(list.map((r) => r.run.p99))),
      String(list.reduce((n, r) => n + r.run.bad, 0)),
    ];
  });
  return table(["request", "sent to", "req/s", "vs (a)", "p50 ms", "p99 ms", "non-2xx/errors"], rows);
}

// ---- the forwarding hop ---------------------------------------------------------------------------

async function forwardingHop(owner: BenchNode, other: BenchNode, ids: readonly string[], token: string): Promise<Figure[]> {
  const pools = [new Pool(owner.url, { connections: 1 }), new Pool(other.url, { connections: 1 })];
  const samples: [number[], number[]] = [[], []];
  let notFromOwner = 0;
  const warmup = Math.ceil(HOPS / 10);
  try {
    for (let i = 0; i < HOPS + warmup; i++) {
      const id = ids[i % ids.length]!;
      for (const [k, pool] of pools.entries()) {
        const start = process.hrtime.bigint();
        const res = await pool.request({ method: "GET", path: `/sessions/${id}`, headers: { authorization: `Bearer ${token}` } });
        await res.body.arrayBuffer();
        const ms = msSince(start);
        if (res.statusCode !== 200) throw new Error(`GET /sessions/${id} at ${k ? other.name : owner.name} answered ${res.statusCode}`);
        if (res.headers[NODE_HEADER] !== owner.name) notFromOwner++;
        if (i >= warmup) samples[k]!.push(ms);
      }
    }
  } finally {
    await Promise.all(pools.map((p) => p.close()));
  }
  const [direct, forwarded] = samples.map((s) => [...s].sort((a, b) => a - b)) as [number[], number[]];
  const [p50Direct, p50Forwarded] = [quantile(direct, 0.5), quantile(forwarded, 0.5)];
  log(`hop: ${owner.name} directly p50 ${fmtMs(p50Direct)} p99 ${fmtMs(quantile(direct, 0.99))}; through ${other.name} p50 ${fmtMs(p50Forwarded)} p99 ${fmtMs(quantile(forwarded, 0.99))}; load ${load()}`);
  return [
    {
      name: `GET /sessions/{id} sent to a node that forwards it to the owner, p50 (${HOPS} calls each, in turn, one connection)`,
      measured: `${fmtMs(p50Forwarded)} (p99 ${fmtMs(quantile(forwarded, 0.99))})`,
      peer: `${fmtMs(p50Direct)} at the owner directly (p99 ${fmtMs(quantile(direct, 0.99))})`,
      ratio: fmtRatio(p50Forwarded / p50Direct),
      target: "info",
      pass: null,
      ...(notFromOwner ? { note: `${notFromOwner} answers did not name the owner in ${NODE_HEADER}` } : {}),
    },
    {
      name: "the forwarding hop's added p50",
      measured: fmtMs(p50Forwarded - p50Direct),
      peer: "target",
      ratio: "",
      target: "info",
      pass: null,
    },
  ];
}

// ---- failover -------------------------------------------------------------------------------------

interface Poll {
  readonly started: bigint;
  ended?: bigint;
  node?: string;
  error?: string;
  done?: Promise<void>;
}

interface Failover {
  readonly victim: string;
  /** Kill → first 200 from another node. */
  readonly firstMs: number;
  readonly by: string;
  /** Kill → the end of the first poll sent after the kill (what one SDK call waited). */
  readonly firstCallMs: number;
  readonly firstCallOutcome: string;
  /** The polls that ended after the kill in an error (the SDK gave up or did not retry), by error. */
  readonly failed: ReadonlyMap<string, number>;
}

async function failoverRound(cluster: BenchCluster, lb: Haproxy, victim: BenchNode, leaseTtlMs: number): Promise<Failover> {
  const id = (await createOn(victim, cluster.token, 1))[0]!;
  const transport = new Transport({ baseUrl: lb.url, token: cluster.token });
  const polls: Poll[] = [];
  let polling = true;
  const poller = (async () => {
    while (polling) {
      const poll: Poll = { started: process.hrtime.bigint() };
      poll.done = transport.request({ method: "GET", path: `/sessions/${id}` }).then(
        (reply) => {
          poll.ended = process.hrtime.bigint();
          poll.node = String(reply.headers[NODE_HEADER]);
        },
        (err: { code?: string; message?: string }) => {
          poll.ended = process.hrtime.bigint();
          poll.error = `${err.code ?? "?"}: ${(err.message ?? String(err)).replace(/\s+/g, " ").slice(0, 160)}`;
        },
      );
      polls.push(poll);
      await sleep(POLL_MS);
    }
  })();
  try {
    // The owner answers before it is killed.
    await until(() => polls.some((p) => p.node === victim.name), 10_000, "the owner to answer");
    const killedAt = process.hrtime.bigint();
    await cluster.kill(victim);
    const answeredElsewhere = () => polls.find((p) => p.ended !== undefined && p.ended > killedAt && p.node !== undefined && p.node !== victim.name);
    await until(answeredElsewhere, 4 * leaseTtlMs, "another node to answer");
    const firstAfter = () => polls.find((p) => p.started > killedAt);
    await until(() => firstAfter()?.ended, 4 * leaseTtlMs, "the first poll after the kill");
    const first = polls
      .filter((p) => p.ended !== undefined && p.ended > killedAt && p.node !== undefined && p.node !== victim.name)
      .reduce((a, b) => (b.ended! < a.ended! ? b : a));
    const call = firstAfter()!;
    const since = (t: bigint) => Number(t - killedAt) / 1e6;
    polling = false;
    await poller;
    await Promise.allSettled(polls.map((p) => p.done));
    const failed = new Map<string, number>();
    for (const p of polls) if (p.error !== undefined && p.ended! > killedAt) failed.set(p.error, (failed.get(p.error) ?? 0) + 1);
    return {
      victim: victim.name,
      firstMs: since(first.ended!),
      by: first.node!,
      firstCallMs: since(call.ended!),
      firstCallOutcome: call.node ? `200 from ${call.node}` : call.error!,
      failed,
    };
  } finally {
    polling = false;
    await poller;
    await Promise.allSettled(polls.map((p) => p.done));
    await transport.close();
  }
}

async function failover(cluster: BenchCluster, lb: Haproxy, leaseTtlMs: number): Promise<Figure[]> {
  const rounds: Failover[] = [];
  for (let round = 0; round < FAILOVERS; round++) {
    // Another node each round: n3, n2, n1, …
    const victim = cluster.nodes[(NODES - 1 - (round % NODES)) % NODES]!;
    const result = await failoverRound(cluster, lb, victim, leaseTtlMs);
    rounds.push(result);
    log(
      `failover ${round + 1}: ${result.victim} killed; first 200 from ${result.by} after ${result.firstMs.toFixed(0)} ms; the first SDK call after the kill ended after ${result.firstCallMs.toFixed(0)} ms (${result.firstCallOutcome}); load ${load()}`,
    );
    for (const [error, count] of result.failed) log(`  ${count} poll(s) ended after the kill in ${error}`);
    if (round < FAILOVERS - 1) await cluster.restart(victim);
  }
  const goal = leaseTtlMs + 1000;
  const worst = Math.max(...rounds.map((r) => r.firstMs));
  const each = rounds.map((r) => `${r.firstMs.toFixed(0)}`).join(", ");
  return [
    {
      name: `kill -9 of a session's owner → first 200 for it from another node, through HAProxy, GET every ${POLL_MS} ms (SDK), ${rounds.length} rounds: median (each)`,
      measured: `${median(rounds.map((r) => r.firstMs)).toFixed(0)} ms (${each} ms)`,
      peer: `lease TTL ${leaseTtlMs} ms (default)`,
      ratio: fmtRatio(median(rounds.map((r) => r.firstMs)) / leaseTtlMs),
      target: `≤ lease + 1000 ms = ${goal} ms in every round`,
      pass: worst <= goal,
    },
    {
      name: "the SDK call sent first after the kill: ended after (each round)",
      measured: rounds.map((r) => `${r.firstCallMs.toFixed(0)} ms (${r.firstCallOutcome})`).join(", "),
      peer: "target",
      ratio: "",
      target: "info",
      pass: null,
    },
    {
      name: "SDK calls that ended after the kill in an error (each round)",
      measured: rounds.map((r) => String([...r.failed.values()].reduce((n, c) => n + c, 0))).join(", "),
      peer: "target",
      ratio: "",
      target: "info",
      pass: null,
    },
  ];
}

// ---- helpers ----------------------------------------------------------------------------------------

/** Creates `count` sessions through `node` itself, so that it owns them. */
async function createOn(node: BenchNode, token: string, count: number): Promise<string[]> {
  const ids: string[] = [];
  const batch = 20;
  for (let i = 0; i < count; i += batch) {
    const made = await Promise.all(
      Array.from({ length: Math.min(batch, count - i) }, async (_, j) => {
        const res = await fetch(`${node.url}/sessions/`, {
          method: "POST",
          headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
          body: JSON.stringify({ agent_id: `bench-${node.name}`, type: "task", context: { n: i + j, task: "benchmark", files: ["a.ts", "b.ts"] } }),
        });
        const body = (await res.json()) as { id?: string };
        if (res.status !== 201 || !body.id) throw new Error(`POST /sessions/ at ${node.name} answered ${res.status}: ${JSON.stringify(body)}`);
        return body.id;
      }),
    );
    ids.push(...made);
  }
  return ids;
}

/** `count` sessions spread evenly over `nodes` (each created on, so owned by, its node), interleaved. */
async function spreadOver(nodes: readonly BenchNode[], token: string, count: number): Promise<string[]> {
  const perNode = await Promise.all(nodes.map((node, k) => createOn(node, token, Math.floor(count / nodes.length) + (k < count % nodes.length ? 1 : 0))));
  return Array.from({ length: count }, (_, i) => perNode[i % nodes.length]![Math.floor(i / nodes.length)]!);
}

/** Checks through `via` that each session answers 200 and is owned where it was created. */
async function checkOwners(via: BenchNode, token: string, expected: ReadonlyMap<string, string>): Promise<void> {
  for (const [id, owner] of expected) {
    const res = await fetch(`${via.url}/sessions/${id}`, { headers: { authorization: `Bearer ${token}` } });
    await res.arrayBuffer();
    const answeredBy = res.headers.get(NODE_HEADER);
    if (res.status !== 200 || answeredBy !== owner) {
      throw new Error(`GET /sessions/${id} at ${via.name} answered ${res.status} from ${answeredBy}, expected 200 from its owner ${owner} (is forwarding in?)`);
    }
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function until<T>(predicate: () => T, timeoutMs: number, what: string): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = predicate();
    if (value) return value as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`gave up waiting ${timeoutMs} ms for ${what}`);
    await sleep(5);
  }
}

// ---- main -----------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const { host, port } = SERVICES.postgres;
  if (!(await isReachable(port, host))) {
    console.log(`bench/cluster: skipped, nothing answers on ${host}:${port} (PostgreSQL)`);
    return;
  }
  const missing = haproxyMissing();
  if (missing !== undefined) {
    console.log(`bench/cluster: skipped, ${missing}`);
    return;
  }
  const { leaseTtlMs, leaseRenewMs } = resolveConfig({ env: {}, flags: {} });
  console.log(
    `bench/cluster${quick ? " --quick" : ""}: ${NODES} nodes on PostgreSQL (lease ${leaseTtlMs} ms, renewed every ${leaseRenewMs} ms: the defaults); ` +
      `${CONNECTIONS} connections over ${SESSIONS} sessions, ${ROUNDS} round(s) of ${DURATION} s per figure; load ${load()}`,
  );
  const started = process.hrtime.bigint();
  const cluster = await startBenchCluster(NODES);
  try {
    const [n1, n2, n3] = cluster.nodes as [BenchNode, BenchNode, BenchNode];
    const lbs = [await cluster.balance([n1]), await cluster.balance([n1, n2]), await cluster.balance([n1, n2, n3])] as const;
    log(`${NODES} nodes and 3 HAProxy up after ${(msSince(started) / 1000).toFixed(1)} s`);

    const one = await createOn(n1, cluster.token, SESSIONS);
    const two = await spreadOver([n1, n2], cluster.token, SESSIONS);
    const three = await spreadOver([n1, n2, n3], cluster.token, SESSIONS);
    const owners = new Map<string, string>();
    for (const [ids, nodes] of [
      [one, [n1]],
      [two, [n1, n2]],
      [three, [n1, n2, n3]],
    ] as const) {
      ids.forEach((id, i) => owners.set(id, nodes[i % nodes.length]!.name));
    }
    await checkOwners(n3, cluster.token, owners);
    log(`${owners.size} sessions created, each answered through n3 by its owner`);

    const targets: Target[] = [
      { label: "(a) n1 directly", url: n1.url, ids: one },
      { label: "(b) HAProxy → n1", url: lbs[0].url, ids: one },
      { label: "(c) HAProxy → n1, n2", url: lbs[1].url, ids: two },
      { label: "(d) HAProxy → n1, n2, n3", url: lbs[2].url, ids: three },
      // Every request forwarded, no load balancer: what one node forwarding costs, alone.
      { label: "(e) n2 directly, all forwarded to n1", url: n2.url, ids: one },
    ];
    const loadTable = ROUNDS > 0 ? await throughput(targets, cluster.token) : "(not measured: --rounds=0)";
    const loadAfterThroughput = load();
    // --hops=0 or --failovers=0 leaves that part out (to re-measure one part quickly).
    const hop = HOPS > 0 ? await forwardingHop(n1, n2, one, cluster.token) : [];
    const failovers = FAILOVERS > 0 ? await failover(cluster, lbs[2], leaseTtlMs) : [];

    console.log(`\nthroughput, medians over ${ROUNDS} round(s) (vs (a): ratio to the node measured directly in the same round; load after: ${loadAfterThroughput}):`);
    console.log("(c) and (d) land about 1/2 and 2/3 of the requests on a node that forwards them to the session's owner; (e) all of them\n");
    console.log(loadTable);
    console.log("");
    printFigures([...hop, ...failovers]);
    console.log(`\nwhole run ${(msSince(started) / 1000).toFixed(0)} s; load ${load()}`);
  } catch (err) {
    for (const node of cluster.nodes) process.stderr.write(`--- ${node.name}\n${node.lines.slice(-30).join("\n")}\n`);
    throw err;
  } finally {
    await cluster.close();
  }
}

await main();
