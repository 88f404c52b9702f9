import { type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { compiledCli } from "../helpers/compiled-tree.js";
import { startNode } from "../helpers/run-node.js";

/** End-to-end: `sessiond serve` killed (SIGKILL) while a restore rebuilds an interpreter, then started again on the same data dir. */

vi.setConfig({ testTimeout: 120_000 });

const ROOT = new URL("../../", import.meta.url).pathname;
const CLI = compiledCli();

const homes: string[] = [];
const children: ChildProcess[] = [];
afterEach(() => {
  for (const child of children.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  for (const home of homes.splice(0)) rmSync(home, { recursive: true, force: true });
});

interface Running {
  child: ChildProcess;
  port: number;
  token: string;
  exited: Promise<number | null>;
}

async function serve(home: string): Promise<Running> {
  const { child, lines, exited } = startNode([CLI, "serve", "--port", "0"], {
    cwd: ROOT,
    env: { SESSIOND_HOME: home, SESSIOND_SQLITE_SYNCHRONOUS: "normal", SESSIOND_ENABLE_SESSIONS: "true" },
  });
  children.push(child);
  const deadline = Date.now() + 60_000;
  for (;;) {
    const line = lines.find((l) => l.includes("sessiond listening"));
    if (line) return { child, port: (JSON.parse(line) as { port: number }).port, token: readFileSync(join(home, "token"), "utf8").trim(), exited };
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`the server did not start:\n${lines.join("\n")}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function call(server: Running, method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
  const res = await fetch(`http://127.0.0.1:${server.port}${path}`, {
    method,
    headers: { authorization: `Bearer ${server.token}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

describe("a server killed in the middle of a restore", () => {
  it("leaves the session's interpreter and workspace either as before the restore or as after it, never a mix", async () => {
    const home = mkdtempSync(join(tmpdir(), "sessiond-env-kill-"));
    homes.push(home);
    let server = await serve(home);
    const id = (await call(server, "POST", "/sessions", { kind: "python" })).body.id as string;
    const run = async (input: string, extra: Record<string, unknown> = {}) => {
      const res = await call(server, "POST", `/sessions/${id}/exec`, { input, ...extra });
      expect(res.body.status, res.body.stderr).toBe("ok");
      return res.body;
    };
    await run("import time\nmarker = 'checkpoint'");
    // Not run again by any rebuild: what the file holds afterwards comes from the workspace alone.
    await run("open('state.txt', 'w').write('checkpoint')", { replay: false });
    // Slow to run again: the restore's replay is where the kill lands.
    await run("time.sleep(2)");
    const cp = (await call(server, "POST", `/sessions/${id}/checkpoints`, { with_files: true })).body;
    expect(cp.interpreter).toMatchObject({ cells: 3, replayable: 2 });
    await run("marker = 'after'\nextra = 1\nopen('state.txt', 'w').write('after')");

    const restoring = call(server, "POST", `/sessions/${id}/checkpoints/${cp.id}/restore`, {}).catch(() => undefined);
    // Killed once the restore is recorded, while the new interpreter replays the slow cell.
    const deadline = Date.now() + 30_000;
    while (!(await call(server, "GET", `/sessions/${id}/events?type=restore`)).body.length) {
      if (Date.now() > deadline) throw new Error("no restore event");
      await new Promise((r) => setTimeout(r, 20));
    }
    server.child.kill("SIGKILL");
    await server.exited;
    await restoring;

    server = await serve(home);
    const session = (await call(server, "GET", `/sessions/${id}`)).body;
    expect(session.status).toBe("crashed");
    const recovered = await call(server, "POST", `/sessions/${id}/recover`, { replay: true });
    expect(recovered.status).toBe(200);
    const seen = (await run("(marker, 'extra' in dir(), open('state.txt').read())")).stdout as string;
    // The restore was recorded before the kill: the session is as the checkpoint left it, files and interpreter.
    expect(seen).toBe("('checkpoint', False, 'checkpoint')\n");
    await call(server, "POST", `/sessions/${id}/stop`);
    server.child.kill("SIGINT");
    await server.exited;
  });
});
