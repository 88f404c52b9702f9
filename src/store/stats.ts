import type { SessionStats } from "../core/index.js";

/** One row of the stats aggregate: the sessions sharing a status, mode and kind. */
export interface StatsGroup {
  status: string;
  mode: string | null;
  kind: string;
  n: number;
  iterations: number;
  ended: number;
  duration_ms: number;
}

/** Folds the per-group aggregates of a stats query into the stats shape (shared by every store). */
export function statsFromGroups(groups: readonly StatsGroup[]): SessionStats {
  const stats: SessionStats = {
    total: 0,
    by_status: {},
    by_mode: {},
    by_kind: {},
    success_rate: 0,
    average_iterations: 0,
    average_duration_ms: 0,
  };
  let iterations = 0;
  let ended = 0;
  let durationMs = 0;
  for (const g of groups) {
    const n = Number(g.n);
    stats.total += n;
    stats.by_status[g.status] = (stats.by_status[g.status] ?? 0) + n;
    const mode = g.mode ?? "none";
    stats.by_mode[mode] = (stats.by_mode[mode] ?? 0) + n;
    stats.by_kind[g.kind] = (stats.by_kind[g.kind] ?? 0) + n;
    iterations += Number(g.iterations);
    ended += Number(g.ended);
    durationMs += Number(g.duration_ms);
  }
  const completed = stats.by_status.completed ?? 0;
  const finished = completed + (stats.by_status.failed ?? 0) + (stats.by_status.timeout ?? 0);
  stats.success_rate = finished ? round2((completed / finished) * 100) : 0;
  stats.average_iterations = stats.total ? round2(iterations / stats.total) : 0;
  stats.average_duration_ms = ended ? Math.round(durationMs / ended) : 0;
  return stats;
}

function round2(n: number): number {
  return Math.round(n * 100) / 100;
}
