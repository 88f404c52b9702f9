import { useEffect, useState } from "preact/hooks";
import { ApiError } from "../api/client.js";
import { type Sample, scrape, total } from "../api/metrics.js";
import { listSessions, stats } from "../api/sessions.js";
import { STATUSES, type Stats, type WhoAmI } from "../api/types.js";
import { type Bar, BarChart, LineChart, type Point } from "../components/charts.js";
import { ErrorBanner } from "../components/error-banner.js";
import { bytes, duration, percent } from "../format.js";
import { SETTINGS } from "../settings.js";

interface Day {
  readonly label: string;
  readonly stats: Stats;
}

/** Midnight (local) `daysAgo` days back. */
function dayStart(daysAgo: number): Date {
  const d = new Date();
  d.setHours(0, 0, 0, 0);
  d.setDate(d.getDate() - daysAgo);
  return d;
}

/** What the health view keeps of one scrape. */
interface Health {
  readonly at: number;
  readonly requests: number;
  /** Undefined when the server exports no process metrics (an app built without them). */
  readonly rssBytes: number | undefined;
  readonly heapBytes: number | undefined;
  readonly lagSeconds: number | undefined;
  readonly startSeconds: number | undefined;
  readonly openFds: number | undefined;
  readonly poolSessions: number | undefined;
}

function health(samples: readonly Sample[]): Health {
  const has = (name: string) => samples.some((s) => s.name === name);
  const maybe = (name: string) => (has(name) ? total(samples, name) : undefined);
  return {
    at: Date.now(),
    requests: total(samples, "sessiond_http_requests_total"),
    rssBytes: maybe("process_resident_memory_bytes"),
    heapBytes: maybe("nodejs_heap_size_used_bytes"),
    lagSeconds: maybe("nodejs_eventloop_lag_seconds"),
    startSeconds: maybe("process_start_time_seconds"),
    openFds: maybe("process_open_fds"),
    poolSessions: maybe("sessiond_pool_sessions"),
  };
}

/**
 * Sessions that ended (completed, failed or timed out): what a success rate is of. A day with none
 * has no rate (the server answers 0 for it), and its chart shows a gap there, not 0 %.
 */
function ended(stats: Stats): number {
  return (stats.by_status.completed ?? 0) + (stats.by_status.failed ?? 0) + (stats.by_status.timeout ?? 0);
}

/** A number as shown, or a dash when the server does not export it. */
const shown = (value: number | undefined, format: (n: number) => string = String) => (value === undefined ? "—" : format(value));

/**
 * Counts and success rate (overall and per day, created that day), sessions per agent (of the
 * newest sessions), and the server's own health from /metrics, sampled while the page is open.
 */
