/** nestsDeeperThan (src/core/storable.ts): JSON's nesting read without parsing, strings skipped whole. */
import { describe, expect, it } from "vitest";
import { MAX_NESTING, nestsDeeperThan } from "../../src/core/index.js";

const deep = (levels: number) => `${"[".repeat(levels)}${"]".repeat(levels)}`;

describe("the nesting of JSON text", () => {
  it("counts objects and arrays to exactly the limit", () => {
    expect(nestsDeeperThan(deep(MAX_NESTING))).toBe(false);
    expect(nestsDeeperThan(deep(MAX_NESTING + 1))).toBe(true);
    expect(nestsDeeperThan(`{"a":${deep(MAX_NESTING - 1)}}`)).toBe(false);
    expect(nestsDeeperThan(`{"a":{"b":${deep(MAX_NESTING - 1)}}}`)).toBe(true);
  });

  it("does not count brackets inside strings, escaped quotes and backslashes included", () => {
    expect(nestsDeeperThan(JSON.stringify({ text: "[".repeat(10_000) }))).toBe(false);
    expect(nestsDeeperThan(JSON.stringify({ text: `\\"${"{".repeat(10_000)}\\` }))).toBe(false);
    expect(nestsDeeperThan(`["\\\\", ${deep(MAX_NESTING)}]`)).toBe(true);
    expect(nestsDeeperThan(`["\\"[[[", ${deep(MAX_NESTING - 1)}]`)).toBe(false);
  });

  it("stops at text that ends inside a string (JSON.parse then says what is wrong)", () => {
    expect(nestsDeeperThan(`["unterminated ${"[".repeat(1000)}`)).toBe(false);
  });
});
