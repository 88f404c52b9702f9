import { describe, expect, it } from "vitest";
import { extractBlocks } from "./extract.js";
import { parseJsonShapes } from "./json-shapes.js";

describe("the docs' code blocks", () => {
  it("finds fenced blocks in order, with their language, line and an indented fence's code unindented", () => {
    const md = ["# t", "", "```bash", "echo 1", "```", "- item:", "  ```ts", "  const x = 1;", "  ```", "```", "plain", "```"].join("\n");
    expect(extractBlocks("t.md", md)).toEqual([
      { file: "t.md", line: 3, lang: "bash", code: "echo 1\n" },
      { file: "t.md", line: 7, lang: "ts", code: "const x = 1;\n" },
      { file: "t.md", line: 10, lang: "", code: "plain\n" },
    ]);
  });

  it("reads a not-run marker on the line above a fence, blank lines between allowed", () => {
    const md = ["<!-- example: not run — needs a PostgreSQL server -->", "", "```bash", "psql", "```"].join("\n");
    expect(extractBlocks("t.md", md)[0]).toMatchObject({ notRun: "needs a PostgreSQL server" });
  });

  it("refuses a marker it does not know, a not-run marker without a reason and an unclosed fence", () => {
    expect(() => extractBlocks("t.md", ["<!-- example: skip -->", "```bash", "x", "```"].join("\n"))).toThrow(/t\.md:1: unknown example marker "skip"/);
    expect(() => extractBlocks("t.md", ["<!-- example: not run -->", "```bash", "x", "```"].join("\n"))).toThrow(/unknown example marker/);
    expect(() => extractBlocks("t.md", ["```bash", "x"].join("\n"))).toThrow(/t\.md:1: the code block is never closed/);
  });
});

describe("JSON shapes", () => {
  it("parses several values, jsonc comments and … elisions, keeping … inside strings", () => {
    const code = ['// a comment', '{"a": {…}, "b": [1, …], "c": "x…y"} // trailing', '[…]'].join("\n");
    expect(parseJsonShapes(code)).toEqual([{ a: {}, b: [1], c: "x…y" }, []]);
  });

  it("refuses what is not JSON: a request line, a bare … value, an unclosed object, nothing", () => {
    expect(() => parseJsonShapes('POST /sessions\n{"kind": "shell"}')).toThrow(/expected a JSON object or array/);
    expect(() => parseJsonShapes('{"a": …}')).toThrow();
    expect(() => parseJsonShapes('{"a": 1')).toThrow(/unclosed JSON value/);
    expect(() => parseJsonShapes("  \n")).toThrow(/no JSON value/);
  });
});
