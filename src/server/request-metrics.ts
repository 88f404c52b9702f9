import type { Registry } from "prom-client";

/** Upper bounds (seconds) of the request latency histogram. */
export const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5] as const;

interface Series {
  readonly labels: { method: string; route: string; status: string };
  count: number;
  sum: number;
  /** Per bucket, not cumulative; the last slot counts what is over every bound (+Inf). */
  readonly buckets: number[];
}

interface MetricValue {
  metricName?: string;
  labels: Record<string, string | number>;
  value: number;
}

/**
 * Requests by method, route and status, and their latency histogram, exported through a
 * prom-client Registry as `sessiond_http_requests_total` and
 * `sessiond_http_request_duration_seconds`. Counting is on every request's path, so it is kept
 * to a map lookup and a few additions: each route records into its own series by status,
 * without prom-client's per-observation hashing of the label set.
 */
export class RequestMetrics {
  private readonly routes = new Map<string, Map<number, Series>>();

  constructor(registry: Registry) {
    const all = () => [...this.routes.values()].flatMap((byStatus) => [...byStatus.values()]);
    registry.registerMetric({
      name: "sessiond_http_requests_total",
      help: "HTTP requests answered, by method, route and status",
      type: "counter",
      aggregator: "sum",
      get: async () => ({
        name: "sessiond_http_requests_total",
        help: "HTTP requests answered, by method, route and status",
        type: "counter",
        aggregator: "sum",
        values: all().map((s) => ({ labels: s.labels, value: s.count })),
      }),
    } as never);
    registry.registerMetric({
      name: "sessiond_http_request_duration_seconds",
      help: "Time from receiving a request to sending its response",
      type: "histogram",
      aggregator: "sum",
      get: async () => ({
        name: "sessiond_http_request_duration_seconds",
        help: "Time from receiving a request to sending its response",
        type: "histogram",
        aggregator: "sum",
        values: all().flatMap(histogramValues),
      }),
    } as never);
  }

  /** A recorder for one route (`route` is its pattern, e.g. /sessions/:id). */
  recorder(method: string, route: string): (status: number, seconds: number) => void {
    const key = `${method} ${route}`;
    let byStatus = this.routes.get(key);
    if (!byStatus) {
      byStatus = new Map();
      this.routes.set(key, byStatus);
    }
    const series = byStatus;
    return (status, seconds) => {
      let s = series.get(status);
      if (!s) {
        s = { labels: { method, route, status: String(status) }, count: 0, sum: 0, buckets: new Array(LATENCY_BUCKETS.length + 1).fill(0) };
        series.set(status, s);
      }
      s.count++;
      s.sum += seconds;
      let i = 0;
      while (i < LATENCY_BUCKETS.length && seconds > LATENCY_BUCKETS[i]!) i++;
      s.buckets[i]!++;
    };
  }
}

function histogramValues(s: Series): MetricValue[] {
  const name = "sessiond_http_request_duration_seconds";
  const values: MetricValue[] = [];
  let cumulative = 0;
  LATENCY_BUCKETS.forEach((le, i) => {
    cumulative += s.buckets[i]!;
    values.push({ metricName: `${name}_bucket`, labels: { le, ...s.labels }, value: cumulative });
  });
  values.push({ metricName: `${name}_bucket`, labels: { le: "+Inf", ...s.labels }, value: s.count });
  values.push({ metricName: `${name}_sum`, labels: s.labels, value: s.sum });
  values.push({ metricName: `${name}_count`, labels: s.labels, value: s.count });
  return values;
}
