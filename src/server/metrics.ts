import type { FastifyInstance, onResponseHookHandler } from "fastify";
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import { SESSION_STATUSES } from "../core/index.js";
import type { CommitObservation, SessionManager } from "../engine/index.js";
import { RequestMetrics } from "./request-metrics.js";

/**
 * prom-client's default metrics that are gauges named `_total`, which the Prometheus naming rules
 * (and `promtool check metrics`) reserve for counters. Each is the sum of a family still served:
 * `sum(nodejs_active_handles)` is `nodejs_active_handles_total`.
 */
const GAUGES_NAMED_TOTAL = ["nodejs_active_handles_total", "nodejs_active_requests_total", "nodejs_active_resources_total"];

let processRegistry: Registry | undefined;

/**
 * The process and Node.js metrics under their standard names (`process_cpu_seconds_total`,
 * `nodejs_eventloop_lag_seconds`, …), which stock dashboards and alerts query. One registry for
 * the process however many servers it holds: the numbers are the process's, and the collectors
 * behind them (an event-loop delay monitor, a GC observer) should run once.
 */
function processMetrics(): Registry {
  if (!processRegistry) {
    processRegistry = new Registry();
    collectDefaultMetrics({ register: processRegistry });
    for (const name of GAUGES_NAMED_TOTAL) processRegistry.removeSingleMetric(name);
  }
  return processRegistry;
}

/**
 * The server's Prometheus metrics, on a registry of its own (so one process can hold several
 * servers, as the tests do): requests by route and status, latency histograms, sessions by
 * status, the hot pool's size, and the engine's group commits (batch sizes and latencies).
 * Build it before the SessionManager and pass `observeCommit` to it, so commits are counted.
 * Every family of the server is named `sessiond_…`; with `defaultMetrics`, a scrape also
 * carries the process's standard `process_…` and `nodejs_…` families.
 */
export class ServerMetrics {
  /** The server's own families (`sessiond_…`) but the requests'; event sinks register theirs here too. */
  readonly registry = new Registry();
  /** The exposition format served: Prometheus text 0.0.4. */
  readonly contentType = this.registry.contentType;
  private readonly registries: readonly Registry[];
  private readonly requests: RequestMetrics;
  private readonly commitOps: Histogram<string>;
  private readonly commitWriters: Histogram<string>;
  private readonly commitLatency: Histogram<string>;
  private readonly commitFailures: Counter<string>;
  private manager: SessionManager | undefined;

  /**
   * @param options.defaultMetrics also serve the process's standard metrics; off for an app
   * embedded in a process that exports its own. @default false (`sessiond serve` turns it on)
   */
  constructor(options: { defaultMetrics?: boolean } = {}) {
    this.registries = options.defaultMetrics ? [processMetrics(), this.registry] : [this.registry];
    const registers = [this.registry];
    this.requests = new RequestMetrics();
    this.commitOps = new Histogram({
      name: "sessiond_commit_batch_ops",
      help: "Store writes per group commit",
      buckets: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 5000, 20000],
      registers,
    });
    this.commitWriters = new Histogram({
      name: "sessiond_commit_batch_writers",
      help: "Callers whose writes one group commit carried",
      buckets: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000],
      registers,
    });
    this.commitLatency = new Histogram({
      name: "sessiond_commit_duration_seconds",
      help: "Time the store took to make a group commit durable",
      buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers,
    });
    this.commitFailures = new Counter({ name: "sessiond_commit_failures_total", help: "Group commits the store refused", registers });
    const metrics = this;
    new Gauge({
      name: "sessiond_pool_sessions",
      help: "Sessions held in the engine's memory (hot pool)",
      registers,
      collect() {
        this.set(metrics.manager?.hotCount ?? 0);
      },
    });
    new Gauge({
      name: "sessiond_sessions",
      help: "Stored sessions by status",
      labelNames: ["status"],
      registers,
      async collect() {
        const manager = metrics.manager;
        if (!manager || manager.isClosed) return;
        const counts = await manager.countByStatus();
        for (const status of SESSION_STATUSES) this.set({ status }, counts[status] ?? 0);
      },
    });
  }

  /** The exposition text of every family, for GET /metrics. */
  async scrape(): Promise<string> {
    const texts = await Promise.all(this.registries.map((registry) => registry.metrics()));
    return [...texts, this.requests.render()].join("\n");
  }

  /** Pass as the SessionManager's `observeCommit` option. */
  readonly observeCommit = (commit: CommitObservation): void => {
    this.commitOps.observe(commit.ops);
    this.commitWriters.observe(commit.writers);
    this.commitLatency.observe(commit.durationMs / 1000);
    if (!commit.ok) this.commitFailures.inc();
  };

  /**
   * Counts and times every response of the app; reads session gauges from the manager. Call it
   * before the routes are registered: each route gets its own recorder.
   */
  attach(app: FastifyInstance, manager: SessionManager): void {
    this.manager = manager;
    app.addHook("onRoute", (route) => {
      // The route's pattern, not the URL: one series per route, whatever ids are requested.
      const methods = Array.isArray(route.method) ? route.method : [route.method];
      const recorders = new Map(methods.map((m) => [m, this.requests.recorder(m, route.url)]));
      const record: onResponseHookHandler = (request, reply, done) => {
        recorders.get(request.method)?.(reply.statusCode, reply.elapsedTime / 1000);
        done();
      };
      route.onResponse = route.onResponse ? [...[route.onResponse].flat(), record] : [record];
    });
    const unmatched = new Map<string, (status: number, seconds: number) => void>();
    app.addHook("onResponse", (request, reply, done) => {
      if (request.is404) {
        let record = unmatched.get(request.method);
        if (!record) unmatched.set(request.method, (record = this.requests.recorder(request.method, "unmatched")));
        record(reply.statusCode, reply.elapsedTime / 1000);
      }
      done();
    });
  }
}
