/**
 * Small charts in plain SVG, no library: horizontal bars and a line. Each is an image with a
 * text alternative (role="img" and a label listing its values), so a screen reader gets the
 * numbers a sighted reader sees.
 */
import { useId } from "preact/hooks";
import { type Point, linePath, maxValue } from "./chart-path.js";

export type { Point } from "./chart-path.js";

export interface Bar {
  readonly label: string;
  readonly value: number;
  /** The value as shown (a duration, a percent); default the number. */
  readonly text?: string;
}

const ROW = 22;
const LABEL_WIDTH = 140;
/** Characters of a bar's label that fit its column at the chart's 12 px (a longer one ends in "…"). */
const LABEL_CHARS = 19;
const WIDTH = 520;
/** Room right of the longest bar for its value ("1.2 s (14 calls)"). */
const VALUE_WIDTH = 150;

/** One bar per item, longest first as given; values at the bars' ends. */
export function BarChart({ bars, title }: { bars: readonly Bar[]; title: string }) {
  const clip = `bar-labels-${useId()}`;
  if (bars.length === 0) return <p class="note">{title}: nothing yet.</p>;
  const max = Math.max(...bars.map((b) => b.value), 1);
  const room = WIDTH - LABEL_WIDTH - VALUE_WIDTH;
  const height = bars.length * ROW + 4;
  const summary = `${title}: ${bars.map((b) => `${b.label} ${b.text ?? b.value}`).join(", ")}`;
  return (
    <figure class="chart">
      <figcaption>{title}</figcaption>
    <svg role="img" aria-label={summary} viewBox={`0 0 ${WIDTH} ${height}`} width={WIDTH} height={height}>
      <title>{summary}</title>
      {/* A label longer than its column is cut on the right, never over its bar; its title holds it whole. */}
      <clipPath id={clip}>
        <rect x="0" y="0" width={LABEL_WIDTH - 6} height={height} />
      </clipPath>
      {bars.map((bar, i) => {
        const y = i * ROW + 2;
        const w = Math.max(1, (bar.value / max) * room);
        const long = [...bar.label].length > LABEL_CHARS;
        return (
          <g key={bar.label}>
            <text x="0" y={y + 15} class="chart-label" clip-path={`url(#${clip})`}>
              <title>{bar.label}</title>
              {long ? `${[...bar.label].slice(0, LABEL_CHARS - 1).join("")}…` : bar.label}
            </text>
            <rect x={LABEL_WIDTH} y={y + 3} width={w} height={ROW - 6} class="chart-bar" />
            <text x={LABEL_WIDTH + w + 6} y={y + 15} class="chart-value">
              {bar.text ?? String(bar.value)}
            </text>
          </g>
        );
      })}
    </svg>
    </figure>
  );
}

/**
 * A line over evenly spaced points, with the first and last labels under it. A point without a
 * value (`null`) is a gap in the line, not a zero; `missing` says so in the text alternative.
 */
export function LineChart(props: { points: readonly Point[]; title: string; format?: (n: number) => string; max?: number; missing?: string }) {
  const { points, title, format = String, max: fixedMax, missing = "none" } = props;
  if (points.length === 0) return <p class="note">{title}: nothing yet.</p>;
  const width = WIDTH;
  const height = 120;
  const pad = 24;
  const max = fixedMax ?? maxValue(points, 1);
  const x = (i: number) => pad + (points.length === 1 ? (width - 2 * pad) / 2 : (i * (width - 2 * pad)) / (points.length - 1));
  const y = (v: number) => height - pad - (v / max) * (height - 2 * pad);
  const path = linePath(points, x, y);
  const shown = (value: number | null) => (value === null ? missing : format(value));
  const summary = `${title}: ${points.map((p) => `${p.label} ${shown(p.value)}`).join(", ")}`;
  const last = points[points.length - 1]!;
  return (
    <figure class="chart">
      <figcaption>{title}</figcaption>
    <svg role="img" aria-label={summary} viewBox={`0 0 ${width} ${height}`} width={width} height={height}>
      <title>{summary}</title>
      <line x1={pad} y1={height - pad} x2={width - pad} y2={height - pad} class="chart-axis" />
      <text x={pad} y={pad - 8} class="chart-value">
        max {format(max)}
      </text>
      <path d={path} class="chart-line" fill="none" />
      {points.map((p, i) => (p.value === null ? null : <circle key={i} cx={x(i)} cy={y(p.value)} r="2.5" class="chart-dot" />))}
      <text x={pad} y={height - 6} class="chart-label">
        {points[0]!.label}
      </text>
      <text x={width - pad} y={height - 6} text-anchor="end" class="chart-label">
        {last.label}: {shown(last.value)}
      </text>
    </svg>
    </figure>
  );
}
