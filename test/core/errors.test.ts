import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { ERROR_CODES, SessiondError } from "../../src/core/index.js";

describe("error codes", () => {
  const doc = readFileSync(new URL("../../docs/errors.md", import.meta.url), "utf8");

  it.each(Object.entries(ERROR_CODES))("documents %s with its HTTP status in docs/errors.md", (code, { status }) => {
    expect(doc).toMatch(new RegExp(`\\|\\s*\`${code}\`\\s*\\|\\s*${status}\\s*\\|`));
  });

  it("serializes to the one wire shape", () => {
    const err = new SessiondError("validation", { field: "max_iterations", reason: "expected an integer" });
    expect(JSON.parse(JSON.stringify(err))).toEqual({
      error: { code: "validation", message: "invalid max_iterations: expected an integer", field: "max_iterations" },
    });
  });
});