export function StatsPage({ me }: { me: WhoAmI }) {
  const [overall, setOverall] = useState<Stats>();
  const [days, setDays] = useState<Day[]>([]);
  const [agents, setAgents] = useState<{ bars: Bar[]; sampled: number }>();
  const [samples, setSamples] = useState<Health[]>([]);
  const [metricsError, setMetricsError] = useState<unknown>();
  const [error, setError] = useState<unknown>();

  useEffect(() => {
    const controller = new AbortController();
    const { signal } = controller;
    void (async () => {
      try {
        setOverall(await stats({}, signal));
        const wanted = Array.from({ length: SETTINGS.statsDays }, (_, i) => SETTINGS.statsDays - 1 - i);
        const perDay = await Promise.all(
          wanted.map(async (ago) => ({
            label: dayStart(ago).toLocaleDateString(undefined, { month: "short", day: "numeric" }),
            stats: await stats({ created_after: dayStart(ago).toISOString(), created_before: dayStart(ago - 1).toISOString() }, signal),
          })),
        );
        setDays(perDay);
        const { sessions } = await listSessions({}, { limit: SETTINGS.perAgentSample }, signal);
        const byAgent = new Map<string, number>();
        for (const s of sessions) byAgent.set(s.agent_id ?? "(none)", (byAgent.get(s.agent_id ?? "(none)") ?? 0) + 1);
        const bars = [...byAgent.entries()].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])).slice(0, 15).map(([label, value]) => ({ label, value }));
        setAgents({ bars, sampled: sessions.length });
      } catch (err) {
        if (!signal.aborted) setError(err);
      }
    })();
    return () => controller.abort();
  }, []);

  // The server's health: agent tokens may not read /metrics (403), the others sample it.
  useEffect(() => {
    if (me.role === "agent") return;
    const controller = new AbortController();
    const sample = async () => {
      try {
        const h = health(await scrape(controller.signal));
        setSamples((current) => [...current, h].slice(-SETTINGS.metricsSamples));
        setMetricsError(undefined);
      } catch (err) {
        if (!controller.signal.aborted) setMetricsError(err);
      }
    };
    void sample();
    const timer = setInterval(() => void sample(), SETTINGS.metricsPollMs);
    return () => {
      controller.abort();
      clearInterval(timer);
    };
  }, [me.role]);

  const latest = samples[samples.length - 1];
  const rates: Point[] = samples.slice(1).map((s, i) => ({
    label: new Date(s.at).toLocaleTimeString(),
    value: Math.max(0, (s.requests - samples[i]!.requests) / ((s.at - samples[i]!.at) / 1000)),
  }));
  const memory: Point[] = samples.flatMap((s) => (s.rssBytes === undefined ? [] : [{ label: new Date(s.at).toLocaleTimeString(), value: s.rssBytes }]));

  return (
    <section class="stats">
      <h1>Stats</h1>
      <ErrorBanner error={error} />
      <section aria-labelledby="totals-title">
        <h2 id="totals-title">Totals</h2>
        {overall && (
          <>
            <dl class="facts">
              <div>
                <dt>Total</dt>
                <dd>{overall.total}</dd>
              </div>
              <div>
                <dt>Success rate</dt>
                <dd>{ended(overall) === 0 ? "— (none ended)" : percent(overall.success_rate / 100)}</dd>
              </div>
              <div>
                <dt>Average iterations</dt>
                <dd>{overall.average_iterations.toFixed(1)}</dd>
              </div>
              <div>
                <dt>Average duration</dt>
                <dd>{duration(overall.average_duration_ms)}</dd>
              </div>
            </dl>
            <BarChart title="Sessions by status" bars={STATUSES.map((s) => ({ label: s, value: overall.by_status[s] ?? 0 }))} />
            <BarChart title="Sessions by kind" bars={Object.entries(overall.by_kind).map(([label, value]) => ({ label, value }))} />
          </>
        )}
      </section>
      <section aria-labelledby="days-title">
        <h2 id="days-title">Over the last {SETTINGS.statsDays} days</h2>
        <LineChart title="Sessions created per day" points={days.map((d) => ({ label: d.label, value: d.stats.total }))} />
        <LineChart
          title="Success rate of the sessions created each day"
          points={days.map((d) => ({ label: d.label, value: ended(d.stats) === 0 ? null : d.stats.success_rate / 100 }))}
          format={percent}
          max={1}
          missing="no ended sessions"
        />
      </section>
      <section aria-labelledby="agents-title">
        <h2 id="agents-title">Sessions per agent</h2>
        {agents && (
          <>
            <BarChart title="Sessions per agent" bars={agents.bars} />
            <p class="note">Counted over the {agents.sampled} newest sessions.</p>
          </>
        )}
      </section>
      <section aria-labelledby="health-title">
        <h2 id="health-title">Server health</h2>
        {me.role === "agent" ? (
          <p class="note">The server's metrics are for admin and reader tokens.</p>
        ) : metricsError instanceof ApiError ? (
          <ErrorBanner error={metricsError} />
        ) : latest ? (
          <>
            <dl class="facts">
              <div>
                <dt>Up for</dt>
                <dd>{shown(latest.startSeconds, (s) => duration(Date.now() - s * 1000))}</dd>
              </div>
              <div>
                <dt>Memory (RSS)</dt>
                <dd>{shown(latest.rssBytes, bytes)}</dd>
              </div>
              <div>
                <dt>Heap used</dt>
                <dd>{shown(latest.heapBytes, bytes)}</dd>
              </div>
              <div>
                <dt>Event loop lag</dt>
                <dd>{shown(latest.lagSeconds, (s) => duration(s * 1000))}</dd>
              </div>
              <div>
                <dt>Open files</dt>
                <dd>{shown(latest.openFds)}</dd>
              </div>
              <div>
                <dt>Sessions in memory</dt>
                <dd>{shown(latest.poolSessions)}</dd>
              </div>
              <div>
                <dt>Requests answered</dt>
                <dd>{latest.requests}</dd>
              </div>
            </dl>
            <LineChart title="Requests per second" points={rates} format={(n) => n.toFixed(1)} />
            {memory.length > 0 && <LineChart title="Memory (RSS)" points={memory} format={bytes} />}
          </>
        ) : (
          <p role="status">Reading /metrics…</p>
        )}
      </section>
    </section>
  );
}
