/**
 * Upper bounds (seconds) of the request latency histogram: sub-millisecond reads up to an exec
 * that runs until `execTimeoutMs` (30 s by default) and a client that waits a minute.
 */
export const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60] as const;

const REQUESTS = "sessiond_http_requests_total";
const REQUESTS_HELP = "HTTP requests answered, by method, route and status";
const DURATION = "sessiond_http_request_duration_seconds";
const DURATION_HELP = "Time from receiving a request to sending its response";
/** Each bucket's sample name and `le` label, ready to be followed by the series' own labels. */
const BUCKET_PREFIXES = [...LATENCY_BUCKETS.map(String), "+Inf"].map((le) => `${DURATION}_bucket{le="${le}",`);

interface Series {
  /** The series' labels as the exposition prints them: `method="GET",route="/x",status="200"`. */
  readonly labels: string;
  count: number;
  sum: number;
  /** Per bucket, not cumulative; the last slot counts what is over every bound (+Inf). */
  readonly buckets: number[];
}

/**
 * Requests by method, route and status, and their latency histogram: the families
 * `sessiond_http_requests_total` and `sessiond_http_request_duration_seconds`. Counting is on
 * every request's path, so it is kept to a map lookup and a few additions: each route records
 * into its own series by status, without prom-client's per-observation hashing of the label set.
 * The families are printed here too, each series' labels escaped once: prom-client formats every
 * sample's labels anew, which took 20 ms for 180 series (60 routes × 3 statuses) against 3 ms
 * here — the event loop stalls that long at every scrape.
 */
export class RequestMetrics {
  private readonly routes = new Map<string, Map<number, Series>>();

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
        const labels = `method="${escapeLabelValue(method)}",route="${escapeLabelValue(route)}",status="${status}"`;
        s = { labels, count: 0, sum: 0, buckets: new Array(LATENCY_BUCKETS.length + 1).fill(0) };
        series.set(status, s);
      }
      s.count++;
      s.sum += seconds;
      let i = 0;
      while (i < LATENCY_BUCKETS.length && seconds > LATENCY_BUCKETS[i]!) i++;
      s.buckets[i]!++;
    };
  }

  /** Both families in the Prometheus text format 0.0.4, HELP and TYPE first. */
  render(): string {
    let requests = `# HELP ${REQUESTS} ${REQUESTS_HELP}\n# TYPE ${REQUESTS} counter\n`;
    let durations = `# HELP ${DURATION} ${DURATION_HELP}\n# TYPE ${DURATION} histogram\n`;
    for (const byStatus of this.routes.values()) {
      for (const s of byStatus.values()) {
        requests += `${REQUESTS}{${s.labels}} ${s.count}\n`;
        let cumulative = 0;
        for (let i = 0; i < BUCKET_PREFIXES.length; i++) {
          cumulative += s.buckets[i]!;
          durations += `${BUCKET_PREFIXES[i]}${s.labels}} ${cumulative}\n`;
        }
        durations += `${DURATION}_sum{${s.labels}} ${s.sum}\n${DURATION}_count{${s.labels}} ${s.count}\n`;
      }
    }
    return `${requests}\n${durations}`;
  }
}

/** A label value as the text format quotes it: backslash, double quote and newline escaped. */
function escapeLabelValue(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}
