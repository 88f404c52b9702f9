import { request as httpRequest } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import * as types from "@modelcontextprotocol/sdk/types.js";
import { type TestServer, startServer } from "../server/harness.js";
import { AGENT_A, AGENT_B, READER, TOOL_NAMES, call, callFails, newClient, readJson, rpcError, tokens } from "./support.js";

/**
 * `/mcp` over a real loopback port, driven by the MCP SDK's own client and its streamable HTTP
 * transport, with the admin token and two agents' tokens.
 */
let server: TestServer;
let base: string;
const clients: Client[] = [];

beforeAll(async () => {
  server = await startServer({ tokens: tokens(), enableSessions: true, execRoles: ["admin", "agent"] });
  await server.app.listen({ host: "127.0.0.1", port: 0 });
  base = `http://127.0.0.1:${(server.app.server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await server.close();
});

async function connect(token: string | null = server.token): Promise<Client> {
  const client = newClient();
  const headers: Record<string, string> = token === null ? {} : { authorization: `Bearer ${token}` };
  await client.connect(new StreamableHTTPClientTransport(new URL(`${base}/mcp`), { requestInit: { headers } }));
  clients.push(client);
  return client;
}

describe("/mcp over streamable HTTP", () => {
  it("lists the tools with the routes' own schemas from /openapi.json", async () => {
    const client = await connect();
    expect(client.getServerVersion()?.name).toBe("sessiond");
    const { tools } = await client.listTools();
    expect(tools.map((t) => t.name).sort()).toEqual(TOOL_NAMES);
    const doc = (await server.json({ method: "GET", url: "/openapi.json" })).body;
    const execBody = doc.paths["/sessions/{id}/exec"].post.requestBody.content["application/json"].schema;
    const exec = tools.find((t) => t.name === "sessions_exec")!;
    expect(exec.inputSchema.properties!.input).toEqual(execBody.properties.input);
    expect(exec.inputSchema.properties!.timeout_ms).toEqual(execBody.properties.timeout_ms);
    expect(exec.inputSchema.required).toEqual(["id"]);
    const start = tools.find((t) => t.name === "sessions_start")!;
    const createBody = doc.paths["/sessions"].post.requestBody.content["application/json"].schema;
    expect(Object.keys(start.inputSchema.properties!).sort()).toEqual(Object.keys(createBody.properties).sort());
    expect(start.inputSchema.properties!.context).toEqual(createBody.properties.context);
    const event = tools.find((t) => t.name === "sessions_append_event")!;
    expect(event.inputSchema.required).toEqual(["id", "type"]);
    // The output schema is the route's answer, its references resolved: the Session schema itself.
    expect(tools.find((t) => t.name === "sessions_show")!.outputSchema).toEqual(doc.components.schemas.Session);
    expect(tools.find((t) => t.name === "sessions_list")!.annotations?.readOnlyHint).toBe(true);
  });

  it("starts, shows, records, checkpoints, restores, forks and lists a tracked session", async () => {
    const client = await connect();
    const started = await call(client, "sessions_start", { name: "mcp-run", task: "plan a trip", context: { step: 1 } });
    expect(started).toMatchObject({ name: "mcp-run", kind: "agent", status: "active", context: { step: 1 } });
    expect((await call(client, "sessions_show", { id: "mcp-run" })).id).toBe(started.id);

    const event = await call(client, "sessions_append_event", { id: started.id, type: "note", data: { text: "booked" } });
    expect(event).toMatchObject({ type: "note", data: { text: "booked" } });
    const checkpoint = await call(client, "sessions_checkpoint", { id: started.id, label: "before step 2" });
    expect(checkpoint).toMatchObject({ label: "before step 2", state: { context: { step: 1 } } });
    await server.json({ method: "PATCH", url: `/sessions/${started.id}`, body: { context: { step: 2 } } });

    const { checkpoints } = await call(client, "sessions_checkpoints", { id: started.id });
    expect(checkpoints.map((c: { id: string }) => c.id)).toEqual([checkpoint.id]);
    const restored = await call(client, "sessions_restore", { id: started.id, cid: checkpoint.id });
    expect(restored.context).toEqual({ step: 1 });
    const fork = await call(client, "sessions_fork", { id: started.id, cid: checkpoint.id, name: "mcp-run-b" });
    expect(fork).toMatchObject({ name: "mcp-run-b", parent: started.id, context: { step: 1 } });

    const page = await call(client, "sessions_list", { limit: 1 });
    expect(page.sessions).toHaveLength(1);
    expect(typeof page.next_cursor).toBe("string");
    const rest = await call(client, "sessions_list", { cursor: page.next_cursor, limit: 1000 });
    expect([...page.sessions, ...rest.sessions].map((s: { id: string }) => s.id)).toEqual(expect.arrayContaining([started.id, fork.id]));
    expect(rest.next_cursor).toBeNull();
    const byStatus = await call(client, "sessions_list", { status: ["active", "paused"], kind: "agent", limit: 1000 });
    expect(byStatus.sessions.every((s: { status: string; kind: string }) => s.status === "active" && s.kind === "agent")).toBe(true);

    // The history is the server's: the same events every client sees.
    const events = (await server.json({ method: "GET", url: `/sessions/${started.id}/events` })).body.map((e: { type: string }) => e.type);
    expect(events).toEqual(["start", "note", "checkpoint", "context_update", "restore", "fork"]);
  });

  it("starts a live shell and runs commands in it, its state kept between calls", async () => {
    const client = await connect();
    const shell = await call(client, "sessions_start", { kind: "shell" });
    expect(shell).toMatchObject({ kind: "shell", status: "active" });
    try {
      const first = await call(client, "sessions_exec", { id: shell.id, input: "export GREETING=hello; cd /tmp" });
      expect(first).toMatchObject({ status: "ok", exit_code: 0 });
      const second = await client.callTool({ name: "sessions_exec", arguments: { id: shell.id, input: 'echo "$GREETING from $(pwd)"' } });
      expect(second.structuredContent).toMatchObject({ stdout: "hello from /tmp\n", exit_code: 0 });
      expect((second.content as { text: string }[])[0]!.text).toBe("hello from /tmp\n[exec ok (exit 0)]");
      const failing = await call(client, "sessions_exec", { id: shell.id, input: "exit 3", wait: false });
      expect(failing).toMatchObject({ exec_id: expect.any(String), state: expect.stringMatching(/queued|running|finished/) });
    } finally {
      await server.json({ method: "POST", url: `/sessions/${shell.id}/stop` });
    }
  });

  it("serves each session's timeline and context as resources", async () => {
    const client = await connect();
    const { resourceTemplates } = await client.listResourceTemplates();
    expect(resourceTemplates.map((t) => t.uriTemplate)).toEqual(["sessiond://sessions/{id}/timeline", "sessiond://sessions/{id}/context"]);
    const s = await call(client, "sessions_start", { name: "resource-run", context: { goal: "ship" } });
    await call(client, "sessions_append_event", { id: s.id, type: "observation", data: { n: 1 } });

    const { resources } = await client.listResources();
    const uris = resources.map((r) => r.uri);
    expect(uris).toEqual(expect.arrayContaining([`sessiond://sessions/${s.id}/timeline`, `sessiond://sessions/${s.id}/context`]));

    const timeline = await readJson(client, `sessiond://sessions/${s.id}/timeline`);
    expect(timeline.map((e: { seq: number; type: string }) => [e.seq, e.type])).toEqual([
      [1, "start"],
      [2, "observation"],
    ]);
    expect(await readJson(client, `sessiond://sessions/${s.id}/timeline?after_seq=1`)).toHaveLength(1);
    expect(await readJson(client, `sessiond://sessions/${s.id}/context`)).toEqual({ goal: "ship" });
    // By name too, as every route takes one.
    expect(await readJson(client, "sessiond://sessions/resource-run/context")).toEqual({ goal: "ship" });
  });

  it("gives an agent token only its own sessions, through tools and resources alike; admin sees all", async () => {
    const a = await connect(AGENT_A);
    const b = await connect(AGENT_B);
    const admin = await connect();
    const mine = await call(a, "sessions_start", { name: "a-run" });
    expect(mine.agent_id).toBe("agent-a");
    const theirs = await call(b, "sessions_start", { name: "b-run", context: { secret: "b's" } });
    const theirShell = await call(b, "sessions_start", { kind: "shell" });
    try {
      const listed = (await call(a, "sessions_list", { limit: 1000 })).sessions.map((s: { id: string }) => s.id);
      expect(listed).toContain(mine.id);
      expect(listed).not.toContain(theirs.id);
      // Asking for another agent's sessions by filter finds none.
      expect((await call(a, "sessions_list", { agent_id: "agent-b" })).sessions).toEqual([]);

      for (const [tool, args] of [
        ["sessions_show", { id: theirs.id }],
        ["sessions_append_event", { id: theirs.id, type: "note" }],
        ["sessions_checkpoint", { id: theirs.id }],
        ["sessions_exec", { id: theirShell.id, input: "echo hi" }],
      ] as const) {
        const error = await callFails(a, tool, args);
        expect(error.code, tool).toBe("not_found");
      }
      // b's session by its name means a's own namespace: not found either.
      expect((await callFails(a, "sessions_show", { id: "b-run" })).code).toBe("not_found");

      const read = await rpcError(a.readResource({ uri: `sessiond://sessions/${theirs.id}/context` }));
      expect(read.code).toBe(-32002);
      expect(read.data).toMatchObject({ code: "not_found" });
      await rpcError(a.readResource({ uri: `sessiond://sessions/${theirs.id}/timeline` }));
      const resourceUris = (await a.listResources()).resources.map((r) => r.uri);
      expect(resourceUris).toContain(`sessiond://sessions/${mine.id}/context`);
      expect(resourceUris.some((uri) => uri.includes(theirs.id))).toBe(false);

      // An agent's new sessions are its own, whatever it asks.
      expect((await callFails(a, "sessions_start", { agent_id: "agent-b" })).code).toBe("forbidden");

      const all = (await call(admin, "sessions_list", { limit: 1000 })).sessions.map((s: { id: string }) => s.id);
      expect(all).toEqual(expect.arrayContaining([mine.id, theirs.id]));
      expect(await readJson(admin, `sessiond://sessions/${theirs.id}/context`)).toEqual({ secret: "b's" });
      // agent_id/name addresses a session across namespaces: as is in a tool's argument, %2F in a URI.
      expect((await call(admin, "sessions_show", { id: "agent-b/b-run" })).id).toBe(theirs.id);
      expect(await readJson(admin, "sessiond://sessions/agent-b%2Fb-run/context")).toEqual({ secret: "b's" });
    } finally {
      await server.json({ method: "POST", url: `/sessions/${theirShell.id}/stop` });
    }
  });

  it("lets a reader token read through its tools and resources, and refuses its writes as the routes do", async () => {
    const admin = await connect();
    const reader = await connect(READER);
    const run = await call(admin, "sessions_start", { name: "read-me", context: { step: 2 } });
    expect((await call(reader, "sessions_show", { id: run.id })).context).toEqual({ step: 2 });
    expect((await call(reader, "sessions_list", { limit: 1000 })).sessions.map((s: { id: string }) => s.id)).toContain(run.id);
    expect(await readJson(reader, `sessiond://sessions/${run.id}/context`)).toEqual({ step: 2 });
    for (const [tool, args] of [
      ["sessions_append_event", { id: run.id, type: "note" }],
      ["sessions_checkpoint", { id: run.id }],
      ["sessions_start", { name: "not-mine" }],
    ] as const) {
      expect((await callFails(reader, tool, args)).code, tool).toBe("forbidden");
    }
    expect((await call(admin, "sessions_show", { id: run.id })).event_count).toBe(run.event_count);
  });

  it("refuses a request without a token with 401, and a GET stream with 405", async () => {
    const body = JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/list" });
    const headers = { "content-type": "application/json", accept: "application/json, text/event-stream" };
    const anonymous = await fetch(`${base}/mcp`, { method: "POST", headers, body });
    expect(anonymous.status).toBe(401);
    expect(((await anonymous.json()) as { error: { code: string } }).error.code).toBe("unauthorized");
    const wrong = await fetch(`${base}/mcp`, { method: "POST", headers: { ...headers, authorization: "Bearer not-a-token-of-this-server-at-all" }, body });
    expect(wrong.status).toBe(401);
    await expect(connect(null)).rejects.toThrow(/401|unauthorized/i);
    const stream = await fetch(`${base}/mcp`, { headers: { accept: "text/event-stream", authorization: `Bearer ${server.token}` } });
    expect(stream.status).toBe(405);
  });

  it("acts only as the token a request carries: a token offered as a WebSocket subprotocol on a plain POST is no token", async () => {
    const admin = await connect();
    const hidden = await call(admin, "sessions_start", { name: "admin-only", context: { secret: "s3" } });
    // An Upgrade header without Connection: Upgrade — a plain POST, whatever it offers.
    const post = (token: string) =>
      new Promise<{ status: number; body: string }>((resolve, reject) => {
        const body = JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/call", params: { name: "sessions_list", arguments: { limit: 1000 } } });
        const req = httpRequest(`${base}/mcp`, {
          method: "POST",
          headers: {
            "content-type": "application/json",
            accept: "application/json, text/event-stream",
            upgrade: "websocket",
            "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
            "sec-websocket-version": "13",
            "sec-websocket-protocol": `sessiond.bearer.${Buffer.from(token).toString("base64url")}`,
          },
        });
        req.on("response", (res) => {
          let text = "";
          res.on("data", (chunk: Buffer) => (text += chunk.toString()));
          res.on("end", () => resolve({ status: res.statusCode ?? 0, body: text }));
        });
        req.on("error", reject);
        req.end(body);
      });
    for (const token of [AGENT_A, READER]) {
      const answer = await post(token);
      expect(answer.status, token).toBe(401);
      expect(answer.body).not.toContain(hidden.id);
    }
  });

  it("answers missing or wrong arguments and unknown sessions with tool errors naming the field", async () => {
    const client = await connect();
    expect(await callFails(client, "sessions_show", {})).toMatchObject({ code: "validation", field: "id" });
    expect(await callFails(client, "sessions_show", { id: 42 })).toMatchObject({ code: "validation", field: "id" });
    expect(await callFails(client, "sessions_show", { id: "x", colour: "red" })).toMatchObject({ code: "validation", field: "colour" });
    // Worded as a missing id is: "required".
    expect(await callFails(client, "sessions_append_event", { id: "nope" })).toMatchObject({ code: "validation", field: "type", message: "invalid type: required" });
    expect(await callFails(client, "sessions_start", { max_iterations: "many" })).toMatchObject({ code: "validation", field: "max_iterations" });
    expect(await callFails(client, "sessions_list", { limit: { n: 1 } })).toMatchObject({ code: "validation", field: "limit" });
    expect(await callFails(client, "sessions_list", { limit: 0 })).toMatchObject({ code: "validation", field: "limit" });
    expect(await callFails(client, "sessions_show", { id: "no-such-session" })).toMatchObject({ code: "not_found" });
    const s = await call(client, "sessions_start", {});
    expect(await callFails(client, "sessions_restore", { id: s.id, cid: "no-such-checkpoint" })).toMatchObject({ code: "not_found" });
    // A tracked session has no process to run code in.
    expect((await callFails(client, "sessions_exec", { id: s.id, input: "ls" })).code).toMatch(/session_not_active|conflict/);

    const unknownTool = await rpcError(client.callTool({ name: "sessions_teleport", arguments: {} }));
    expect(unknownTool.code).toBe(-32602);
    // The SDK's client puts "MCP error <code>: " before the message: once.
    expect(unknownTool.message).toBe("MCP error -32602: unknown tool sessions_teleport; tools/list names them");
    expect((await rpcError(client.readResource({ uri: "sessiond://sessions/no-such-session/timeline" }))).code).toBe(-32002);
    expect((await rpcError(client.readResource({ uri: "file:///etc/passwd" }))).code).toBe(-32602);
    expect((await rpcError(client.readResource({ uri: `sessiond://sessions/${s.id}/timeline?limit=-1` }))).code).toBe(-32602);
    // arguments that is no object: invalid params, as the MCP specification has it.
    for (const bad of ["hello", 7, [1]]) expect((await rpcError(client.request({ method: "tools/call", params: { name: "sessions_show", arguments: bad } } as never, types.CallToolResultSchema))).code).toBe(-32602);
    // Dot segments would resolve to another route's path: refused as references.
    for (const id of [".", ".."]) expect((await callFails(client, "sessions_show", { id })).field).toBe("id");
    for (const ref of [".", "..", "%2E%2E"]) expect((await rpcError(client.readResource({ uri: `sessiond://sessions/${ref}/context` }))).code).toBe(-32602);

    // The server is still serving.
    expect((await call(client, "sessions_show", { id: s.id })).id).toBe(s.id);
  });

  it("answers a body that is no JSON-RPC message with the transport's JSON-RPC error", async () => {
    const headers = { "content-type": "application/json", accept: "application/json, text/event-stream", authorization: `Bearer ${server.token}` };
    const res = await fetch(`${base}/mcp`, { method: "POST", headers, body: JSON.stringify({ hello: "world" }) });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { code: number } }).error.code).toBe(-32700);
    const notAccepting = await fetch(`${base}/mcp`, { method: "POST", headers: { ...headers, accept: "application/json" }, body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "ping" }) });
    expect(notAccepting.status).toBe(406);
  });
});

