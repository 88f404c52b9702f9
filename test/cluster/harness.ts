import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { type SessiondClient, createClient } from "sessiond/client";
import { type Haproxy, haproxyMissing, startHaproxy } from "../helpers/haproxy.js";
import { freePort } from "../helpers/ports.js";
import { type TestSchema, createTestSchema } from "../helpers/postgres.js";
import { compiledCli } from "../helpers/compiled-tree.js";
import { type LiveNode, startNode } from "../helpers/run-node.js";
import { uniqueUidBase } from "../helpers/sandbox-pids.js";
import { serviceAvailable } from "../helpers/services.js";

/**
 * Several `sessiond serve` processes, run from the tree compiled for this run (as the package ships:
 * test/helpers/compiled-tree.ts), sharing one fresh PostgreSQL schema
 * (DESIGN.md §7), optionally behind HAProxy on loopback: what the cluster suites kill, stop and
 * restart.
 */

const ROOT = new URL("../../", import.meta.url).pathname;

/** The lease the suites run with: short, so a takeover happens within a test. */
export const LEASE_TTL_MS = 2000;
/** Renewed well within the lease (at most a third of it, as config requires). */
export const LEASE_RENEW_MS = 500;
/**
 * The longest a dead node's sessions may take to be served (or marked crashed) elsewhere, from the
 * kill: the lease, a second, and room for a loaded test machine. It catches a takeover that never
 * comes, or waits for the dead node to return; it is not a speed claim.
 */
export const TAKEOVER_BOUND_MS = LEASE_TTL_MS + 1000 + 4000;
/** How long one node may take to answer /readyz after its process starts, on a busy machine. */
const READY_TIMEOUT_MS = 60_000;
/** How long a node may take to exit after SIGTERM before it gets SIGKILL. */
const EXIT_GRACE_MS = 10_000;
/** Log lines kept per node, for a failure's message. */
const MAX_LOG_LINES = 5000;

/** One node of the cluster. Its process changes when it is restarted; its name, home and port do not. */
export interface ClusterNode {
  /** `n1`, `n2`, …: its SESSIOND_NODE_NAME and its HAProxy server name. */
  readonly name: string;
  readonly port: number;
  /** `http://127.0.0.1:<port>`: the node itself, past the load balancer. */
  readonly url: string;
  readonly home: string;
  /** The running (or last) process. */
  process: LiveNode;
  /** Every line it printed, over all its processes, the oldest dropped past a bound. */
  readonly logs: string[];
}

/** What a cluster is started with. */
export interface ClusterOptions {
  /** How many nodes. @default 3 */
  nodes?: number;
  /** Live sessions (shell, python, …) on: ENABLE_SESSIONS=true. @default false */
  enableSessions?: boolean;
  /** Redis the nodes publish seed 003's messages to; none when absent. */
  redisUrl?: string;
  /** Start HAProxy in front of the nodes (`cluster.lb`). @default true */
  loadBalancer?: boolean;
  /** More environment for every node. */
  env?: Record<string, string>;
  /** More environment for one node, by its name and port (its advertised URL, say). */
  nodeEnv?: (name: string, port: number) => Record<string, string>;
}

/** A running cluster; `close()` kills everything and drops the schema. */
export interface Cluster {
  readonly nodes: readonly ClusterNode[];
  /** The admin token every node shares. */
  readonly token: string;
  readonly schema: TestSchema;
  /** HAProxy in front of the nodes (absent when started with `loadBalancer: false`). */
  readonly lb: Haproxy | undefined;
  /** The node named `name` (`n1`…). */
  node(name: string): ClusterNode;
  /** An SDK client for the load balancer, or for one node directly. */
  client(node?: ClusterNode): SessiondClient;
  /** Sends `signal` (default SIGKILL) to the node's process and waits until it has exited. */
  kill(node: ClusterNode, signal?: NodeJS.Signals): Promise<void>;
  /** Starts a new process on the node's home and port (the old one must have exited) and waits for /readyz. */
  restart(node: ClusterNode): Promise<void>;
  /** SIGSTOP: the process stays, silent (no lease renewals, no answers). */
  stop(node: ClusterNode): void;
  /** SIGCONT after `stop`. */
  cont(node: ClusterNode): void;
  /** Whether the node's process is running (stopped counts as running). */
  isRunning(node: ClusterNode): boolean;
  /**
   * Who owns each session now, by node name, as the database records it (`session_owners`,
   * `cluster_nodes`): the ground truth the nodes' answers are checked against.
   */
  owners(): Promise<Map<string, string>>;
  /** A session's status as the database records it, asking no node (undefined for none). */
  storedStatus(sessionId: string): Promise<string | undefined>;
  /** Every node's recent log lines, for a failure's message. */
  logs(): string;
  /** The error lines (pino level 50 and up) every node logged, the oldest dropped past a bound. */
  errors(): string[];
  close(): Promise<void>;
}

