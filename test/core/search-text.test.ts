/** The length limit of a session search (`q`): counted in UTF-16 code units, and the refusal says so. */
import { describe, expect, it } from "vitest";
import { MAX_SEARCH_LENGTH, SessionFilterSchema, isSessiondError, validate } from "../../src/core/index.js";

describe("the search text limit", () => {
  it("takes 200 UTF-16 code units: 200 ASCII characters, or 100 emoji", () => {
    expect(MAX_SEARCH_LENGTH).toBe(200);
    expect(validate(SessionFilterSchema, { q: "x".repeat(200) }).q).toHaveLength(200);
    expect(validate(SessionFilterSchema, { q: "😀".repeat(100) }).q).toHaveLength(200);
  });

  it("refuses 101 emoji naming q, and says a character past U+FFFF counts two", () => {
    let refusal: unknown;
    try {
      validate(SessionFilterSchema, { q: "😀".repeat(101) }, "query");
    } catch (err) {
      refusal = err;
    }
    expect(isSessiondError(refusal, "validation")).toBe(true);
    expect((refusal as Error).message).toBe("invalid query.q: expected at most 200 UTF-16 code units (a character past U+FFFF, such as most emoji, counts two)");
  });
});
