import { describe, expect, it } from "vitest";
import { diffJson } from "../src/pages/session/json-diff.js";

describe("the context diff", () => {
  it("lists added, removed and changed leaves by their path", () => {
    const { changes, more } = diffJson({ a: 1, b: { c: [1, 2] }, gone: true }, { a: 2, b: { c: [1, 2, 3] }, added: "x" }, 100);
    expect(changes).toEqual([
      { path: "a", kind: "changed", before: 1, after: 2 },
      { path: "b.c.2", kind: "added", after: 3 },
      { path: "gone", kind: "removed", before: true },
      { path: "added", kind: "added", after: "x" },
    ]);
    expect(more).toBe(false);
  });

  it("finds nothing between equal values, and compares a value that changed type whole", () => {
    expect(diffJson({ a: [1, { b: null }] }, { a: [1, { b: null }] }, 10).changes).toEqual([]);
    expect(diffJson({ a: [1] }, { a: { 0: 1 } }, 10).changes).toEqual([{ path: "a", kind: "changed", before: [1], after: { 0: 1 } }]);
  });

  it("stops at the cap and says there is more", () => {
    const before = Object.fromEntries(Array.from({ length: 50 }, (_, i) => [`k${i}`, i]));
    const { changes, more } = diffJson(before, {}, 10);
    expect(changes).toHaveLength(10);
    expect(more).toBe(true);
  });
});
