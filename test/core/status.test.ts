import { describe, expect, it } from "vitest";
import { SESSION_STATUSES, assertTransition, canTransition, isTerminal, transitionEventType } from "../../src/core/index.js";

const allowed = new Set([
  "active>paused", "active>completed", "active>failed", "active>timeout", "active>crashed",
  "paused>active", "paused>completed", "paused>failed", "paused>timeout", "paused>crashed",
  "crashed>active", "crashed>failed",
  "timeout>paused",
]);

describe("status machine", () => {
  for (const from of SESSION_STATUSES) {
    for (const to of SESSION_STATUSES) {
      const legal = allowed.has(`${from}>${to}`);
      it(`${legal ? "allows" : "refuses"} ${from} → ${to}`, () => {
        expect(canTransition(from, to)).toBe(legal);
        if (!legal) expect(() => assertTransition(from, to)).toThrow(expect.objectContaining({ code: "invalid_transition" }));
      });
    }
  }

  it("names the event of each move, telling recovery from resumption", () => {
    expect(transitionEventType("paused", "active")).toBe("resume");
    expect(transitionEventType("crashed", "active")).toBe("recover");
    expect(transitionEventType("active", "failed")).toBe("error");
  });

  it("treats completed, failed and timeout as terminal", () => {
    expect(SESSION_STATUSES.filter(isTerminal)).toEqual(["completed", "failed", "timeout"]);
  });
});
