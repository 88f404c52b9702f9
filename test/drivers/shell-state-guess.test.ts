import { describe, expect, it } from "vitest";
import { mayChangeShellState } from "../../src/drivers/shell/shell-process.js";

describe("the guess of which shell commands may change the state recovery restores", () => {
  it.each(["export A=1", "cd /tmp", "A=1", "a[3]=x", "n+=1", "source ./env.sh", ". ./env.sh", "x=1 true"])("%s may", (input) => {
    expect(mayChangeShellState(input)).toBe(true);
  });

  it.each(["true", "ls -la", "echo hi", "grep -c = file", "make", "[ a == b ]"])("%s does not", (input) => {
    expect(mayChangeShellState(input)).toBe(false);
  });

  it("reads the longest input an exec takes in one pass (a long word made the regular expression quadratic)", () => {
    const size = 256 * 1024;
    expect(mayChangeShellState("x".repeat(size))).toBe(false);
    expect(mayChangeShellState("a[".repeat(size / 2))).toBe(false);
    expect(mayChangeShellState(`${"x".repeat(size)} y=1`)).toBe(true);
  });
});
