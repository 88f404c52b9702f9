import { describe, expect, it } from "vitest";
import { ago } from "../src/format.js";

describe("ago", () => {
  it("says just now under a second, and the elapsed time after", () => {
    const now = Date.parse("2026-12-04T12:00:10.000Z");
    expect(ago("2026-12-04T12:00:09.900Z", now)).toBe("just now");
    expect(ago("2026-12-04T12:00:10.500Z", now)).toBe("just now");
    expect(ago("2026-12-04T12:00:05.000Z", now)).toMatch(/^5(\.0)? s ago$/);
    expect(ago("not a time", now)).toBe("—");
  });
});
