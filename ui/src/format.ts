/** How times, durations and sizes read on the page. */

/** "3 s", "4 min", "2 h", "5 d" from milliseconds. */
export function duration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return "—";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s < 10 ? s.toFixed(1) : Math.round(s)} s`;
  const min = s / 60;
  if (min < 60) return `${Math.round(min)} min`;
  const h = min / 60;
  if (h < 48) return `${Math.round(h)} h`;
  return `${Math.round(h / 24)} d`;
}

/** "4 min ago" from an ISO time. */
export function ago(iso: string, now = Date.now()): string {
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return "—";
  const elapsed = Math.max(0, now - t);
  // Under a second the exact milliseconds say nothing a person can use.
  return elapsed < 1000 ? "just now" : `${duration(elapsed)} ago`;
}

/** "1.2 MB" from bytes. */
export function bytes(n: number): string {
  if (!Number.isFinite(n)) return "—";
  if (n < 1024) return `${n} B`;
  const units = ["KB", "MB", "GB", "TB"];
  let value = n;
  let unit = -1;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value < 10 ? value.toFixed(1) : Math.round(value)} ${units[unit]}`;
}

/** A local date and time, for titles and tables. */
export function when(iso: string): string {
  const t = new Date(iso);
  return Number.isNaN(t.getTime()) ? iso : t.toLocaleString();
}

export function percent(ratio: number): string {
  // One decimal at most, none when it is 0: 75 %, 66.7 %.
  return Number.isFinite(ratio) ? `${Number((ratio * 100).toFixed(1))} %` : "—";
}
