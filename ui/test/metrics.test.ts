import { describe, expect, it } from "vitest";
import { parseMetrics, total } from "../src/api/metrics.js";

const TEXT = `# HELP sessiond_http_requests_total requests answered
# TYPE sessiond_http_requests_total counter
sessiond_http_requests_total{method="GET",route="/sessions/",status="200"} 12
sessiond_http_requests_total{method="POST",route="/sessions/",status="201"} 3
process_resident_memory_bytes 52428800
sessiond_sessions{status="active"} 4
odd_label{path="a \\"quoted\\" \\\\ one"} 1
`;

describe("the health view's metrics reader", () => {
  it("reads samples with and without labels, and sums a family", () => {
    const samples = parseMetrics(TEXT);
    expect(total(samples, "sessiond_http_requests_total")).toBe(15);
    expect(total(samples, "sessiond_http_requests_total", { method: "POST" })).toBe(3);
    expect(total(samples, "process_resident_memory_bytes")).toBe(52428800);
    expect(samples.find((s) => s.name === "odd_label")?.labels.path).toBe('a "quoted" \\ one');
    expect(total(samples, "missing_family")).toBe(0);
  });
});
