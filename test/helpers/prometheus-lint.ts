import parsePrometheusTextFormat, { type PrometheusFamily } from "parse-prometheus-text-format";

/**
 * The checks `promtool check metrics` makes of a Prometheus text exposition (0.0.4), and a few
 * the format's spec asks that it leaves to the scraper. promtool reads the text with the Go
 * text parser, then lints each family (client_golang `testutil/promlint`). Covered here:
 *
 * - the parser's: metric names match `^[a-zA-Z_:][a-zA-Z0-9_:]*$`, label names
 *   `^[a-zA-Z_][a-zA-Z0-9_]*$`; a family has at most one HELP and one TYPE, its TYPE comes
 *   before its samples, and its samples are one group (no family twice); no label twice in a
 *   sample; a histogram's `_bucket` samples carry `le`.
 * - promlint's: `lintHelp` (every family has HELP), `lintCounter` (counters end in `_total`,
 *   nothing else does), `lintMetricUnits` (base units: `_seconds` not `_milliseconds`, `_bytes`
 *   not `_kilobytes`/`_bits`…), `lintUnitAbbreviations` (no `_ms`, `_sec`, `_kb`…),
 *   `lintHistogramSummaryReserved` (`_bucket`, `_sum`, `_count`, `le`, `quantile` only where
 *   they belong), `lintMetricTypeInName` (no `_counter`, `_gauge`…), `lintReservedChars` (no
 *   `:`, which is for recording rules), `lintCamelCase` (metric and label names), and the
 *   "metric not unique" check (the same series twice).
 *
 * Beyond promtool: every family has a TYPE (an untyped family tells dashboards nothing), label
 * names do not start with `__` (reserved), and each histogram series' buckets rise in `le`, are
 * cumulative, and end at `+Inf` equal to `_count`.
 */
export function lintExposition(text: string): { families: PrometheusFamily[]; problems: string[] } {
  const problems: string[] = [];
  let families: PrometheusFamily[];
  try {
    families = parsePrometheusTextFormat(text);
  } catch (err) {
    return { families: [], problems: [`does not parse: ${(err as Error).message}`] };
  }
  const seenFamilies = new Set<string>();
  for (const family of families) {
    if (seenFamilies.has(family.name)) problems.push(`${family.name}: family appears twice`);
    seenFamilies.add(family.name);
    problems.push(...lintFamily(family).map((p) => `${family.name}: ${p}`));
  }
  problems.push(...lintLines(text));
  return { families, problems };
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const CAMEL_CASE = /[a-z][A-Z]/;
const TYPES_IN_NAME = ["counter", "gauge", "histogram", "summary"];
const UNIT_ABBREVIATIONS = ["s", "ms", "us", "ns", "sec", "b", "kb", "mb", "gb", "tb", "pb", "m", "h", "d"];
const BASE_UNITS = ["amperes", "bytes", "celsius", "grams", "joules", "kelvin", "meters", "metres", "seconds", "volts"];
const NON_BASE_UNITS = ["minutes", "hours", "days", "weeks", "kelvins", "fahrenheit", "rankine", "inches", "yards", "miles", "bits", "calories", "pounds", "ounces"];
const UNIT_PREFIXES = ["pico", "nano", "micro", "milli", "centi", "deci", "deca", "hecto", "kilo", "kibi", "mega", "mibi", "giga", "gibi", "tera", "tebi", "peta", "pebi"];

function lintFamily({ name, help, type }: PrometheusFamily): string[] {
  const problems: string[] = [];
  if (!METRIC_NAME.test(name)) problems.push("not a valid metric name");
  if (!help) problems.push("no help text");
  if (type === "UNTYPED") problems.push("no TYPE");
  const isCounter = type === "COUNTER";
  const hasTotal = name.endsWith("_total");
  if (isCounter && !hasTotal) problems.push('counter metrics should have "_total" suffix');
  if (!isCounter && type !== "UNTYPED" && hasTotal) problems.push('non-counter metrics should not have "_total" suffix');
  if (type !== "HISTOGRAM" && name.endsWith("_bucket")) problems.push('non-histogram metrics should not have "_bucket" suffix');
  if (type !== "HISTOGRAM" && type !== "SUMMARY" && (name.endsWith("_count") || name.endsWith("_sum"))) {
    problems.push('non-histogram and non-summary metrics should not have "_count" or "_sum" suffix');
  }
  const words = name.toLowerCase().split("_");
  for (const t of TYPES_IN_NAME) if (words.slice(1).includes(t)) problems.push(`metric name should not include type '${t}'`);
  if (name.includes(":")) problems.push("metric names should not contain ':'");
  if (CAMEL_CASE.test(name)) problems.push("metric names should be written in 'snake_case' not 'camelCase'");
  if (words.slice(1).some((w) => UNIT_ABBREVIATIONS.includes(w))) problems.push("metric names should not contain abbreviated units");
  for (const word of words) {
    const unit = [...BASE_UNITS, ...NON_BASE_UNITS].find((u) => word === u || UNIT_PREFIXES.some((p) => word === p + u));
    if (unit && !BASE_UNITS.includes(word)) problems.push(`use a base unit instead of "${word}"`);
  }
  return problems;
}

interface SampleLine {
  name: string;
  labels: [string, string][];
  value: string;
}

/** A sample line: `name{label="value",…} value [timestamp]`. Label values may hold escaped quotes. */
function parseSample(line: string): SampleLine | undefined {
  const match = /^([^\s{]+)(?:\{(.*)\})?\s+(\S+)(?:\s+\S+)?$/.exec(line);
  if (!match) return undefined;
  const labels: [string, string][] = [];
  const block = match[2] ?? "";
  const pair = /\s*([^\s=,]+)\s*=\s*"((?:[^"\\]|\\.)*)"\s*(?:,|$)/y;
  let m: RegExpExecArray | null;
  while (pair.lastIndex < block.length && (m = pair.exec(block))) labels.push([m[1]!, m[2]!]);
  if (pair.lastIndex !== block.length && block.trim() !== "") return undefined;
  return { name: match[1]!, labels, value: match[3]! };
}

