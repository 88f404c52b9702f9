/** The package ships no types; this is the shape of what its one function returns. */
declare module "parse-prometheus-text-format" {
  interface PrometheusSample {
    labels?: Record<string, string>;
    value?: string;
    count?: string;
    sum?: string;
    buckets?: Record<string, string>;
    quantiles?: Record<string, string>;
  }
  interface PrometheusFamily {
    name: string;
    /** "" when the family has no HELP line. */
    help: string;
    /** "UNTYPED" when the family has no TYPE line. */
    type: "COUNTER" | "GAUGE" | "HISTOGRAM" | "SUMMARY" | "UNTYPED";
    metrics: PrometheusSample[];
  }
  /** Parses the Prometheus text exposition format 0.0.4; throws on a line it cannot read. */
  export default function parsePrometheusTextFormat(text: string): PrometheusFamily[];
}
