import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { request } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { cliHome, until, useCompiledCli } from "../cli/run-cli.js";
import { type TestServer, startServer } from "../server/harness.js";
import { AGENT_A, AGENT_B, TOOL_NAMES, call, callFails, newClient, readJson, rpcError, tokens } from "./support.js";

/**
 * `sessiond mcp` as MCP clients run it (Claude Desktop…): the compiled CLI spawned as a child
 * process speaking MCP on its stdin and stdout, driven by the MCP SDK's own client and its stdio
 * transport — against the data dir's local server (which the command starts, as every client
 * command does), and against a server at a URL with an agent's token.
 */
const cli = useCompiledCli();
const WITHOUT_SDK = fileURLToPath(new URL("./fixtures/without-mcp-sdk.mjs", import.meta.url));

const clients: Client[] = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
});

async function connect(args: string[], env: NodeJS.ProcessEnv): Promise<{ client: Client; stderr: () => string }> {
  const transport = new StdioClientTransport({ command: process.execPath, args: [cli.main, "mcp", ...args], env: env as Record<string, string>, stderr: "pipe" });
  let stderr = "";
  transport.stderr?.on("data", (d: Buffer) => (stderr += d.toString()));
  const client = newClient();
  clients.push(client);
  await client.connect(transport);
  return { client, stderr: () => stderr };
}

describe("sessiond mcp on the local socket", () => {
  const home = cliHome();
  afterAll(() => home.cleanup());

  it("starts the local server, offers every tool and runs each, and reads both resources", async () => {
    const { client } = await connect([], home.env);
    expect((await client.listTools()).tools.map((t) => t.name).sort()).toEqual(TOOL_NAMES);

    const s = await call(client, "sessions_start", { name: "stdio-run", context: { step: 1 } });
    expect(s).toMatchObject({ kind: "agent", status: "active" });
    expect((await call(client, "sessions_show", { id: "stdio-run" })).id).toBe(s.id);
    await call(client, "sessions_append_event", { id: s.id, type: "note", data: { text: "hello" } });
    const cp = await call(client, "sessions_checkpoint", { id: s.id, label: "one" });
    expect((await call(client, "sessions_checkpoints", { id: s.id })).checkpoints).toHaveLength(1);
    expect((await call(client, "sessions_restore", { id: s.id, cid: cp.id })).context).toEqual({ step: 1 });
    const fork = await call(client, "sessions_fork", { id: s.id, cid: cp.id });
    expect(fork.parent).toBe(s.id);
    expect((await call(client, "sessions_list", { limit: 1000 })).sessions.map((x: { id: string }) => x.id)).toEqual(expect.arrayContaining([s.id, fork.id]));

    const shell = await call(client, "sessions_start", { kind: "shell" });
    await call(client, "sessions_exec", { id: shell.id, input: "x=41" });
    expect(await call(client, "sessions_exec", { id: shell.id, input: "echo $((x + 1))" })).toMatchObject({ stdout: "42\n", exit_code: 0 });
    await home.run(["stop", shell.id]);

    const timeline = await readJson(client, `sessiond://sessions/${s.id}/timeline`);
    expect(timeline.map((e: { type: string }) => e.type)).toEqual(["start", "note", "checkpoint", "restore", "fork"]);
    expect(await readJson(client, `sessiond://sessions/${s.id}/context`)).toEqual({ step: 1 });
    // What the MCP client did is the server's record: the CLI's trace shows it.
    const trace = await home.run(["trace", s.id]);
    expect(trace.stdout).toMatch(/note/);

    expect(await callFails(client, "sessions_show", { id: "no-such-session" })).toMatchObject({ code: "not_found" });
    expect(await callFails(client, "sessions_append_event", { id: s.id })).toMatchObject({ code: "validation", field: "type" });
    expect((await rpcError(client.callTool({ name: "nope", arguments: {} }))).code).toBe(-32602);
  });
});

