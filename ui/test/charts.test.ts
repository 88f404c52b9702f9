import { describe, expect, it } from "vitest";
import { linePath, maxValue } from "../src/components/chart-path.js";
import { timePerTool } from "../src/pages/session/tool-time.js";

describe("the charts' numbers", () => {
  it("draws a line with a gap where a point has no value, not a drop to zero", () => {
    const points = [
      { label: "Mon", value: 0.5 },
      { label: "Tue", value: null },
      { label: "Wed", value: 1 },
      { label: "Thu", value: 0.75 },
    ];
    expect(linePath(points, (i) => i * 10, (v) => v * 100)).toBe("M0.0,50.0 M20.0,100.0 L30.0,75.0");
    expect(linePath([{ label: "x", value: null }], (i) => i, (v) => v)).toBe("");
    expect(maxValue(points, 0)).toBe(1);
    expect(maxValue([{ label: "x", value: null }], 1)).toBe(1);
  });

  it("charts a tool call without a duration as having none, as the table's dash says, not as 0 ms", () => {
    const bars = timePerTool([
      { tool: "grep", duration_ms: 1500 },
      { tool: "ls", duration_ms: undefined },
      { tool: "grep", duration_ms: undefined },
    ]);
    expect(bars).toEqual([
      { label: "grep", value: 1500, text: "1.5 s (2 calls, 1 without a duration)" },
      { label: "ls", value: 0, text: "no duration (1 call)" },
    ]);
    expect(timePerTool([{ tool: "grep", duration_ms: 20 }])[0]!.text).toBe("20 ms (1 call)");
  });
});
