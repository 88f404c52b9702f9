/**
 * The cluster bench/cluster.ts measures: N `sessiond serve` processes from the sources on one
 * fresh PostgreSQL schema, sharing one admin token, with the shipped defaults (lease included)
 * except a rate limit no load generator reaches and warnings-only logs. HAProxy instances are
 * put in front of any subset of them with `balance`.
 *
 * test/cluster/harness.ts does the same for the suites, but it loads vitest (through
 * test/helpers/run-node.ts), which refuses to load outside a vitest run; this one needs none.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { type Haproxy, startHaproxy } from "../test/helpers/haproxy.js";
import { freePort } from "../test/helpers/ports.js";
import { type TestSchema, createTestSchema } from "../test/helpers/postgres.js";

const ROOT = fileURLToPath(new URL("../", import.meta.url));
/** How long a node may take to answer /readyz after its process starts (tsx compiles the sources first; the machine is shared). */
const READY_TIMEOUT_MS = 90_000;
/** How long a node may take to exit after SIGTERM before it gets SIGKILL. */
const EXIT_GRACE_MS = 10_000;
/** Output lines kept per node, for the message of a node that did not start. */
const MAX_LINES = 200;

/** One `sessiond serve` process; its name, port and home stay when it is restarted. */
export interface BenchNode {
  /** `n1`, `n2`, …: SESSIOND_NODE_NAME, what `x-sessiond-node` says. */
  readonly name: string;
  readonly port: number;
  /** `http://127.0.0.1:<port>`: the node itself, past any load balancer. */
  readonly url: string;
  readonly home: string;
  child: ChildProcess;
  exited: Promise<void>;
  readonly lines: string[];
}

export interface BenchCluster {
  readonly nodes: readonly BenchNode[];
  /** The admin token every node shares. */
  readonly token: string;
  /** HAProxy (round robin, /healthz checks) in front of `nodes`; closed with the cluster. */
  balance(nodes: readonly BenchNode[]): Promise<Haproxy>;
  /** SIGKILL, and wait for the exit. */
  kill(node: BenchNode): Promise<void>;
  /** A new process on the node's home and port, once its old one has exited; resolves when /readyz answers. */
  restart(node: BenchNode): Promise<void>;
  close(): Promise<void>;
}

/** Starts `count` nodes on a fresh schema: the first alone (it runs the migrations), then the others together. */
export async function startBenchCluster(count: number): Promise<BenchCluster> {
  const schema: TestSchema = await createTestSchema();
  const token = randomBytes(32).toString("base64url");
  const nodes: BenchNode[] = [];
  const balancers: Haproxy[] = [];

  const launch = async (node: BenchNode): Promise<void> => {
    const child = spawn(process.execPath, ["--import", "tsx", "src/cli/main.ts", "serve"], {
      cwd: ROOT,
      env: {
        ...process.env,
        SESSIOND_HOME: node.home,
        SESSIOND_HOST: "127.0.0.1",
        SESSIOND_PORT: String(node.port),
        SESSIOND_STORE: "postgres",
        SESSIOND_PG_URL: schema.url,
        SESSIOND_NODE_NAME: node.name,
        // As bench/http.ts: the limiter still runs on every request, at a limit no load generator reaches.
        SESSIOND_RATE_LIMIT_MAX: "100000000",
        SESSIOND_LOG_LEVEL: "warn",
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    const keep = (chunk: Buffer) => {
      node.lines.push(...chunk.toString().split("\n").filter(Boolean));
      node.lines.splice(0, Math.max(0, node.lines.length - MAX_LINES));
    };
    child.stdout!.on("data", keep);
    child.stderr!.on("data", keep);
    node.child = child;
    node.exited = new Promise((resolve) => child.once("exit", () => resolve()));
    await waitReady(node, child);
  };

  const cluster: BenchCluster = {
    nodes,
    token,
    async balance(members) {
      const lb = await startHaproxy(members.map((n) => ({ name: n.name, port: n.port })));
      balancers.push(lb);
      return lb;
    },
    async kill(node) {
      if (!running(node.child)) return;
      node.child.kill("SIGKILL");
      await node.exited;
    },
    async restart(node) {
      if (running(node.child)) throw new Error(`${node.name} is still running`);
      await launch(node);
    },
    async close() {
      await Promise.all(balancers.splice(0).map((lb) => lb.close()));
      await Promise.all(nodes.map(stopGracefully));
      await schema.drop();
      for (const node of nodes) rmSync(node.home, { recursive: true, force: true });
    },
  };

  try {
    for (let i = 1; i <= count; i++) {
      const home = mkdtempSync(join(tmpdir(), "sessiond-bench-cluster-"));
      writeFileSync(join(home, "token"), `${token}\n`, { mode: 0o600 });
      const port = await freePort();
      nodes.push({ name: `n${i}`, port, url: `http://127.0.0.1:${port}`, home, child: undefined as unknown as ChildProcess, exited: Promise.resolve(), lines: [] });
    }
    await launch(nodes[0]!);
    await Promise.all(nodes.slice(1).map(launch));
  } catch (err) {
    await cluster.close().catch(() => {});
    throw err;
  }
  return cluster;
}

function running(child: ChildProcess | undefined): boolean {
  return child !== undefined && child.exitCode === null && child.signalCode === null;
}

async function waitReady(node: BenchNode, child: ChildProcess): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (;;) {
    if (!running(child)) throw new Error(`${node.name} exited (${child.exitCode ?? child.signalCode}) before it was ready:\n${node.lines.join("\n")}`);
    const ready = await fetch(`${node.url}/readyz`).then(
      (res) => res.status === 200,
      () => false,
    );
    if (ready) return;
    if (Date.now() > deadline) throw new Error(`${node.name} was not ready within ${READY_TIMEOUT_MS} ms:\n${node.lines.join("\n")}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function stopGracefully(node: BenchNode): Promise<void> {
  if (!running(node.child)) return;
  const { child } = node;
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), EXIT_GRACE_MS);
  await node.exited;
  clearTimeout(timer);
}