describe("sessiond mcp --url with an agent token", () => {
  let server: TestServer;
  let base: string;
  beforeAll(async () => {
    server = await startServer({ tokens: tokens() });
    await server.app.listen({ host: "127.0.0.1", port: 0 });
    base = `http://127.0.0.1:${(server.app.server.address() as AddressInfo).port}`;
  });
  afterAll(() => server.close());

  it("sees that agent's sessions only", async () => {
    const theirs = (await server.json({ method: "POST", url: "/sessions/", body: { agent_id: "agent-b", name: "theirs", context: { secret: 1 } } })).body;
    // The token from the environment, as an MCP client's config passes it.
    const { client } = await connect(["--url", base], { ...process.env, SESSIOND_TOKEN: AGENT_A, SESSIOND_HOME: server.home });
    const mine = await call(client, "sessions_start", { name: "mine" });
    expect(mine.agent_id).toBe("agent-a");
    const listed = (await call(client, "sessions_list", {})).sessions.map((s: { id: string }) => s.id);
    expect(listed).toEqual([mine.id]);
    expect(await callFails(client, "sessions_show", { id: theirs.id })).toMatchObject({ code: "not_found" });
    expect(await callFails(client, "sessions_checkpoint", { id: theirs.id })).toMatchObject({ code: "not_found" });
    expect((await rpcError(client.readResource({ uri: `sessiond://sessions/${theirs.id}/context` }))).code).toBe(-32002);
    expect((await client.listResources()).resources.map((r) => r.uri).sort()).toEqual([`sessiond://sessions/${mine.id}/context`, `sessiond://sessions/${mine.id}/timeline`]);

    // The other agent's token, given as a flag, sees the other side.
    const { client: b } = await connect(["--url", base, "--token", AGENT_B], { ...process.env, SESSIOND_HOME: server.home });
    expect((await call(b, "sessions_list", {})).sessions.map((s: { id: string }) => s.id)).toEqual([theirs.id]);
  });

  it("answers every request piped in before its stdin closed, then exits", async () => {
    const child = spawn(process.execPath, [cli.main, "mcp", "--url", base], { env: { ...process.env, SESSIOND_TOKEN: AGENT_A, SESSIOND_HOME: server.home }, stdio: ["pipe", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    const requests = [
      { jsonrpc: "2.0", id: 1, method: "initialize", params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "pipe", version: "1" } } },
      { jsonrpc: "2.0", method: "notifications/initialized" },
      ...[2, 3, 4].map((id) => ({ jsonrpc: "2.0", id, method: "tools/call", params: { name: "sessions_list", arguments: { limit: 1 } } })),
    ];
    // A line that is no JSON, and JSON that is no JSON-RPC message: each answered with its error, id null.
    child.stdin.end([...requests.map((r) => JSON.stringify(r)), "not json", '{"hello":1}'].join("\n") + "\n");
    const code = await new Promise<number | null>((resolve) => child.once("exit", resolve));
    expect(code).toBe(0);
    const lines = out.trim().split("\n").map((line) => JSON.parse(line) as { id: number | null; result?: { isError?: boolean }; error?: { code: number } });
    expect(lines.filter((a) => a.id === null).map((a) => a.error?.code)).toEqual([-32700, -32600]);
    const answers = lines.filter((a): a is typeof a & { id: number } => a.id !== null);
    expect(answers.map((a) => a.id).sort()).toEqual([1, 2, 3, 4]);
    expect(answers.filter((a) => a.id > 1).every((a) => a.result && !a.result.isError)).toBe(true);
  });

  it("exits 1 naming the token problem when the server refuses the token", async () => {
    const run = await runCli(["mcp", "--url", base, "--token", "not-a-token-this-server-knows"], { ...process.env, SESSIOND_HOME: server.home });
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/token is not valid/);
  });
});

describe("without @modelcontextprotocol/sdk installed", () => {
  const home = cliHome();
  let serve: ChildProcess | undefined;
  afterAll(async () => {
    if (serve && serve.exitCode === null) {
      const exited = new Promise((resolve) => serve!.once("exit", resolve));
      serve.kill("SIGTERM");
      await exited;
    }
    await home.cleanup();
  });

  it("sessiond mcp exits 1 with one line naming the package to install, and starts no server", async () => {
    const run = await runCli(["mcp"], home.env, ["--import", WITHOUT_SDK]);
    expect(run.code).toBe(1);
    expect(run.stdout).toBe("");
    expect(run.stderr.trim()).toBe(
      "sessiond: the MCP server (sessiond mcp, /mcp) needs the package @modelcontextprotocol/sdk, which is not installed: npm install @modelcontextprotocol/sdk",
    );
    expect(existsSync(join(home.home, "sessiond.sock"))).toBe(false);
  });

  it("/mcp answers 501 dependency_missing in the error shape, and every other route still serves", async () => {
    serve = spawn(process.execPath, ["--import", WITHOUT_SDK, cli.main, "serve"], { env: home.env, stdio: ["ignore", "ignore", "pipe"] });
    const socketPath = join(home.home, "sessiond.sock");
    await until(async () => (await overSocket(socketPath, "GET", "/healthz").catch(() => undefined))?.status === 200);
    const mcp = await overSocket(socketPath, "POST", "/mcp", JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/list" }));
    expect(mcp.status).toBe(501);
    expect(JSON.parse(mcp.body)).toEqual({
      error: {
        code: "dependency_missing",
        message: "the MCP server (sessiond mcp, /mcp) needs the package @modelcontextprotocol/sdk, which is not installed: npm install @modelcontextprotocol/sdk",
      },
    });
    expect((await overSocket(socketPath, "POST", "/sessions/", "{}")).status).toBe(201);
  });
});

function runCli(argv: string[], env: NodeJS.ProcessEnv, nodeArgs: string[] = []): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [...nodeArgs, cli.main, ...argv], { env, stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.stdin.end();
    child.once("close", (code) => resolve({ code: code ?? 1, stdout, stderr }));
  });
}

function overSocket(socketPath: string, method: string, path: string, body?: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { accept: "application/json, text/event-stream" };
    if (body !== undefined) headers["content-type"] = "application/json";
    const req = request({ socketPath, method, path, headers }, (res) => {
      let text = "";
      res.on("data", (d: Buffer) => (text += d.toString()));
      res.once("end", () => resolve({ status: res.statusCode ?? 0, body: text }));
    });
    req.once("error", reject);
    req.end(body);
  });
}