/** The checks the parser makes line by line, and histogram buckets. */
function lintLines(text: string): string[] {
  const problems: string[] = [];
  const helps = new Set<string>();
  const types = new Map<string, string>();
  const closed = new Set<string>();
  const series = new Set<string>();
  let current: string | undefined;
  // Per histogram series (its labels without le): the buckets in order, then _count.
  const histograms = new Map<string, { les: number[]; counts: number[]; count?: number }>();
  for (const line of text.split("\n")) {
    if (line.trim() === "") continue;
    const meta = /^# (HELP|TYPE) (\S+)(?: (.*))?$/.exec(line);
    if (meta) {
      const [, kind, name] = meta as unknown as [string, string, string];
      if (current !== name) {
        if (current !== undefined) closed.add(current);
        if (closed.has(name)) problems.push(`${name}: family appears twice`);
        current = name;
      }
      if (kind === "HELP") {
        if (helps.has(name)) problems.push(`${name}: second HELP line`);
        helps.add(name);
      } else {
        if (types.has(name)) problems.push(`${name}: second TYPE line`);
        types.set(name, (meta[3] ?? "").trim());
      }
      continue;
    }
    if (line.startsWith("#")) continue;
    const sample = parseSample(line);
    if (!sample) {
      problems.push(`unreadable sample line: ${line}`);
      continue;
    }
    const type = current === undefined ? undefined : types.get(current);
    const suffix = sample.name.slice(current?.length ?? 0);
    const allowed = type === "histogram" ? ["", "_bucket", "_sum", "_count"] : type === "summary" ? ["", "_sum", "_count"] : [""];
    if (current === undefined || !sample.name.startsWith(current) || !allowed.includes(suffix)) {
      problems.push(`${sample.name}: sample outside its family's group (after ${current ?? "nothing"})`);
      continue;
    }
    if (!METRIC_NAME.test(sample.name)) problems.push(`${sample.name}: not a valid metric name`);
    const names = sample.labels.map(([n]) => n);
    for (const n of names) {
      if (!LABEL_NAME.test(n)) problems.push(`${current}: label name ${JSON.stringify(n)} is not valid`);
      else if (n.startsWith("__")) problems.push(`${current}: label name ${n} is reserved`);
      if (CAMEL_CASE.test(n)) problems.push(`${current}: label names should be written in 'snake_case' not 'camelCase'`);
      if (n === "le" && type !== "histogram") problems.push(`${current}: non-histogram metrics should not have "le" label`);
      if (n === "quantile" && type !== "summary") problems.push(`${current}: non-summary metrics should not have "quantile" label`);
    }
    if (new Set(names).size !== names.length) problems.push(`${current}: a label appears twice in one sample`);
    const key = `${sample.name}{${[...sample.labels].sort(([a], [b]) => (a < b ? -1 : 1)).map(([n, v]) => `${n}=${v}`).join(",")}}`;
    if (series.has(key)) problems.push(`${current}: metric not unique: ${key}`);
    series.add(key);
    if (type === "histogram" && (suffix === "_bucket" || suffix === "_count")) {
      const id = `${current}{${sample.labels.filter(([n]) => n !== "le").map(([n, v]) => `${n}=${v}`).join(",")}}`;
      const h = histograms.get(id) ?? { les: [], counts: [] };
      histograms.set(id, h);
      if (suffix === "_count") h.count = Number(sample.value);
      else {
        const le = sample.labels.find(([n]) => n === "le")?.[1];
        if (le === undefined) problems.push(`${current}: a _bucket sample without le`);
        else {
          h.les.push(le === "+Inf" ? Infinity : Number(le));
          h.counts.push(Number(sample.value));
        }
      }
    }
  }
  for (const [id, h] of histograms) {
    if (h.les.at(-1) !== Infinity) problems.push(`${id}: no +Inf bucket`);
    if (h.les.some((le, i) => Number.isNaN(le) || (i > 0 && le <= h.les[i - 1]!))) problems.push(`${id}: bucket bounds do not rise`);
    if (h.counts.some((c, i) => i > 0 && c < h.counts[i - 1]!)) problems.push(`${id}: bucket counts are not cumulative`);
    if (h.count !== h.counts.at(-1)) problems.push(`${id}: the +Inf bucket is not _count`);
  }
  return problems;
}
