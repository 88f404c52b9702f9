import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { request as httpRequest } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { compiledCli } from "../helpers/compiled-tree.js";
import { processesOfUid, uniqueUidBase } from "../helpers/sandbox-pids.js";

/**
 * Config autoRecover end to end: real `sessiond serve` processes on one data dir, the first
 * killed with SIGKILL while it holds live sessions, the next ones started with autoRecover off,
 * then on.
 */

// Three servers start one after the other (a Node process each).
vi.setConfig({ testTimeout: 180_000 });

const ROOT = new URL("../../", import.meta.url).pathname;
/** `sessiond` as it ships: compiled to plain JavaScript (test/helpers/compiled-tree.ts). */
const CLI = compiledCli();
const UID_BASE = uniqueUidBase();

interface Server {
  readonly child: ChildProcess;
  readonly logs: string[];
  readonly exited: Promise<number | null>;
}

const homes: string[] = [];
const children: ChildProcess[] = [];
afterEach(() => {
  for (const child of children.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  for (const home of homes.splice(0)) rmSync(home, { recursive: true, force: true });
});

async function serve(home: string, env: Record<string, string> = {}): Promise<Server> {
  const child = spawn(process.execPath, [CLI, "serve", "--port", "0"], {
    cwd: ROOT,
    env: { ...process.env, SESSIOND_HOME: home, ENABLE_SESSIONS: "true", SESSIOND_SANDBOX_UID_BASE: String(UID_BASE), SESSIOND_LOG_LEVEL: "info", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  children.push(child);
  const logs: string[] = [];
  const collect = (chunk: Buffer) => logs.push(...chunk.toString().split("\n").filter(Boolean));
  child.stdout!.on("data", collect);
  child.stderr!.on("data", collect);
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  await until(() => logs.some((l) => l.includes("sessiond listening")) || child.exitCode !== null);
  if (child.exitCode !== null) throw new Error(`the server did not start:\n${logs.join("\n")}`);
  return { child, logs, exited };
}

/** A request over the data dir's Unix socket (admin, no token), its JSON answer parsed. */
function call(home: string, method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const req = httpRequest(
      { socketPath: join(home, "sessiond.sock"), method, path, agent: false, headers: payload ? { "content-type": "application/json" } : {} },
      (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (c) => (text += c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: text ? JSON.parse(text) : undefined }));
      },
    );
    req.on("error", reject);
    req.end(payload);
  });
}

/** Polls until `predicate` holds; the test's own timeout bounds it. */
async function until<T>(predicate: () => T | Promise<T>): Promise<NonNullable<T>> {
  for (;;) {
    const value = await predicate();
    if (value) return value as NonNullable<T>;
    await new Promise((r) => setTimeout(r, 50));
  }
}

const exec = async (home: string, ref: string, input: string) => {
  const res = await call(home, "POST", `/sessions/${ref}/exec`, { input });
  expect(res.status, `${ref}: ${input}`).toBe(200);
  return res.body as { status: string; stdout: string };
};
const session = async (home: string, ref: string) => (await call(home, "GET", `/sessions/${ref}`)).body;
const events = async (home: string, ref: string, types: string[]) =>
  (await call(home, "GET", `/sessions/${ref}/events?${types.map((t) => `type=${t}`).join("&")}`)).body as { type: string; data: any }[];

describe("config autoRecover", () => {
  it("brings back, at the next start with it on, the live sessions a server killed with SIGKILL left, but not one that had crashed on its own", async () => {
    const home = mkdtempSync(join(tmpdir(), "sessiond-auto-recover-"));
    homes.push(home);

    const first = await serve(home);
    expect((await call(home, "POST", "/sessions/", { kind: "shell", name: "sh" })).status).toBe(201);
    expect((await exec(home, "sh", "mkdir -p sub && cd sub && export KEPT=yes")).status).toBe("ok");
    expect((await call(home, "POST", "/sessions/", { kind: "python", name: "py" })).status).toBe(201);
    expect((await exec(home, "py", "x = 41")).status).toBe("ok");
    expect((await call(home, "POST", "/sessions/", { kind: "shell", name: "own" })).status).toBe(201);
    await exec(home, "own", "exit 3");
    await until(async () => (await session(home, "own")).status === "crashed");
    const uids = new Set<number>();
    const noteUids = async () => {
      for (const name of ["sh", "py"]) uids.add((await session(home, name)).runtime_metadata.sandbox_uid as number);
    };
    await noteUids();
    first.child.kill("SIGKILL");
    await first.exited;

    // Off by default: the orphan sweep marks them crashed, and there they stay.
    const second = await serve(home);
    for (const name of ["sh", "py"]) {
      expect((await session(home, name)).status, name).toBe("crashed");
      expect((await events(home, name, ["crash"])).map((e) => e.data.reason), name).toEqual(["sessiond restarted; the process is gone"]);
    }
    for (const name of ["sh", "py", "own"]) expect(await events(home, name, ["recover", "auto_recovered", "auto_recover_failed"]), name).toEqual([]);
    second.child.kill("SIGTERM");
    expect(await second.exited).toBe(0);

    const third = await serve(home, { SESSIOND_AUTO_RECOVER: "true" });
    const recovered = async (name: string) => (await events(home, name, ["auto_recovered"]))[0];
    await until(async () => (await recovered("sh")) && (await recovered("py")));
    expect((await session(home, "sh")).status).toBe("active");
    expect((await session(home, "py")).status).toBe("active");
    expect((await recovered("sh"))!.data).toMatchObject({ crash_reason: "sessiond restarted; the process is gone" });
    expect((await recovered("py"))!.data).toMatchObject({ replay: { cells: 1, replayed: 1, stopped_at: null } });
    expect((await exec(home, "sh", 'echo "$(basename "$PWD") $KEPT"')).stdout).toBe("sub yes\n");
    expect((await exec(home, "py", "print(x + 1)")).stdout).toBe("42\n");
    await noteUids();

    const own = await session(home, "own");
    expect(own.status).toBe("crashed");
    expect((await events(home, "own", ["crash"])).map((e) => e.data.reason)).toEqual(["the shell process exited unexpectedly (exit code 3)"]);
    expect(await events(home, "own", ["recover", "auto_recovered", "auto_recover_failed"])).toEqual([]);

    third.child.kill("SIGTERM");
    expect(await third.exited).toBe(0);
    for (const uid of uids) expect(processesOfUid(uid), `processes of uid ${uid}`).toEqual([]);
  });
});
