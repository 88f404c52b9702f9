import { randomUUID } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { request as httpRequest } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { compiledCli } from "../helpers/compiled-tree.js";
import { lintExposition } from "../helpers/prometheus-lint.js";
import { startNode } from "../helpers/run-node.js";
import { SERVICES, serviceAvailable } from "../helpers/services.js";

/**
 * GET /metrics of `sessiond serve` as a real process (the one place that turns on the process
 * metrics), after sessions, events and an exec, read as Prometheus reads it: the text parses and
 * passes the checks of `promtool check metrics` (listed in test/helpers/prometheus-lint.ts).
 */

vi.setConfig({ testTimeout: 120_000, hookTimeout: 120_000 });

const ROOT = new URL("../../", import.meta.url).pathname;
const READER = "reader-token-0123456789-abcdefghijk";
const AGENT = "agent-token-0123456789-abcdefghijkl";
/** With Redis at hand the server publishes to it, so the Redis families are checked too (CI has it). */
const redis = await serviceAvailable("redis");

/** The standard names stock Node.js dashboards and alerts query (prom-client's default metrics). */
const STANDARD = [
  "process_cpu_user_seconds_total",
  "process_cpu_system_seconds_total",
  "process_cpu_seconds_total",
  "process_start_time_seconds",
  "process_resident_memory_bytes",
  "process_virtual_memory_bytes",
  "process_heap_bytes",
  "process_open_fds",
  "process_max_fds",
  "nodejs_eventloop_lag_seconds",
  "nodejs_eventloop_lag_p99_seconds",
  "nodejs_active_handles",
  "nodejs_active_requests",
  "nodejs_active_resources",
  "nodejs_heap_size_total_bytes",
  "nodejs_heap_size_used_bytes",
  "nodejs_external_memory_bytes",
  "nodejs_heap_space_size_used_bytes",
  "nodejs_version_info",
  "nodejs_gc_duration_seconds",
];

interface Reply {
  status: number;
  contentType: string | undefined;
  body: string;
}

function call(target: { port: number } | { socketPath: string }, method: string, path: string, options: { token?: string; body?: unknown } = {}): Promise<Reply> {
  const payload = options.body === undefined ? undefined : JSON.stringify(options.body);
  const headers: Record<string, string> = {};
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  if (payload !== undefined) headers["content-type"] = "application/json";
  return new Promise((resolve, reject) => {
    const req = httpRequest({ ...("port" in target ? { host: "127.0.0.1", port: target.port } : target), method, path, headers, agent: false }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => (body += c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, contentType: res.headers["content-type"], body }));
    });
    req.on("error", reject);
    req.end(payload);
  });
}

let home: string;
let port: number;
let token: string;
let stopServer: () => Promise<void>;
/** The scrape taken after the activity in beforeAll. */
let scraped: Reply;

