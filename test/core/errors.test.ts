import { readFileSync } from "node:fs";
import { describe, expect, it, vi } from "vitest";
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

describe("SessiondError across copies of its module", () => {
  it("is an instanceof SessiondError whichever copy made it, and plain errors are not", async () => {
    const first = await import("../../src/core/errors.js");
    vi.resetModules();
    const second = await import("../../src/core/errors.js");
    expect(second.SessiondError).not.toBe(first.SessiondError); // really two copies, as in the CLI bundle

    const fromSecond = second.errors.validation("limit", "must be a number");
    expect(fromSecond).toBeInstanceOf(first.SessiondError);
    expect(first.isSessiondError(fromSecond, "validation")).toBe(true);
    expect(new Error("plain")).not.toBeInstanceOf(first.SessiondError);
    expect(Object.assign(new Error("look-alike"), { name: "SessiondError", code: "validation" })).not.toBeInstanceOf(first.SessiondError);
    expect(JSON.stringify(fromSecond)).toBe('{"error":{"code":"validation","message":"' + fromSecond.message + '","field":"limit"}}');
  });
});
