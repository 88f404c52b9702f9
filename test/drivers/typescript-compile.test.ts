import vm from "node:vm";
import { describe, expect, it } from "vitest";
import { type CompiledCell, compileCell } from "../../src/drivers/typescript/index.js";

/** Runs compiled cells one after the other in one context, as the helper does (without imports). */
async function runCells(...cells: string[]): Promise<unknown[]> {
  const context = vm.createContext({});
  const values: unknown[] = [];
  for (const [i, source] of cells.entries()) {
    const compiled = (await compileCell(source, i + 1)) as CompiledCell;
    expect(compiled).not.toHaveProperty("error");
    let result = new vm.Script(compiled.code, { filename: `cell-${i + 1}.ts` }).runInContext(context);
    if (compiled.async) result = await result;
    values.push(compiled.hasValue ? (result as { value: unknown }).value : undefined);
  }
  return values;
}

describe("compiling a TypeScript cell", () => {
  it("skips esbuild for plain JavaScript and keeps the cell's positions", async () => {
    const compiled = (await compileCell("let a = 1\nthrow new Error(a)", 1)) as CompiledCell;
    expect(compiled.map).toBeUndefined();
    expect(compiled.code.split("\n")[1]).toBe("throw new Error(a)");
  });

  it("transpiles type syntax, and type arguments are never read as comparisons", async () => {
    const compiled = (await compileCell("const m = new Map<string, number>([['a', 1]]);\nm.get('a')", 1)) as CompiledCell;
    expect(compiled.map).toBeDefined();
    expect(await runCells("const m = new Map<string, number>([['a', 1]]);\nm.get('a')")).toEqual([1]);
  });

  it("puts declarations of every kind on the context, destructuring included", async () => {
    const values = await runCells(
      "const { a, b: [c, ...rest] } = { a: 1, b: [2, 3, 4] }; let u; var v = 5",
      "function f() { return a + c + rest.length + v; } class K { static k = 'k' }",
      "[f(), K.k, u]",
    );
    expect(values[2]).toEqual([10, "k", undefined]);
  });

  it("returns the last expression, also when it is a lone string or an awaited value", async () => {
    expect(await runCells("'just text'", "await Promise.resolve(3)", "const x = 1", "x; x + 1")).toEqual(["just text", 3, undefined, 2]);
  });

  it("names the line and column of a syntax error", async () => {
    expect(await compileCell("let ok = 1\nlet x: = 2", 4)).toEqual({ error: expect.stringMatching(/SyntaxError: .*\(line 2, column 8\)/) });
  });
});