/**
 * Whether the cluster suites can run here: PostgreSQL reachable and HAProxy installed. Otherwise
 * prints why and answers false, except under CI (`CI=true`), where a missing part fails the suite.
 */
export async function clusterAvailable(): Promise<boolean> {
  if (!(await serviceAvailable("postgres"))) return false;
  const missing = haproxyMissing();
  if (missing !== undefined) console.warn(`skipping the cluster suite: ${missing} (set CI=true to fail instead)`);
  return missing === undefined;
}

/** A strong random admin token, written to each node's home before it starts so that all share it. */
function newToken(): string {
  return randomBytes(32).toString("base64url");
}

/** Starts `options.nodes` nodes on a fresh schema (the first alone, so it runs the migrations), then HAProxy. */
export async function startCluster(options: ClusterOptions = {}): Promise<Cluster> {
  const count = options.nodes ?? 3;
  const schema = await createTestSchema();
  const token = newToken();
  const nodes: ClusterNode[] = [];
  let lb: Haproxy | undefined;

  const envOf = (node: ClusterNode): Record<string, string> => ({
    SESSIOND_HOME: node.home,
    SESSIOND_HOST: "127.0.0.1",
    SESSIOND_PORT: String(node.port),
    SESSIOND_STORE: "postgres",
    SESSIOND_PG_URL: schema.url,
    SESSIOND_NODE_NAME: node.name,
    SESSIOND_LEASE_TTL_MS: String(LEASE_TTL_MS),
    SESSIOND_LEASE_RENEW_MS: String(LEASE_RENEW_MS),
    // Several writers through one token for minutes: the per-token request limit is not under test.
    SESSIOND_RATE_LIMIT_MAX: "0",
    SESSIOND_LOG_LEVEL: "info",
    // Each node hands out sandbox uids from a base of its own: the nodes share this machine.
    SESSIOND_SANDBOX_UID_BASE: String(uniqueUidBase()),
    // The machine's PostgreSQL is on loopback without a password: a test machine accepts that.
    ...(options.enableSessions ? { ENABLE_SESSIONS: "true", SESSIOND_ALLOW_REACHABLE_DATABASE: "true" } : {}),
    ...(options.redisUrl ? { SESSIOND_REDIS_URL: options.redisUrl } : {}),
    ...options.env,
    ...options.nodeEnv?.(node.name, node.port),
  });

  const launch = async (node: ClusterNode): Promise<void> => {
    node.process = startNode([compiledCli(), "serve"], { cwd: ROOT, env: envOf(node) });
    const started = node.process;
    const keep = (chunk: Buffer) => {
      for (const line of chunk.toString().split("\n")) if (line) node.logs.push(line);
      if (node.logs.length > MAX_LOG_LINES) node.logs.splice(0, node.logs.length - MAX_LOG_LINES);
    };
    started.child.stdout!.on("data", keep);
    started.child.stderr!.on("data", keep);
    await waitReady(node, started);
  };

  /** One query on a connection of its own to the cluster's schema. */
  const query = async <Row extends pg.QueryResultRow>(sql: string, values: unknown[] = []): Promise<Row[]> => {
    const client = new pg.Client({ connectionString: schema.url });
    await client.connect();
    try {
      return (await client.query<Row>(sql, values)).rows;
    } finally {
      await client.end();
    }
  };

  const cluster: Cluster = {
    nodes,
    token,
    schema,
    get lb() {
      return lb;
    },
    node(name) {
      const found = nodes.find((n) => n.name === name);
      if (!found) throw new Error(`no node ${name}`);
      return found;
    },
    client(node) {
      const baseUrl = node?.url ?? lb?.url;
      if (!baseUrl) throw new Error("no load balancer: name a node");
      return createClient({ baseUrl, token });
    },
    async kill(node, signal = "SIGKILL") {
      const { child, exited } = node.process;
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill(signal);
      // A stopped process handles no signal but SIGKILL until it runs again.
      if (signal !== "SIGKILL" && signal !== "SIGSTOP") child.kill("SIGCONT");
      await exited;
    },
    async restart(node) {
      if (cluster.isRunning(node)) throw new Error(`${node.name} is still running: kill it first`);
      await launch(node);
    },
    stop(node) {
      node.process.child.kill("SIGSTOP");
    },
    cont(node) {
      node.process.child.kill("SIGCONT");
    },
    isRunning(node) {
      const { child } = node.process;
      return child.exitCode === null && child.signalCode === null;
    },
    async owners() {
      const rows = await query<{ session_id: string; name: string }>("SELECT o.session_id, n.name FROM session_owners o JOIN cluster_nodes n ON n.id = o.node_id");
      return new Map(rows.map((r) => [r.session_id, r.name]));
    },
    async storedStatus(sessionId) {
      const [row] = await query<{ status: string }>("SELECT status FROM sessions WHERE id = $1", [sessionId]);
      return row?.status;
    },
    errors() {
      return nodes.flatMap((n) => n.logs.filter((line) => /"level":\s*(5|6)\d/.test(line)).map((line) => `${n.name}: ${line}`));
    },
    logs() {
      return nodes.map((n) => `--- ${n.name} (${n.url})\n${n.logs.slice(-200).join("\n")}`).join("\n");
    },
    async close() {
      await lb?.close();
      await Promise.all(nodes.map((node) => stopGracefully(node)));
      await schema.drop();
      for (const node of nodes) rmSync(node.home, { recursive: true, force: true });
    },
  };

  try {
    for (let i = 1; i <= count; i++) {
      const home = mkdtempSync(join(tmpdir(), "sessiond-cluster-"));
      writeFileSync(join(home, "token"), `${token}\n`, { mode: 0o600 });
      const port = await freePort();
      nodes.push({ name: `n${i}`, port, url: `http://127.0.0.1:${port}`, home, process: undefined as unknown as LiveNode, logs: [] });
    }
    await launch(nodes[0]!);
    await Promise.all(nodes.slice(1).map(launch));
    if (options.loadBalancer ?? true) lb = await startHaproxy(nodes.map((n) => ({ name: n.name, port: n.port })));
  } catch (err) {
    const logs = cluster.logs();
    await cluster.close().catch(() => {});
    throw new Error(`the cluster did not start: ${(err as Error).message}\n${logs}`, { cause: err });
  }
  return cluster;
}

