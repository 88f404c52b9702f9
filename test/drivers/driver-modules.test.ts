import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { request as httpRequest } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { describe, expect, it, vi } from "vitest";
import { resolveConfig } from "../../src/core/index.js";
import { SessionManager } from "../../src/engine/index.js";
import { checkDriver, loadDriverModules, silentLog } from "../../src/drivers/index.js";
import { buildApp } from "../../src/server/index.js";
import { openSqliteStore } from "../../src/store/index.js";
import { calcDriver } from "../../examples/calc-mode.js";
import { compiledCli } from "../helpers/compiled-tree.js";
import { CLI_FROM_SOURCES, perTestChildren, runNode, startNode } from "../helpers/run-node.js";

/**
 * A mode from outside the build (docs/drivers.md): examples/calc-mode.ts loaded by a real
 * `sessiond serve` from config `driverModules` and run through seed 000's routes; driver modules
 * that do not load or export no driver stop the start naming the module.
 */

vi.setConfig({ testTimeout: 120_000 });

const ROOT = new URL("../../", import.meta.url).pathname;
const CALC = join(ROOT, "examples/calc-mode.ts");
/** A server that loads examples/calc-mode.ts runs through tsx, as docs/drivers.md says a `.ts` driver module needs. */
const CLI_WITH_TSX = CLI_FROM_SOURCES;
/** The rest run `sessiond` as it ships, compiled to plain JavaScript (test/helpers/compiled-tree.ts). */
const CLI = [compiledCli()];

const { dirs, children } = perTestChildren();

/** A working directory with the given files, and a data dir beside it. */
function layout(files: Record<string, string> = {}) {
  const root = mkdtempSync(join(tmpdir(), "sessiond-drivers-"));
  dirs.push(root);
  const cwd = join(root, "work");
  const home = join(root, "home");
  mkdirSync(cwd);
  mkdirSync(home, { mode: 0o700 });
  for (const [name, text] of Object.entries(files)) writeFileSync(join(cwd, name), text);
  return { cwd, home };
}

const serverEnv = (home: string, modules: string[]) => ({
  SESSIOND_HOME: home,
  ENABLE_SESSIONS: "true",
  SESSIOND_SANDBOX: "none",
  SESSIOND_DRIVER_MODULES: "",
  SESSIOND_CONFIG: writeConfig(home, modules),
});

function writeConfig(home: string, modules: string[]): string {
  const file = join(home, "..", "config.json");
  writeFileSync(file, JSON.stringify({ driverModules: modules }));
  return file;
}

