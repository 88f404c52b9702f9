import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it, vi } from "vitest";
import { DriverRegistry } from "../../src/drivers/index.js";
import { TypeScriptDriver } from "../../src/drivers/typescript/index.js";
import { replayCells } from "../../src/drivers/replay.js";
import { type TestServer, startServer } from "../server/harness.js";
import { LiveHarness, eventually, failure } from "./harness.js";

// A checked session's first cell waits for the compiler to load and parse the Node types.
vi.setConfig({ testTimeout: 60_000 });

/** Type-checked TypeScript sessions (start option `typecheck`, config `typescriptTypecheck`), real helpers. */
describe("typescript sessions that type-check", () => {
  let h: LiveHarness;
  /** Every harness a test opened (one test opens two), closed after it. */
  const opened: LiveHarness[] = [];
  const open = async (options: { typecheck?: boolean } = { typecheck: true }, flags: Record<string, unknown> = {}) => {
    h = new LiveHarness(flags);
    opened.push(h);
    return h.live.start({ kind: "typescript", ...options });
  };
  afterEach(async () => {
    if (h && !opened.includes(h)) opened.push(h);
    await Promise.all(opened.splice(0).map((harness) => harness.close()));
  });

  it("reports a type error as the cell's error, at the cell's line and column, and does not run the cell", async () => {
    const s = await open();
    const result = await h.live.exec(s.id, "console.log('ran');\nconst n: number = 'text';");
    expect(result).toMatchObject({ status: "error", exit_code: 1, stdout: "" });
    expect(result.stderr).toBe("cell-1.ts:2:7 - error TS2322: Type 'string' is not assignable to type 'number'.\n\n2 const n: number = 'text';\n        ~\n");
    // Not run: `n` was never declared in the session, and the next cell is numbered on.
    expect((await h.live.exec(s.id, "typeof (globalThis as any).n")).stdout).toBe("'undefined'\n");
  });

  it("runs a valid cell with its result, top-level await included", async () => {
    const s = await open();
    const result = await h.live.exec(s.id, "const xs: number[] = [1, 2, 3];\nconst total = await Promise.resolve(xs.reduce((a, b) => a + b, 0));\ntotal * 7");
    expect(result).toMatchObject({ status: "ok", stdout: "42\n", stderr: "" });
  });

  it("checks a cell against what earlier cells declared: variables, functions, types, classes and imports", async () => {
    const s = await open();
    const setup = [
      "const limit: number = 10;",
      "let count = 0;",
      "interface Point { x: number; y: number }",
      "function norm(p: Point): number { return Math.hypot(p.x, p.y); }",
      "class Box<T> { constructor(readonly value: T) {} }",
      "import { join } from 'node:path';",
    ].join("\n");
    expect(await h.live.exec(s.id, setup)).toMatchObject({ status: "ok", stderr: "" });
    expect((await h.live.exec(s.id, "count += norm({ x: 3, y: 4 });\nnew Box(join('a', 'b')).value.length + count")).stdout).toBe("8\n");

    const upper = await h.live.exec(s.id, "limit.toUpperCase()");
    expect(upper.stderr).toContain("cell-3.ts:1:7 - error TS2339: Property 'toUpperCase' does not exist on type 'number'.");
    const assign = await h.live.exec(s.id, "\n\ncount = 'many'");
    expect(assign.stderr).toContain("cell-4.ts:3:1 - error TS2322: Type 'string' is not assignable to type 'number'.");
    const constant = await h.live.exec(s.id, "limit = 11");
    expect(constant.stderr).toContain("error TS2588: Cannot assign to 'limit' because it is a constant.");
    const shape = await h.live.exec(s.id, "norm({ x: 1 })");
    expect(shape.stderr).toContain("error TS2345: Argument of type '{ x: number; }' is not assignable to parameter of type 'Point'.");
    const generic = await h.live.exec(s.id, "const b: Box<string> = new Box(1)");
    expect(generic.stderr).toContain("error TS2322");
    const imported = await h.live.exec(s.id, "join('a', 1)");
    expect(imported.stderr).toContain("error TS2345: Argument of type 'number' is not assignable to parameter of type 'string'.");
    for (const r of [upper, assign, constant, shape, generic, imported]) expect(r.status).toBe("error");
    // None of those ran: count is still 5.
    expect((await h.live.exec(s.id, "count")).stdout).toBe("5\n");
  });

  it("lets a cell declare a name again, with its new type from then on", async () => {
    const s = await open();
    await h.live.exec(s.id, "const value = 1");
    expect((await h.live.exec(s.id, "const value = 'again'; value.toUpperCase()")).stdout).toBe("'AGAIN'\n");
    expect((await h.live.exec(s.id, "value.toFixed()")).stderr).toContain("Property 'toFixed' does not exist on type '\"again\"'");
  });

  it("leaves a failed cell out of the state later cells are checked against", async () => {
    const s = await open();
    expect((await h.live.exec(s.id, "const typed: number = 'no'")).status).toBe("error");
    expect((await h.live.exec(s.id, "typed")).stderr).toContain("error TS2304: Cannot find name 'typed'.");
    // A cell that fails while running is left out too (a replay would not run it either).
    expect((await h.live.exec(s.id, "const thrown = 1;\nthrow new Error('boom');")).stderr).toContain("Error: boom");
    expect((await h.live.exec(s.id, "thrown")).stderr).toContain("error TS2304: Cannot find name 'thrown'.");
  });

  it("does not check when typecheck is off (the default), nor load the compiler", async () => {
    const s = await open({});
    // Without the check, a type error is only stripped: the cell runs.
    expect(await h.live.exec(s.id, "const n: number = 'text'; n")).toMatchObject({ status: "ok", stdout: "'text'\n" });
    expect((await h.manager.get(s.id)).runtime_metadata.mode_options).toBeUndefined();
    expect(readFileSync(`/proc/${h.live.describe(s.id)!.pid}/cmdline`, "utf8")).not.toContain("--typecheck");
    const off = await open({ typecheck: false }, { typescriptTypecheck: true });
    expect((await h.live.exec(off.id, "const m: number = 'text'; m")).stdout).toBe("'text'\n");
  });

  it("checks by default with config typescriptTypecheck, kept with the session", async () => {
    const s = await open({}, { typescriptTypecheck: true });
    expect((await h.manager.get(s.id)).runtime_metadata.mode_options).toEqual({ typecheck: true });
    expect((await h.live.exec(s.id, "const n: number = 'text'")).stderr).toContain("error TS2322");
  });

  it("refuses typecheck for another kind, naming it", async () => {
    h = new LiveHarness();
    const err = await failure(h.live.start({ kind: "python", typecheck: true }));
    expect(err).toMatchObject({ code: "validation", field: "typecheck" });
  });

  it("refuses typecheck without the typescript package, naming the option and the package, before any session exists", async () => {
    h = new LiveHarness();
    const drivers = new DriverRegistry().register(new TypeScriptDriver({ findPackage: () => undefined }));
    await h.live.close();
    h.live = h.openLive({ drivers });
    const err = await failure(h.live.start({ kind: "typescript", typecheck: true }));
    expect(err).toMatchObject({ code: "validation", field: "typecheck" });
    expect(err.message).toContain("typescript package");
    expect((await h.manager.list({})).items).toEqual([]);
    // Off, the package is not needed.
    const s = await h.live.start({ kind: "typescript" });
    expect((await h.live.exec(s.id, "1 + 1")).stdout).toBe("2\n");
  });

  it("fails each cell, naming why, when the helper cannot load the compiler it was given", async () => {
    h = new LiveHarness();
    // A folder that exists (the sandbox shows it) but holds no compiler.
    const notTypescript = fileURLToPath(new URL("./fixtures", import.meta.url));
    const drivers = new DriverRegistry().register(new TypeScriptDriver({ findPackage: (name) => (name === "typescript" ? notTypescript : undefined) }));
    await h.live.close();
    h.live = h.openLive({ drivers });
    const s = await h.live.start({ kind: "typescript", typecheck: true });
    const result = await h.live.exec(s.id, "console.log('ran'); 1");
    expect(result).toMatchObject({ status: "error", stdout: "" });
    expect(result.stderr).toContain(`type-checking is unavailable: cannot load typescript from ${notTypescript}`);
  });

  it("rebuilds the checker on recovery by replay: kept cells only, in order", async () => {
    const s = await open();
    await h.live.exec(s.id, "let total: number = 1");
    await h.live.exec(s.id, "const gone: string = 1");
    await h.live.exec(s.id, "total += 1");
    process.kill(h.live.describe(s.id)!.pid!, "SIGKILL");
    await eventually(async () => (await h.manager.get(s.id)).status === "crashed");
    await h.live.recover(s.id);
    const report = await replayCells(h.live, h.manager, s.id);
    expect(report).toMatchObject({ cells: 2, stopped_at: null });
    expect(report.replayed.map((r) => r.status)).toEqual(["ok", "ok"]);
    expect((await h.live.exec(s.id, "total = 'x'")).stderr).toContain("error TS2322: Type 'string' is not assignable to type 'number'.");
    expect((await h.live.exec(s.id, "gone")).stderr).toContain("error TS2304: Cannot find name 'gone'.");
    expect((await h.live.exec(s.id, "total")).stdout).toBe("2\n");
  });
});

