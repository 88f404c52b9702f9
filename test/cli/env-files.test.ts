import { chmodSync, readFileSync } from "node:fs";
import { request as httpRequest } from "node:http";
import { join } from "node:path";
import { describe, expect, it, vi } from "vitest";
import { envLayout } from "../helpers/env-layout.js";
import { compiledCli } from "../helpers/compiled-tree.js";
import { perTestChildren, runNode, startNode } from "../helpers/run-node.js";

/** `.env` files as `sessiond config` and a real `sessiond serve` child read them, from the working directory they run in. */

vi.setConfig({ testTimeout: 120_000 });

/** `sessiond` as it ships: compiled to plain JavaScript (test/helpers/compiled-tree.ts). */
const CLI = [compiledCli()];

const { dirs, children } = perTestChildren();

/** A project folder (the command's working directory) and a data dir, with the given `.env` files (0600). */
function layout(files: { cwd?: string; home?: string }) {
  const { cwd, home } = envLayout(dirs, files);
  // The test runner's own settings must not stand in for the files'.
  const env: Record<string, string> = { SESSIOND_HOME: home, ENABLE_SESSIONS: "", SESSIOND_PORT: "", SESSIOND_SANDBOX: "" };
  return { cwd, home, env };
}

/** `process.env` without the names the test wants unset (runNode adds to this process's environment). */
function without(names: string[]): () => void {
  const saved = names.map((n) => [n, process.env[n]] as const);
  for (const n of names) delete process.env[n];
  return () => {
    for (const [n, v] of saved) if (v !== undefined) process.env[n] = v;
  };
}

async function config(cwd: string, env: Record<string, string>, args: string[] = []) {
  const restore = without(Object.keys(env).filter((n) => env[n] === ""));
  try {
    const run = await runNode([...CLI, "config", "--json", ...args], { cwd, env: Object.fromEntries(Object.entries(env).filter(([, v]) => v !== "")) });
    return { ...run, config: run.status === 0 ? (JSON.parse(run.stdout) as Record<string, unknown>) : undefined };
  } finally {
    restore();
  }
}

function post(port: number, token: string, path: string, body: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const data = JSON.stringify(body);
    const req = httpRequest(
      { host: "127.0.0.1", port, method: "POST", path, agent: false, headers: { authorization: `Bearer ${token}`, "content-type": "application/json" } },
      (res) => {
        let text = "";
        res.on("data", (c) => (text += c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as Record<string, unknown> }));
      },
    );
    req.on("error", reject);
    req.end(data);
  });
}