/** Polls the node's /readyz until it answers 200; fails when its process exits first or it takes too long. */
async function waitReady(node: ClusterNode, started: LiveNode): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (;;) {
    if (started.child.exitCode !== null || started.child.signalCode !== null) {
      throw new Error(`${node.name} exited (${started.child.exitCode ?? started.child.signalCode}) before it was ready:\n${started.lines.join("\n")}`);
    }
    const ready = await fetch(`${node.url}/readyz`).then(
      (res) => res.status === 200,
      () => false,
    );
    if (ready) return;
    if (Date.now() > deadline) throw new Error(`${node.name} was not ready within ${READY_TIMEOUT_MS} ms:\n${started.lines.join("\n")}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** SIGTERM (after SIGCONT, in case it was stopped), then SIGKILL if it lingers. */
async function stopGracefully(node: ClusterNode): Promise<void> {
  const running = node.process;
  if (!running) return;
  const { child, exited } = running;
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill("SIGCONT");
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), EXIT_GRACE_MS);
  await exited;
  clearTimeout(timer);
}

/** What a plain HTTP call answered, with the node that answered it. */
export interface Answer {
  status: number;
  /** The `x-sessiond-node` header: the node that answered. */
  node: string | null;
  headers: Headers;
  body: any;
}

/** A plain HTTP call with the token, its JSON answer parsed (where it is JSON). */
export async function call(baseUrl: string, token: string, method: string, path: string, body?: unknown, init: { signal?: AbortSignal } = {}): Promise<Answer> {
  const res = await fetch(`${baseUrl}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { "content-type": "application/json" } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    ...(init.signal ? { signal: init.signal } : {}),
  });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    // Not JSON (an error page from the load balancer): kept as text.
  }
  return { status: res.status, node: res.headers.get("x-sessiond-node"), headers: res.headers, body: parsed };
}

/** Polls until `predicate` answers something truthy; the test's own timeout bounds it. */
export async function until<T>(predicate: () => T | Promise<T>, intervalMs = 50): Promise<NonNullable<T>> {
  for (;;) {
    const value = await predicate();
    if (value) return value as NonNullable<T>;
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
