import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { OutputEvent } from "../../src/drivers/index.js";
import { LiveHarness, eventually } from "./harness.js";

vi.setConfig({ testTimeout: 30_000 });

describe("typescript sessions", () => {
  let h: LiveHarness;
  const open = async (flags: Record<string, unknown> = {}, cwd?: string) => {
    h = new LiveHarness(flags);
    return h.live.start({ kind: "typescript", ...(cwd ? { cwd } : {}) });
  };
  afterEach(async () => {
    await h?.close();
  });

  it("keeps const, let, function and class declarations across cells, with TypeScript syntax", async () => {
    const s = await open();
    const first = await h.live.exec(
      s.id,
      [
        "interface Point { x: number; y: number }",
        "const origin: Point = { x: 0, y: 0 };",
        "let count: number = 1, { x: ox } = origin;",
        "function norm(p: Point): number { return Math.hypot(p.x, p.y); }",
        "class Counter { n = 0; inc(): number { return ++this.n; } }",
        "enum Color { Red = 'red' }",
      ].join("\n"),
    );
    expect(first).toMatchObject({ status: "ok", stderr: "" });
    const second = await h.live.exec(s.id, "const c = new Counter(); c.inc(); count += c.inc();\n[norm({ x: 3, y: 4 }), count, ox, typeof origin]");
    expect(second.stdout).toBe("[ 5, 3, 0, 'object' ]\n");
    // Declaring again is allowed, like in a REPL.
    expect((await h.live.exec(s.id, "const count = 'again'; count")).stdout).toBe("'again'\n");
  });

  it("shows the last expression with util.inspect and nothing for undefined", async () => {
    const s = await open();
    expect((await h.live.exec(s.id, "({ a: 1, b: [1, 2] })")).stdout).toBe("{ a: 1, b: [ 1, 2 ] }\n");
    expect((await h.live.exec(s.id, "'text'")).stdout).toBe("'text'\n");
    expect((await h.live.exec(s.id, "undefined")).stdout).toBe("");
    expect((await h.live.exec(s.id, "let nothing: string")).stdout).toBe("");
  });

  it("runs top-level await, and keeps what an awaiting cell declares", async () => {
    const s = await open();
    const result = await h.live.exec(s.id, "const v = await new Promise<number>((r) => setTimeout(() => r(7), 1));\nv * 6");
    expect(result).toMatchObject({ status: "ok", stdout: "42\n" });
    expect((await h.live.exec(s.id, "v")).stdout).toBe("7\n");
  });

  it("captures console output on stdout and stderr", async () => {
    const s = await open();
    const result = await h.live.exec(s.id, "console.log('out', 1); console.error('err'); console.log({ k: 'v' })");
    expect(result).toMatchObject({ stdout: "out 1\n{ k: 'v' }\n", stderr: "err\n" });
  });

  it("reports a thrown error with a stack pointing at the cell's own line and column", async () => {
    const s = await open();
    await h.live.exec(s.id, "type T = { a: string };\n\nfunction boom(t: T): never {\n  throw new Error(`bad ${t.a}`);\n}");
    const result = await h.live.exec(s.id, "const t: T = { a: 'input' };\nboom(t);");
    expect(result).toMatchObject({ status: "error", exit_code: 1 });
    expect(result.stderr).toContain("Error: bad input");
    expect(result.stderr).toContain("at boom (cell-1.ts:4:9)");
    expect(result.stderr).toContain("cell-2.ts:2:1");
    expect(result.stderr).not.toContain("helper.mjs");
    expect((await h.live.exec(s.id, "t.a")).stdout).toBe("'input'\n");
  });

  it("maps the positions of the first 64 KiB of a stack, and leaves a cell's megabytes of them as they came", async () => {
    const s = await open();
    await h.live.exec(s.id, "type T = { a: string };\n\nfunction boom(t: T): never {\n  throw new Error(`bad ${t.a}`);\n}");
    // A stack the cell makes itself: a position of cell 1 mapped in its head, 200,000 of them after it.
    const cell = "const e = new Error('many'); e.stack = `Error: many\\n    at boom (cell-1.ts:4:9)\\n` + '    at x (cell-1.ts:4:9)\\n'.repeat(200_000); throw e;";
    const result = await h.live.exec(s.id, cell);
    expect(result).toMatchObject({ status: "error", exit_code: 1 });
    const lines = result.stderr.split("\n");
    expect(lines[1]).not.toContain("cell-1.ts:4:9");
    expect(lines.at(-2)).toBe("    at x (cell-1.ts:4:9)");
  });

  it("reports a syntax error as a result naming its line and column", async () => {
    const s = await open();
    const result = await h.live.exec(s.id, "const ok = 1;\nconst = 2;");
    expect(result.status).toBe("error");
    expect(result.stderr).toMatch(/SyntaxError: .*\(line 2, column 7\)/);
    expect((await h.live.exec(s.id, "1 + 1")).stdout).toBe("2\n");
  });

  it("imports node built-ins and packages installed in the workspace", async () => {
    // Installed in the workspace after the start: the sandbox shows the session its workspace only.
    const s = await open();
    const cwd = s.workspace!;
    mkdirSync(join(cwd, "node_modules", "greeter"), { recursive: true });
    writeFileSync(join(cwd, "node_modules", "greeter", "package.json"), JSON.stringify({ name: "greeter", main: "index.js" }));
    writeFileSync(join(cwd, "node_modules", "greeter", "index.js"), "exports.greet = (n) => `hello ${n}`;");
    mkdirSync(join(cwd, "node_modules", "esm-only"), { recursive: true });
    writeFileSync(join(cwd, "node_modules", "esm-only", "package.json"), JSON.stringify({ name: "esm-only", type: "module", exports: { ".": { import: "./index.js" } } }));
    writeFileSync(join(cwd, "node_modules", "esm-only", "index.js"), "export const answer = 42; export default 'esm default';");
    const result = await h.live.exec(s.id, "import { join } from 'node:path';\nimport * as os from 'os';\nimport { greet } from 'greeter';\nimport dflt, { answer } from 'esm-only';");
    expect(result).toMatchObject({ status: "ok", stderr: "" });
    expect((await h.live.exec(s.id, "[join('a', 'b'), typeof os.cpus, greet('ts'), dflt, answer]")).stdout).toBe("[ 'a/b', 'function', 'hello ts', 'esm default', 42 ]\n");
    // import() as well, from the same places, anywhere in a cell, in TypeScript and in plain JavaScript.
    writeFileSync(join(cwd, "local.mjs"), "export const here = 'local';");
    const dynamic = "const fs = await import('node:fs');\nconst pick = async (m: string) => (await import(m)).answer;\n[typeof fs.readFileSync, (await import('greeter')).greet('dyn'), await pick('esm-only'), (await import('./local.mjs')).here]";
    expect((await h.live.exec(s.id, dynamic)).stdout).toBe("[ 'function', 'hello dyn', 42, 'local' ]\n");
    expect((await h.live.exec(s.id, "await import('node:path').then((m) => m.sep)")).stdout).toBe("'/'\n");
  });

  it("streams console output while a cell runs, and interrupts a pending await", async () => {
    const s = await open();
    const chunks: OutputEvent[] = [];
    h.live.onOutput((e) => chunks.push(e));
    const running = h.live.exec(s.id, "console.log('waiting');\nawait new Promise(() => {});");
    await eventually(() => chunks.filter((c) => c.session_id === s.id).map((c) => c.data.toString()).join("") === "waiting\n");
    expect((await h.live.interrupt(s.id)).interrupted).toBe(true);
    const result = await running;
    expect(result.status).toBe("interrupted");
    expect(result.stderr).toContain("Interrupted");
    expect((await h.live.exec(s.id, "'alive'")).stdout).toBe("'alive'\n");
  });

  it("breaks a synchronous busy loop at its timeout", async () => {
    const s = await open();
    const result = await h.live.exec(s.id, "let spins = 0;\nwhile (true) { spins++; }", { timeout_ms: 300 });
    expect(result.status).toBe("timeout");
    expect(result.stderr).toContain("Script execution was interrupted");
    expect((await h.live.exec(s.id, "spins > 0")).stdout).toBe("true\n");
  });

  it("survives an error thrown later by a timer of an earlier cell", async () => {
    const s = await open();
    await h.live.exec(s.id, "setTimeout(() => { throw new Error('late'); }, 1)");
    await new Promise((r) => setTimeout(r, 50));
    expect((await h.live.exec(s.id, "'still here'")).stdout).toBe("'still here'\n");
    expect(h.live.describe(s.id)).toBeDefined();
  });
});