/** `sessiond serve --port 0` in `cwd`; resolves with its port and token once it listens. */
async function serve(cwd: string, home: string, env: Record<string, string>) {
  const restore = without(Object.keys(env).filter((n) => env[n] === ""));
  let started;
  try {
    started = startNode([...CLI, "serve", "--port", "0"], { cwd, env: Object.fromEntries(Object.entries(env).filter(([, v]) => v !== "")) });
  } finally {
    restore();
  }
  children.push(started.child);
  for (;;) {
    const line = started.lines.find((l) => l.includes("sessiond listening"));
    if (line) return { ...started, port: (JSON.parse(line) as { port: number }).port, token: readFileSync(join(home, "token"), "utf8").trim() };
    if (started.child.exitCode !== null) throw new Error(`the server exited:\n${started.lines.join("\n")}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe("sessiond config and .env files", () => {
  it("reads the working directory's .env over the data dir's, and the environment over both", async () => {
    const { cwd, env } = layout({
      cwd: "ENABLE_SESSIONS=true\nSESSIOND_LOG_LEVEL=warn\n",
      home: "ENABLE_SESSIONS=false\nSESSIOND_LOG_LEVEL=debug\nSESSIOND_PORT=9123\nSESSIOND_HOT_POOL_SIZE=5\n",
    });
    const run = await config(cwd, { ...env, SESSIOND_HOT_POOL_SIZE: "6" });
    expect(run.stderr).toBe("");
    expect(run.config).toMatchObject({ enableSessions: true, logLevel: "warn", port: 9123, hotPoolSize: 6 });
  });

  it("warns naming the file and line of a malformed line and runs the command", async () => {
    const { cwd, env } = layout({ cwd: "SESSIOND_PORT=9124\nthis is not a setting\n" });
    const run = await config(cwd, env);
    expect(run.status).toBe(0);
    expect(run.stderr).toContain(`warning: ${join(cwd, ".env")}:2: not KEY=VALUE, ignored`);
    expect(run.config).toMatchObject({ port: 9124 });
  });

  it("refuses a .env others may write, naming the file: exit code 2, nothing run", async () => {
    const { cwd, env } = layout({ cwd: "SESSIOND_SHELL_PATH=/tmp/x\n" });
    chmodSync(join(cwd, ".env"), 0o666);
    const run = await config(cwd, env);
    expect(run.status).toBe(2);
    expect(run.stdout).toBe("");
    // --json: the error in the wire shape, the file as its field.
    expect(JSON.parse(run.stderr)).toEqual({
      error: { code: "validation", field: join(cwd, ".env"), message: `invalid ${join(cwd, ".env")}: group or others may write it (run chmod go-w ${join(cwd, ".env")})` },
    });
  });

  it("reads the data dir's .env named by --home", async () => {
    const { cwd, env } = layout({});
    const other = layout({ home: "SESSIOND_PORT=9125\n" });
    const run = await config(cwd, env, ["--home", other.home]);
    expect(run.config).toMatchObject({ port: 9125, home: other.home });
  });

  it("rejects a value of the wrong type from a .env as it does from the environment, naming the key", async () => {
    const { cwd, env } = layout({ cwd: "SESSIOND_PORT=eighty\n" });
    const run = await config(cwd, env);
    expect(run.status).toBe(2);
    expect(run.stderr).toMatch(/port/);
  });
});

describe("sessiond serve and .env files", () => {
  it("turns live sessions on with ENABLE_SESSIONS=true in the working directory's .env", async () => {
    const { cwd, home, env } = layout({ cwd: "ENABLE_SESSIONS=true\nSESSIOND_SANDBOX=none\n" });
    const server = await serve(cwd, home, env);
    const started = await post(server.port, server.token, "/session/start", { mode: "shell" });
    expect(started.status).toBe(201);
    const stopped = await post(server.port, server.token, `/session/${String(started.body.id)}/stop`, {});
    expect(stopped.status).toBeLessThan(300);
    server.child.kill("SIGTERM");
    expect(await server.exited).toBe(0);
  });

  it("keeps live sessions off when the environment says ENABLE_SESSIONS=false over the .env", async () => {
    const { cwd, home, env } = layout({ cwd: "ENABLE_SESSIONS=true\nSESSIOND_SANDBOX=none\n" });
    const server = await serve(cwd, home, { ...env, ENABLE_SESSIONS: "false" });
    const refused = await post(server.port, server.token, "/session/start", { mode: "shell" });
    expect(refused.status).toBe(400);
    expect(refused.body).toMatchObject({ error: { code: "validation", field: "mode" } });
    server.child.kill("SIGTERM");
    expect(await server.exited).toBe(0);
  });

  it("logs a malformed line of the data dir's .env and serves", async () => {
    const { cwd, home, env } = layout({ home: "ENABLE_SESSIONS=true\n[oops]\n" });
    const server = await serve(cwd, home, env);
    expect(server.lines).toContain(`warning: ${join(home, ".env")}:2: not KEY=VALUE, ignored`);
    server.child.kill("SIGTERM");
    expect(await server.exited).toBe(0);
  });

  it("does not start on a data dir whose .env others may write, naming the file", async () => {
    const { cwd, home, env } = layout({ home: "ENABLE_SESSIONS=true\n" });
    chmodSync(join(home, ".env"), 0o622);
    const restore = without(["ENABLE_SESSIONS", "SESSIOND_PORT", "SESSIOND_SANDBOX"]);
    let run;
    try {
      run = await runNode([...CLI, "serve", "--port", "0"], { cwd, env: { SESSIOND_HOME: home } });
    } finally {
      restore();
    }
    expect(run.status).toBe(2);
    expect(run.stderr).toContain(`invalid ${join(home, ".env")}: group or others may write it`);
  });
});
