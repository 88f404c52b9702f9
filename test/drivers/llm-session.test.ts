import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { OutputEvent } from "../../src/drivers/index.js";
import { LiveHarness, eventually } from "./harness.js";
import { FakeOpenAI } from "./support/fake-openai.js";

const KEY = "sk-test-0123456789-never-stored";

describe("llm sessions against an OpenAI-compatible endpoint", () => {
  let fake: FakeOpenAI;
  let h: LiveHarness;
  const open = (flags: Record<string, unknown> = {}) => {
    h = new LiveHarness({
      llmBaseUrl: fake.baseUrl,
      llmApiKey: KEY,
      llmMaxAttempts: 3,
      llmBackoffBaseMs: 5,
      llmBackoffMaxMs: 20,
      llmRequestTimeoutMs: 5_000,
      llmPrices: { "fake-model": { input: 1, output: 2 } },
      ...flags,
    });
    return h;
  };
  const start = (metadata: Record<string, unknown> = {}) =>
    h.live.start({ kind: "llm", metadata: { model: "fake-model", system_prompt: "Be brief.", ...metadata } });

  beforeEach(async () => {
    fake = await FakeOpenAI.start();
  });
  afterEach(async () => {
    await h?.close();
    await fake.close();
  });

  it("streams the reply token by token and records the turn as message events with usage and cost", async () => {
    open();
    const session = await start();
    const chunks: OutputEvent[] = [];
    h.live.onOutput((e) => chunks.push(e));
    const result = await h.live.exec(session.id, "hello there world");
    expect(result).toMatchObject({ status: "ok", exit_code: 0, stdout: "echo: hello there world", stderr: "" });
    // What the session stream carried is the reply (token by token as it comes: see the interrupt test).
    expect(chunks.every((c) => c.stream === "stdout" && c.exec_id === result.exec_id)).toBe(true);
    expect(Buffer.concat(chunks.map((c) => c.data)).toString()).toBe("echo: hello there world");

    const request = fake.requests[0]!;
    expect(request.authorization).toBe(`Bearer ${KEY}`);
    expect(request.body).toMatchObject({ model: "fake-model", stream: true });
    expect(request.body.messages).toEqual([
      { role: "system", content: "Be brief." },
      { role: "user", content: "hello there world" },
    ]);

    const events = await h.manager.listEvents(session.id, { types: ["message", "exec"] });
    expect(events.map((e) => [e.type, e.data.role ?? null])).toEqual([
      ["message", "user"],
      ["message", "assistant"],
      ["exec", null],
    ]);
    expect(events[1]!.data).toMatchObject({ content: "echo: hello there world", model: "fake-model", finish_reason: "stop" });
    const after = await eventually(async () => {
      const s = await h.manager.get(session.id);
      return s.metadata.turns === 1 ? s : undefined;
    });
    // 10 prompt tokens at $1/M + 4 completion tokens at $2/M.
    expect(after.metadata).toMatchObject({ prompt_tokens: 10, completion_tokens: 4, total_tokens: 14, cost_usd: 0.000018, model: "fake-model" });

    // The key went to the endpoint only: not in the session, its events or its runtime metadata.
    const everything = JSON.stringify([after, await h.manager.listEvents(session.id, { limit: 1000 })]);
    expect(everything).not.toContain(KEY);
  });

  it("sends the conversation each turn, so the model sees earlier messages", async () => {
    open();
    const session = await start();
    await h.live.exec(session.id, "the sky is green");
    const result = await h.live.exec(session.id, "what did I say?");
    expect(result.stdout).toBe("you said: the sky is green");
    expect(fake.requests[1]!.body.messages.map((m) => m.role)).toEqual(["system", "user", "assistant", "user"]);
  });

  it("leaves the oldest messages out past the history token budget", async () => {
    open({ llmHistoryTokens: 40 });
    const session = await start({ system_prompt: "" });
    for (const text of ["one ".repeat(20), "two", "three"]) await h.live.exec(session.id, text);
    const last = fake.requests[2]!.body.messages;
    expect(last[last.length - 1]).toEqual({ role: "user", content: "three" });
    expect(last.some((m) => m.content?.startsWith("one"))).toBe(false);
    expect(last.some((m) => m.content === "two")).toBe(true);
  });

  it("asks for whole replies when the session turns streaming off", async () => {
    open();
    const session = await start({ stream: false });
    const result = await h.live.exec(session.id, "no stream please");
    expect(result).toMatchObject({ status: "ok", stdout: "echo: no stream please" });
    expect(fake.requests[0]!.body.stream).toBe(false);
    const s = await eventually(async () => ((await h.manager.get(session.id)).metadata.turns === 1 ? h.manager.get(session.id) : undefined));
    expect(s.metadata.prompt_tokens).toBe(10);
  });

  it.each([
    ["status 429", "HTTP 429"],
    ["status 500", "HTTP 500"],
    ["hang", "no answer from 127.0.0.1"],
  ])("reports %s as an exec error after the configured attempts, and the session goes on", async (input, why) => {
    open(input === "hang" ? { llmRequestTimeoutMs: 1000 } : {});
    const session = await start();
    const result = await h.live.exec(session.id, input);
    expect(result).toMatchObject({ status: "error", exit_code: 1, stdout: "" });
    expect(result.stderr).toContain("llm request failed after 3 attempts");
    expect(result.stderr).toContain(why);
    expect(fake.attemptsFor(input)).toBe(3);
    // A failed turn is not part of the conversation.
    expect(await h.manager.listEvents(session.id, { types: ["message"] })).toEqual([]);
    expect((await h.live.exec(session.id, "still here")).stdout).toBe("echo: still here");
  });

  it("retries a transient failure and answers", async () => {
    open();
    const session = await start();
    const result = await h.live.exec(session.id, "flaky");
    expect(result).toMatchObject({ status: "ok", stdout: "echo: flaky" });
    expect(fake.attemptsFor("flaky")).toBe(2);
    const [, assistant] = await h.manager.listEvents(session.id, { types: ["message"] });
    expect(assistant!.data.attempts).toBe(2);
  });

  it("records tool-call messages", async () => {
    open();
    const session = await start();
    const result = await h.live.exec(session.id, "tool");
    expect(result.status).toBe("ok");
    expect(result.stdout).toContain('[tool call] get_weather({"city":"Paris"})');
    const [, assistant] = await h.manager.listEvents(session.id, { types: ["message"] });
    expect(assistant!.data).toMatchObject({
      role: "assistant",
      finish_reason: "tool_calls",
      tool_calls: [{ id: "call_1", type: "function", function: { name: "get_weather", arguments: '{"city":"Paris"}' } }],
    });
    // The client answers the call: the tool message goes right after the assistant's call.
    const answer = await h.live.exec(session.id, JSON.stringify({ role: "tool", tool_call_id: "call_1", content: "22 C" }));
    expect(answer.stdout).toBe("the tool said: 22 C");
    const sent = fake.requests[1]!.body.messages;
    expect(sent.slice(-2)).toMatchObject([{ role: "assistant", tool_calls: [{ id: "call_1" }] }, { role: "tool", tool_call_id: "call_1", content: "22 C" }]);
    const messages = await h.manager.listEvents(session.id, { types: ["message"] });
    expect(messages.map((m) => m.data.role)).toEqual(["user", "assistant", "tool", "assistant"]);
  });

  it("shows the first token on the session stream while the reply is still coming, and interrupts it", async () => {
    open({ llmRequestTimeoutMs: 30_000 });
    const session = await start();
    const chunks: OutputEvent[] = [];
    h.live.onOutput((e) => chunks.push(e));
    const running = h.live.exec(session.id, "slow");
    // The endpoint sent one token and holds the rest: the token is on the stream already.
    await eventually(() => Buffer.concat(chunks.map((c) => c.data)).toString() === "echo: ");
    expect(h.live.describe(session.id)!.running_exec_id).not.toBeNull();
    await eventually(async () => (await h.live.interrupt(session.id)).interrupted);
    const result = await running;
    expect(result.status).toBe("interrupted");
    expect(result.stderr).toContain("interrupted");
    expect((await h.live.exec(session.id, "after")).stdout).toBe("echo: after");
  });

  it("uses the api_key of its start request over the configured one, keeps it through a crash, and stores it nowhere", async () => {
    open();
    const own = "sk-session-own-key-kept-in-memory";
    const session = await h.live.start({ kind: "llm", metadata: { model: "fake-model" }, secrets: { api_key: own } });
    await h.live.exec(session.id, "first");
    process.kill(h.live.describe(session.id)!.pid!, "SIGKILL");
    await eventually(async () => (await h.manager.get(session.id)).status === "crashed");
    await h.live.recover(session.id);
    await h.live.exec(session.id, "second");
    expect(fake.requests.map((r) => r.authorization)).toEqual([`Bearer ${own}`, `Bearer ${own}`]);
    const everything = JSON.stringify([await h.manager.get(session.id), await h.manager.listEvents(session.id, { limit: 1000 })]);
    expect(everything).not.toContain(own);
  });

  it("refuses secrets for a kind that takes none, naming the field", async () => {
    open({ executionModes: { shell: true, llm: true } });
    await expect(h.live.start({ kind: "shell", secrets: { api_key: "x" } })).rejects.toMatchObject({ code: "validation", field: "secrets" });
    await expect(h.live.start({ kind: "llm", secrets: { "Bad-Name": "x" } })).rejects.toMatchObject({ code: "validation" });
  });

  it("recovers a crashed session from its history, without replaying anything", async () => {
    open();
    const session = await start();
    await h.live.exec(session.id, "remember the number 7");
    const pid = h.live.describe(session.id)!.pid!;
    process.kill(pid, "SIGKILL");
    await eventually(async () => (await h.manager.get(session.id)).status === "crashed");
    await h.live.recover(session.id);
    const result = await h.live.exec(session.id, "what did I say?");
    expect(result.stdout).toBe("you said: remember the number 7");
    expect(fake.requests).toHaveLength(2);
  });
});