describe("typecheck over HTTP", () => {
  let server: TestServer | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  it("takes typecheck on POST /session/start and POST /sessions/, and refuses a non-boolean naming it", async () => {
    server = await startServer({ enableSessions: true });
    const seed = await server.json({ method: "POST", url: "/session/start", body: { mode: "typescript", typecheck: true } });
    expect(seed.status).toBe(201);
    const bad = await server.json({ method: "POST", url: `/session/${seed.body.id}/exec`, body: { input: "const n: number = 'text'" } });
    expect(bad.body).toMatchObject({ status: "error", stdout: "" });
    expect(bad.body.stderr).toContain("cell-1.ts:1:7 - error TS2322");

    const created = await server.json({ method: "POST", url: "/sessions/", body: { kind: "typescript", typecheck: true } });
    expect(created.status).toBe(201);
    expect(created.body.runtime_metadata.mode_options).toEqual({ typecheck: true });

    for (const [url, body] of [
      ["/session/start", { mode: "typescript", typecheck: "yes" }],
      ["/sessions/", { kind: "typescript", typecheck: "yes" }],
    ] as const) {
      const refused = await server.json({ method: "POST", url, body });
      expect(refused.status).toBe(400);
      expect(refused.body.error).toMatchObject({ code: "validation", field: "typecheck" });
    }
  });
});
