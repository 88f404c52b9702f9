/**
 * BudgetedRules (src/snapshots/walk.ts) on a clock of its own: ignore rules are refused once they
 * cost more than their budget, and rules that cost what real ones do never are.
 */
import ignore from "ignore";
import { describe, expect, it } from "vitest";
import { isSessiondError } from "../../src/core/index.js";
import { BudgetedRules } from "../../src/snapshots/walk.js";

/** A clock that each match of the rules moves on by `costMs`. */
function clocked(costMs: number) {
  let now = 0;
  const rules = ignore().add(["*.log", "node_modules/"]);
  const slow = { ...rules, ignores: (path: string) => ((now += costMs), rules.ignores(path)) };
  return new BudgetedRules(slow as typeof rules, ".sessiondignore", () => now);
}

describe("ignore rules within a budget of time", () => {
  it("answers as the rules do while they cost little", () => {
    const rules = clocked(0.01);
    for (let i = 0; i < 100_000; i++) rules.ignores(`src/file-${i}.ts`);
    expect(rules.ignores("debug.log")).toBe(true);
    expect(rules.ignores("node_modules/")).toBe(true);
    expect(rules.ignores("src/index.ts")).toBe(false);
  });

  it("refuses, naming where the rules came from, once they cost more than a second and 200 µs a path", () => {
    const rules = clocked(80);
    let asked = 0;
    let refused: unknown;
    try {
      for (; asked < 1000; asked++) rules.ignores(`${"a".repeat(200)}${asked}`);
    } catch (err) {
      refused = err;
    }
    expect(isSessiondError(refused, "validation")).toBe(true);
    expect(refused).toMatchObject({ field: ".sessiondignore" });
    // 80 ms a path: the 13th passes 1,000 ms + 13 × 0.2 ms.
    expect(asked).toBe(12);
    expect((refused as Error).message).toContain("cost 1040 ms to match 13 paths");
  });
});
