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

  it("generates seed 002's human-<user>-<date>-<8 hex> when there is a user, cut to a name's characters", () => {
    const id = "0190c0de-0000-7000-8000-0000a8b9c1d2";
    const at = "2025-01-27T10:00:00.000Z";
    expect(generateName(id, "developer", at, "joel")).toBe("human-joel-2025-01-27-a8b9c1d2");
    expect(generateName(id, "developer", at, " Joel.Smith@Example/x ")).toBe("human-joel-smith-example-x-2025-01-27-a8b9c1d2");
    expect(generateName(id, "developer", at, "ünï")).toBe("human-n-2025-01-27-a8b9c1d2");
    for (const none of [null, undefined, "", "@@@", "日本"]) expect(generateName(id, "developer", at, none)).toBe("developer-2025-01-27-a8b9c1d2");
    const long = generateName(id, "developer", at, "u".repeat(200));
    expect(long).toBe(`human-${"u".repeat(32)}-2025-01-27-a8b9c1d2`);
    expect(() => assertValidName(`${long}-ab12`)).not.toThrow();
  });

  it("refuses names that are empty, odd or shaped like a UUID", () => {
    for (const bad of ["", "-lead", "has space", "a/b", "x".repeat(65), newId()]) {
      expect(() => assertValidName(bad)).toThrow(expect.objectContaining({ code: "validation", field: "name" }));
    }
    expect(() => assertValidName("human-joel-2025-01-27-a8b9c1d2")).not.toThrow();
  });
});