describe("/mcp's answer budget", () => {
  let small: TestServer;
  let url: string;
  beforeAll(async () => {
    small = await startServer({ tokens: tokens(), mcpMaxAnswerBytes: 100_000, mcpMaxConcurrentPerToken: 1, enableSessions: true });
    await small.app.listen({ host: "127.0.0.1", port: 0 });
    url = `http://127.0.0.1:${(small.app.server.address() as AddressInfo).port}/mcp`;
  });
  afterAll(async () => {
    await small.close();
  });

  it("answers a batch's messages one at a time until their answers hold mcpMaxAnswerBytes, and the rest with an error saying so", async () => {
    const session = await small.manager.create({ agent_id: "agent-a", name: "big-timeline" });
    for (let i = 0; i < 3; i++) await small.manager.appendEvent(session.id, "note", { text: "x".repeat(30_000) });
    const batch = Array.from({ length: 20 }, (_, i) => ({ jsonrpc: "2.0", id: i, method: "resources/read", params: { uri: `sessiond://sessions/${session.id}/timeline` } }));
    const res = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json", accept: "application/json, text/event-stream", authorization: `Bearer ${AGENT_A}` },
      body: JSON.stringify(batch),
    });
    expect(res.status).toBe(200);
    const answers = (await res.json()) as { id: number; result?: unknown; error?: { message: string } }[];
    expect(answers).toHaveLength(20);
    const read = answers.filter((a) => a.result !== undefined);
    const refused = answers.filter((a) => a.error !== undefined);
    // Each read is ~90 KB: the second takes the answers past the budget, every later one is refused unmade.
    expect(read).toHaveLength(2);
    expect(refused).toHaveLength(18);
    expect(refused[0]!.error!.message).toContain("mcpMaxAnswerBytes");
    // A request of its own is answered again.
    const again = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json", accept: "application/json, text/event-stream", authorization: `Bearer ${AGENT_A}` },
      body: JSON.stringify(batch[0]),
    });
    expect(((await again.json()) as { result?: unknown }).result).toBeDefined();
  });

  it("answers 429 to a token's POST beyond mcpMaxConcurrentPerToken while the others run, and serves it again after", async () => {
    const shell = await small.app.sessiond.live.start({ kind: "shell", name: "slow" });
    const post = (args: Record<string, unknown>) =>
      fetch(url, {
        method: "POST",
        headers: { "content-type": "application/json", accept: "application/json, text/event-stream", authorization: `Bearer ${small.token}` },
        body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/call", params: { name: "sessions_exec", arguments: args } }),
      });
    const slow = post({ id: shell.id, input: "sleep 1; echo slept" });
    // Under way once the shell runs it.
    await expect.poll(() => small.app.sessiond.live.describe(shell.id)?.running_exec_id ?? null, { timeout: 5000 }).not.toBeNull();
    const refused = await post({ id: shell.id, input: "true" });
    expect(refused.status).toBe(429);
    expect(((await refused.json()) as { error: { code: string; message: string } }).error).toMatchObject({ code: "rate_limited", message: expect.stringContaining("mcpMaxConcurrentPerToken") });
    expect((await slow).status).toBe(200);
    expect((await post({ id: shell.id, input: "true" })).status).toBe(200);
    await small.app.sessiond.live.stop(shell.id);
  });
});