async function serve(cwd: string, home: string, modules: string[]) {
  const started = startNode([...CLI_WITH_TSX, "serve", "--port", "0"], { cwd, env: serverEnv(home, modules) });
  children.push(started.child);
  for (;;) {
    const line = started.lines.find((l) => l.includes("sessiond listening"));
    if (line) return { ...started, port: (JSON.parse(line) as { port: number }).port, token: readFileSync(join(home, "token"), "utf8").trim() };
    if (started.child.exitCode !== null) throw new Error(`the server exited:\n${started.lines.join("\n")}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function call(port: number, token: string, method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { authorization: `Bearer ${token}` };
    if (body !== undefined) headers["content-type"] = "application/json";
    const req = httpRequest({ host: "127.0.0.1", port, method, path, agent: false, headers }, (res) => {
      let text = "";
      res.on("data", (c) => (text += c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: text ? JSON.parse(text) : undefined }));
    });
    req.on("error", reject);
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

describe("a mode from a driver module, on a real sessiond serve", () => {
  it("starts calc sessions that keep their variables across execs, lists them, logs their execs and stops them", async () => {
    const { cwd, home } = layout();
    const server = await serve(cwd, home, [CALC]);
    const { port, token } = server;
    expect(server.lines.some((l) => l.includes("driver modules loaded") && l.includes('"calc"'))).toBe(true);

    const started = await call(port, token, "POST", "/session/start", { mode: "calc" });
    expect(started.status).toBe(201);
    const id = started.body.id as string;

    const set = await call(port, token, "POST", `/session/${id}/exec`, { input: "r = 2\nunit = 0.5" });
    expect(set.body).toMatchObject({ status: "ok", exit_code: 0, stdout: "" });
    const read = await call(port, token, "POST", `/session/${id}/exec`, { input: "7 * unit * r^2\n(r + 1) % 2" });
    expect(read.body).toMatchObject({ status: "ok", exit_code: 0, stdout: "14\n1\n" });
    // A failing line is the exec's result, and the variables stay as they were.
    const failed = await call(port, token, "POST", `/session/${id}/exec`, { input: "r = 100\nr / nope" });
    expect(failed.status).toBe(200);
    expect(failed.body).toMatchObject({ status: "error", exit_code: 1, stderr: "line 2: nope is not defined\n" });
    expect((await call(port, token, "POST", `/session/${id}/exec`, { input: "r" })).body.stdout).toBe("2\n");

    const listed = await call(port, token, "GET", "/session/list");
    expect(listed.body).toEqual(expect.arrayContaining([expect.objectContaining({ id, mode: "calc", server: "local" })]));

    const logs = await call(port, token, "GET", `/session/${id}/logs`);
    expect(logs.status).toBe(200);
    const entries = logs.body as { input: string; stdout: string; exit_code: number }[];
    expect(entries.map((e) => [e.input, e.stdout, e.exit_code])).toEqual([
      ["r = 2\nunit = 0.5", "", 0],
      ["7 * unit * r^2\n(r + 1) % 2", "14\n1\n", 0],
      ["r = 100\nr / nope", "", 1],
      ["r", "2\n", 0],
    ]);

    expect((await call(port, token, "POST", `/session/${id}/stop`, {})).status).toBeLessThan(300);
    const after = await call(port, token, "POST", `/session/${id}/exec`, { input: "1 + 1" });
    expect(after.status).toBe(409);
    expect((await call(port, token, "GET", `/sessions/${id}`)).body).toMatchObject({ kind: "calc", status: "completed" });

    server.child.kill("SIGTERM");
    expect(await server.exited).toBe(0);
  });

  it("refuses a mode no driver module registered, listing the enabled ones with calc", async () => {
    const { cwd, home } = layout();
    const server = await serve(cwd, home, [CALC]);
    const refused = await call(server.port, server.token, "POST", "/session/start", { mode: "abacus" });
    expect(refused.status).toBe(400);
    expect(refused.body.error).toMatchObject({ code: "validation", field: "mode" });
    expect(refused.body.error.message).toMatch(/abacus is not an execution mode; enabled modes: shell, .*calc$/);
    // POST /sessions also takes `agent` in its `kind`: the refusal says so.
    const unknownKind = await call(server.port, server.token, "POST", "/sessions", { kind: "abacus" });
    expect(unknownKind.status).toBe(400);
    expect(unknownKind.body.error).toMatchObject({ code: "validation", field: "kind" });
    expect(unknownKind.body.error.message).toMatch(/abacus is not an execution mode; enabled modes: shell, .*calc; or agent \(/);
    server.child.kill("SIGTERM");
    expect(await server.exited).toBe(0);
  });
});

describe("driver modules that sessiond refuses", () => {
  /** `sessiond serve` with these driver modules: it must not start. */
  async function refusedStart(files: Record<string, string>, modules: string[]) {
    const { cwd, home } = layout(files);
    const run = await runNode([...CLI, "serve", "--port", "0"], { cwd, env: serverEnv(home, modules) });
    expect(run.status).toBe(1);
    return run.stderr;
  }

  it("stops the start naming a module that throws as it loads", async () => {
    const stderr = await refusedStart({ "broken.mjs": 'throw new Error("no calculator today");\n' }, ["./broken.mjs"]);
    expect(stderr).toContain("could not start: driver module ./broken.mjs: cannot load it: no calculator today");
  });

  it("stops the start naming a module that cannot be found", async () => {
    const stderr = await refusedStart({}, ["./missing.mjs"]);
    expect(stderr).toContain("driver module ./missing.mjs: cannot load it:");
  });

  it("stops the start naming a module that exports no driver, or something that is not one", async () => {
    expect(await refusedStart({ "empty.mjs": "export const answer = 42;\n" }, ["./empty.mjs"])).toContain(
      "driver module ./empty.mjs: exports no driver (export default a SessionDriver, or a function that makes one; docs/drivers.md)",
    );
    expect(await refusedStart({ "half.mjs": 'export default { kind: "half", targets: ["local"] };\n' }, ["./half.mjs"])).toContain(
      "driver module ./half.mjs: not a session driver: start(spec) is missing",
    );
  });

  it("stops the start naming a second module that takes a kind already registered", async () => {
    const stderr = await refusedStart({ "shell.mjs": 'export default { kind: "shell", targets: ["local"], start() {} };\n' }, ["./shell.mjs"]);
    expect(stderr).toContain("a driver for shell is already registered");
  });
});

describe("checkDriver and loadDriverModules", () => {
  it("names what a driver lacks", () => {
    const fails = (value: unknown) => () => checkDriver(value, "m");
    expect(fails(null)).toThrow("m: not a session driver: expected an object, got null");
    expect(fails({ kind: "Calc", targets: ["local"], start() {} })).toThrow(/kind "Calc" is not a mode name/);
    expect(fails({ kind: "agent", targets: ["local"], start() {} })).toThrow("kind agent is a record, not a mode");
    expect(fails({ kind: "calc", targets: [], start() {} })).toThrow(/targets must list/);
    expect(fails({ kind: "calc", targets: ["local"], start() {}, startOptions: "interpreter" })).toThrow(/startOptions must be a list/);
    expect(checkDriver(calcDriver, "m")).toBe(calcDriver);
  });

  it("calls a factory export with the server's config and logger, and names a factory that fails", async () => {
    const { cwd } = layout({
      "made.mjs": 'export default ({ config }) => ({ kind: "made", targets: ["local"], start() {}, port: config.port });\n',
      "failing.mjs": 'export const driver = () => { throw new Error("needs a GPU"); };\n',
    });
    const config = resolveConfig({ env: { HOME: cwd } });
    const [made] = await loadDriverModules(["./made.mjs"], { config, log: silentLog, cwd });
    expect(made).toMatchObject({ kind: "made", port: config.port });
    await expect(loadDriverModules(["./failing.mjs"], { config, log: silentLog, cwd })).rejects.toThrow("driver module ./failing.mjs: its driver factory failed: needs a GPU");
    await expect(loadDriverModules(["no-such-package-sessiond"], { config, log: silentLog, cwd })).rejects.toThrow(/driver module no-such-package-sessiond: cannot find it from/);
  });

  it("registers a driver passed to buildApp: the mode starts and execs through seed 000's routes", async () => {
    const { home } = layout();
    const config = resolveConfig({ env: { HOME: home }, flags: { home, enableSessions: true, sandbox: "none", auth: false } });
    const store = openSqliteStore(config);
    const manager = new SessionManager({ store, config });
    const app = await buildApp({ config, manager, store, logger: pino({ level: "silent" }), drivers: [calcDriver] });
    try {
      const started = await app.inject({ method: "POST", url: "/session/start", payload: { mode: "calc" } });
      expect(started.statusCode).toBe(201);
      const exec = await app.inject({ method: "POST", url: `/session/${started.json().id}/exec`, payload: { input: "x = 6\nx * 7" } });
      expect(exec.json()).toMatchObject({ stdout: "42\n", exit_code: 0 });
    } finally {
      await app.close();
      await manager.close();
    }
  });
});