beforeAll(async () => {
  home = mkdtempSync(join(tmpdir(), "sessiond-metrics-"));
  const configFile = join(home, "config.json");
  writeFileSync(
    configFile,
    JSON.stringify({
      enableSessions: true,
      tokens: [
        { token: READER, role: "reader" },
        { token: AGENT, role: "agent", agent_id: "a1" },
      ],
      // A channel of this test's own, so no other suite's subscriber sees these events.
      ...(redis ? { redisUrl: SERVICES.redis.url, redisChannel: `metrics-test-${randomUUID()}` } : {}),
    }),
  );
  const { child, lines, exited } = startNode([compiledCli(), "serve", "--port", "0", "--config", configFile], {
    cwd: ROOT,
    env: { SESSIOND_HOME: home, SESSIOND_SQLITE_SYNCHRONOUS: "normal" },
  });
  stopServer = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
    await exited;
  };
  const deadline = Date.now() + 60_000;
  for (;;) {
    const line = lines.find((l) => l.includes("sessiond listening"));
    if (line) {
      port = (JSON.parse(line) as { port: number }).port;
      break;
    }
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`the server did not start:\n${lines.join("\n")}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  token = readFileSync(join(home, "token"), "utf8").trim();

  const tcp = { port };
  const sessions: string[] = [];
  for (let i = 0; i < 3; i++) {
    const created = await call(tcp, "POST", "/sessions/", { token, body: { agent_id: "a1" } });
    expect(created.status).toBe(201);
    sessions.push(JSON.parse(created.body).id);
  }
  for (const id of sessions) expect((await call(tcp, "POST", `/sessions/${id}/events`, { token, body: { type: "note", data: { id } } })).status).toBe(201);
  expect((await call(tcp, "POST", `/sessions/${sessions[0]}/pause`, { token })).status).toBe(200);
  expect((await call(tcp, "GET", "/sessions/no-such-session", { token })).status).toBe(404);
  const shell = await call(tcp, "POST", "/sessions/", { token, body: { kind: "shell" } });
  expect(shell.status).toBe(201);
  const shellId = JSON.parse(shell.body).id as string;
  const exec = await call(tcp, "POST", `/sessions/${shellId}/exec`, { token, body: { input: "echo metrics-$((40+2))" } });
  expect(exec.status).toBe(200);
  expect(JSON.parse(exec.body).stdout).toBe("metrics-42\n");
  expect((await call(tcp, "POST", `/sessions/${shellId}/stop`, { token })).status).toBe(200);
  scraped = await call(tcp, "GET", "/metrics", { token });
});

afterAll(async () => {
  await stopServer?.();
  if (home) rmSync(home, { recursive: true, force: true });
});

/** The value of the sample line `series` (name and labels as printed), or undefined. */
function sample(text: string, series: string): number | undefined {
  const line = text.split("\n").find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe("GET /metrics", () => {
  it("answers 200 as Prometheus text 0.0.4 in UTF-8", () => {
    expect(scraped.status).toBe(200);
    expect(scraped.contentType).toBe("text/plain; version=0.0.4; charset=utf-8");
  });

  it("passes promtool's checks: it parses, every family has HELP and TYPE, names and labels follow the rules, no family twice", () => {
    const { families, problems } = lintExposition(scraped.body);
    expect(problems).toEqual([]);
    expect(families.length).toBeGreaterThan(STANDARD.length);
    for (const family of families) {
      expect(family.name, family.name).toMatch(/^[a-zA-Z_:][a-zA-Z0-9_:]*$/);
      expect(family.help, family.name).not.toBe("");
      if (family.type === "COUNTER") expect(family.name).toMatch(/_total$/);
      else expect(family.name).not.toMatch(/_total$/);
    }
  });

  it("carries the process and Node.js metrics under their standard names, and everything else under sessiond_", () => {
    const names = lintExposition(scraped.body).families.map((f) => f.name);
    for (const name of STANDARD) expect(names, name).toContain(name);
    const ours = names.filter((n) => !STANDARD.includes(n) && !/^(process|nodejs)_/.test(n));
    expect(ours.every((n) => n.startsWith("sessiond_")), ours.join(", ")).toBe(true);
    // The process metrics used to be prefixed; nothing is left under the old names.
    expect(names.filter((n) => /^sessiond_(process|nodejs)_/.test(n))).toEqual([]);
    for (const name of ["sessiond_http_requests_total", "sessiond_http_request_duration_seconds", "sessiond_sessions", "sessiond_pool_sessions", "sessiond_commit_batch_ops", "sessiond_commit_batch_writers", "sessiond_commit_duration_seconds", "sessiond_commit_failures_total", "sessiond_webhook_attempts_total", "sessiond_webhook_deliveries_total", "sessiond_webhook_events_dropped_total", "sessiond_webhook_attempts_in_flight"]) {
      expect(names, name).toContain(name);
    }
    if (redis) for (const name of ["sessiond_redis_messages_published_total", "sessiond_redis_messages_dropped_total", "sessiond_redis_queued_messages", "sessiond_redis_connected"]) expect(names, name).toContain(name);
  });

  it("counts what was done before the scrape: requests by route and status, the exec, sessions by status", () => {
    const text = scraped.body;
    expect(sample(text, 'sessiond_http_requests_total{method="POST",route="/sessions",status="201"}')).toBe(4);
    expect(sample(text, 'sessiond_http_requests_total{method="POST",route="/sessions/:id/events",status="201"}')).toBe(3);
    expect(sample(text, 'sessiond_http_requests_total{method="POST",route="/sessions/:id/exec",status="200"}')).toBe(1);
    expect(sample(text, 'sessiond_http_requests_total{method="GET",route="/sessions/:id",status="404"}')).toBe(1);
    expect(sample(text, 'sessiond_http_request_duration_seconds_count{method="POST",route="/sessions/:id/exec",status="200"}')).toBe(1);
    expect(sample(text, 'sessiond_sessions{status="paused"}')).toBe(1);
    expect(sample(text, 'sessiond_sessions{status="active"}')).toBe(2);
    expect(sample(text, "sessiond_commit_batch_ops_count")).toBeGreaterThan(0);
    expect(sample(text, "process_resident_memory_bytes")).toBeGreaterThan(0);
    expect(sample(text, "process_cpu_seconds_total")).toBeGreaterThan(0);
  });
});

describe("who may scrape /metrics (docs/security.md)", () => {
  it("lets the admin token, a reader token and the Unix socket scrape; refuses an agent token with 403 and no or a wrong token with 401", async () => {
    const tcp = { port };
    for (const t of [token, READER]) expect((await call(tcp, "GET", "/metrics", { token: t })).status).toBe(200);
    const viaSocket = await call({ socketPath: join(home, "sessiond.sock") }, "GET", "/metrics");
    expect(viaSocket.status).toBe(200);
    expect(viaSocket.body).toContain("# TYPE sessiond_http_requests_total counter");

    const agent = await call(tcp, "GET", "/metrics", { token: AGENT });
    expect(agent.status).toBe(403);
    expect(JSON.parse(agent.body).error.code).toBe("forbidden");
    expect(agent.body).not.toContain("sessiond_");
    for (const t of [undefined, "not-a-token-of-this-server-at-all"]) {
      const refused = await call(tcp, "GET", "/metrics", t === undefined ? {} : { token: t });
      expect(refused.status).toBe(401);
      expect(JSON.parse(refused.body).error.code).toBe("unauthorized");
    }
  });
});

describe("the exposition checks themselves", () => {
  it("find each rule broken in a bad exposition", () => {
    const bad = [
      "# HELP queue_total Messages waiting",
      "# TYPE queue_total gauge",
      "queue_total 3",
      "# HELP served Requests served",
      "# TYPE served counter",
      "served 1",
      "# TYPE no_help_seconds gauge",
      "no_help_seconds 1",
      "# HELP latency_milliseconds Latency",
      "# TYPE latency_milliseconds gauge",
      "latency_milliseconds 1",
      "# HELP wait_ms Wait",
      "# TYPE wait_ms gauge",
      "wait_ms 1",
      "# HELP jobsRunning Jobs",
      "# TYPE jobsRunning gauge",
      'jobsRunning{queueName="a"} 1',
      "# HELP open_gauge Open",
      "# TYPE open_gauge gauge",
      'open_gauge{le="1"} 1',
      'open_gauge{le="1"} 2',
      "# HELP size_bytes Size",
      "# TYPE size_bytes histogram",
      'size_bytes_bucket{le="10"} 3',
      'size_bytes_bucket{le="1"} 2',
      'size_bytes_bucket{le="+Inf"} 4',
      "size_bytes_sum 9",
      "size_bytes_count 5",
      "# HELP served Requests served again",
      "untyped_thing 1",
      "# HELP rec:rate Recorded",
      "# TYPE rec:rate gauge",
      'rec:rate{__hidden="x"} 1',
      "",
    ].join("\n");
    const problems = lintExposition(bad).problems.join("\n");
    for (const expected of [
      'queue_total: non-counter metrics should not have "_total" suffix',
      'served: counter metrics should have "_total" suffix',
      "no_help_seconds: no help text",
      'latency_milliseconds: use a base unit instead of "milliseconds"',
      "wait_ms: metric names should not contain abbreviated units",
      "jobsRunning: metric names should be written in 'snake_case' not 'camelCase'",
      "jobsRunning: label names should be written in 'snake_case' not 'camelCase'",
      "open_gauge: metric name should not include type 'gauge'",
      'open_gauge: non-histogram metrics should not have "le" label',
      "open_gauge: metric not unique",
      "size_bytes{}: bucket bounds do not rise",
      "size_bytes{}: the +Inf bucket is not _count",
      "served: family appears twice",
      "served: second HELP line",
      "untyped_thing: no TYPE",
      "untyped_thing: no help text",
      "rec:rate: metric names should not contain ':'",
      "rec:rate: label name __hidden is reserved",
    ]) {
      expect(problems).toContain(expected);
    }
    expect(lintExposition('a_total{x="1} 1\n').problems.join("\n")).toMatch(/does not parse|unreadable sample line/);
  });
});
