import { afterEach, describe, expect, it, vi } from "vitest";
import { type TestServer, startServer } from "../server/harness.js";
import { FakeOpenAI } from "./support/fake-openai.js";

vi.setConfig({ testTimeout: 60_000 });

/** The README's "Python, TypeScript and LLM sessions over curl", through the real app (app.inject). */
describe("python, typescript and llm sessions over HTTP", () => {
  let server: TestServer | undefined;
  let fake: FakeOpenAI | undefined;
  afterEach(async () => {
    await server?.close();
    await fake?.close();
    server = undefined;
    fake = undefined;
  });

  it("runs the README's python session on seed 000's routes", async () => {
    server = await startServer({ enableSessions: true });
    const started = await server.json({ method: "POST", url: "/session/start", body: { mode: "python" } });
    expect(started.status).toBe(201);
    const id = started.body.id as string;
    expect((await server.json({ method: "POST", url: `/session/${id}/exec`, body: { input: "import math\nr = 2" } })).body.status).toBe("ok");
    const area = await server.json({ method: "POST", url: `/session/${id}/exec`, body: { input: "math.pi * r ** 2" } });
    expect(area.body).toMatchObject({ stdout: "12.566370614359172\n", stderr: "", exit_code: 0, status: "ok" });
    const syntax = await server.json({ method: "POST", url: `/session/${id}/exec`, body: { input: "def (" } });
    expect(syntax.status).toBe(200);
    expect(syntax.body.status).toBe("error");
    const logs = await server.json({ method: "GET", url: `/session/${id}/logs?since=0` });
    expect(logs.body.map((r: { input: string }) => r.input)).toEqual(["import math\nr = 2", "math.pi * r ** 2", "def ("]);
    const list = await server.json({ method: "GET", url: "/session/list" });
    expect(JSON.stringify(list.body)).toContain(id);
    expect((await server.json({ method: "POST", url: `/session/${id}/stop` })).status).toBe(200);
  });

  it("runs the README's typescript session on the canonical routes, 413 past the input cap", async () => {
    server = await startServer({ enableSessions: true, maxExecInputBytes: 1024 });
    const started = await server.json({ method: "POST", url: "/sessions/", body: { kind: "typescript" } });
    expect(started.status).toBe(201);
    const id = started.body.id as string;
    await server.json({ method: "POST", url: `/sessions/${id}/exec`, body: { input: "const xs: number[] = [1, 2, 3]" } });
    const doubled = await server.json({ method: "POST", url: `/sessions/${id}/exec`, body: { input: "await Promise.resolve(xs.map((x) => x * 2))" } });
    expect(doubled.body).toMatchObject({ stdout: "[ 2, 4, 6 ]\n", status: "ok" });
    const big = await server.json({ method: "POST", url: `/sessions/${id}/exec`, body: { input: `"${"a".repeat(2000)}"` } });
    expect(big.status).toBe(413);
    expect(big.body.error).toMatchObject({ code: "too_large", field: "input" });
    await server.json({ method: "POST", url: `/sessions/${id}/stop` });
  });

  it("runs the README's llm session, the turn in the events and the usage in metadata", async () => {
    fake = await FakeOpenAI.start();
    server = await startServer({ enableSessions: true, llmBaseUrl: fake.baseUrl, llmApiKey: "sk-http-test-key-0123" });
    const started = await server.json({
      method: "POST",
      url: "/sessions/",
      body: { kind: "llm", metadata: { model: "gpt-4o-mini", system_prompt: "Answer in one line." } },
    });
    expect(started.status).toBe(201);
    const id = started.body.id as string;
    const turn = await server.json({ method: "POST", url: `/sessions/${id}/exec`, body: { input: "Name a prime above 100." } });
    expect(turn.body).toMatchObject({ status: "ok", stdout: "echo: Name a prime above 100." });
    const events = await server.json({ method: "GET", url: `/sessions/${id}/events?type=message` });
    expect(JSON.stringify(events.body)).toContain('"role":"assistant"');
    const session = await server.json({ method: "GET", url: `/sessions/${id}` });
    expect(session.body.metadata).toMatchObject({ model: "gpt-4o-mini", turns: 1, total_tokens: expect.any(Number) });
    expect(JSON.stringify(session.body)).not.toContain("sk-http-test-key-0123");
    await server.json({ method: "POST", url: `/sessions/${id}/stop` });
  });

  it("lists the new kinds when a mode is unknown", async () => {
    server = await startServer({ enableSessions: true });
    const res = await server.json({ method: "POST", url: "/session/start", body: { mode: "ruby" } });
    expect(res.status).toBe(400);
    expect(res.body.error.message).toContain("shell, python, typescript, llm");
  });
});
