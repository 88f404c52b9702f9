/**
 * The geometry of the line chart, apart from its markup: an SVG path over points of which some
 * have no value (a day without sessions has no success rate), drawn with a gap there rather than
 * as a zero.
 */

/** A point of a line chart; `value` null where there is nothing to plot. */
export interface Point {
  readonly label: string;
  readonly value: number | null;
}

/**
 * The path's `d`: a line through the points that have a value, broken where one has none (the
 * next point starts a new piece with `M`). A point alone between gaps is a piece of one point
 * (its dot shows it).
 * @example
 * linePath([{ label: "a", value: 1 }, { label: "b", value: null }, { label: "c", value: 2 }], (i) => i * 10, (v) => v)
 * // "M0.0,1.0 M20.0,2.0"
 */
export function linePath(points: readonly Point[], x: (index: number) => number, y: (value: number) => number): string {
  const parts: string[] = [];
  let inPiece = false;
  points.forEach((p, i) => {
    if (p.value === null) {
      inPiece = false;
      return;
    }
    parts.push(`${inPiece ? "L" : "M"}${x(i).toFixed(1)},${y(p.value).toFixed(1)}`);
    inPiece = true;
  });
  return parts.join(" ");
}

/** The largest value of the points that have one, or `floor` when that is larger (or none has one). */
export function maxValue(points: readonly Point[], floor: number): number {
  return points.reduce((max, p) => (p.value !== null && p.value > max ? p.value : max), floor);
}
