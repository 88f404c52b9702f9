import { describe, expect, it } from "vitest";
import { assertValidName, generateName, isUuid, newId } from "../../src/core/index.js";

describe("ids and names", () => {
  it("makes time-ordered UUID v7 ids", () => {
    const ids = Array.from({ length: 100 }, newId);
    expect(ids.every((id) => isUuid(id) && id[14] === "7")).toBe(true);
    expect([...ids].sort()).toEqual(ids);
  });

  it("generates readable names from the role, date and id", () => {
    expect(generateName("0190c0de-0000-7000-8000-0000a8b9c1d2", "Code Review!", "2026-01-27T10:00:00.000Z")).toBe(
      "code-review-2026-01-27-a8b9c1d2",
    );
  });

  it("refuses names that are empty, odd or shaped like a UUID", () => {
    for (const bad of ["", "-lead", "has space", "a/b", "x".repeat(65), newId()]) {
      expect(() => assertValidName(bad)).toThrow(expect.objectContaining({ code: "validation", field: "name" }));
    }
    expect(() => assertValidName("human-joel-2025-01-27-a8b9c1d2")).not.toThrow();
  });
});
