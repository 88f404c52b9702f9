import { afterEach, describe, expect, it } from "vitest";
import { isLoopbackUrl } from "../../src/drivers/index.js";
import { LiveHarness, failure } from "./harness.js";
import { FakeOpenAI } from "./support/fake-openai.js";

/** Which llm endpoints need a key, and what a session without one answers (docs/interpreters.md#llm-keys). */

describe("an endpoint on loopback", () => {
  it.each([
    ["http://localhost:11434/v1", true],
    ["http://api.localhost/v1", true],
    ["http://127.0.0.1:8080/v1", true],
    ["http://127.1/v1", true],
    ["http://[::1]:8080/v1", true],
    ["http://[::ffff:127.0.0.1]:8080/v1", true],
    ["https://api.openai.com/v1", false],
    ["http://10.1.2.3:8080/v1", false],
    ["http://127.0.0.1.example.com/v1", false],
    ["http://[::ffff:10.0.0.1]/v1", false],
    ["not a url", false],
  ])("%s is loopback: %s", (url, loopback) => {
    expect(isLoopbackUrl(url)).toBe(loopback);
  });
});

describe("an llm session's key", () => {
  let h: LiveHarness | undefined;
  let fake: FakeOpenAI | undefined;
  afterEach(async () => {
    await h?.close();
    await fake?.close();
    h = undefined;
    fake = undefined;
  });

  it("is refused at start without one, naming api_key, before any session exists", async () => {
    h = new LiveHarness({ executionModes: { llm: true } });
    const err = await failure(h.live.start({ kind: "llm", metadata: { base_url: "https://llm.example.com/v1" } }));
    expect(err).toMatchObject({ code: "validation", field: "api_key", status: 400 });
    expect(err.message).toContain("https://llm.example.com/v1");
    expect((await h.manager.list()).items).toEqual([]);
  });

  it("held in memory only is gone after a restart: the first exec fails at once naming where to give one, with no request sent", async () => {
    fake = await FakeOpenAI.start();
    h = new LiveHarness({ executionModes: { llm: true } });
    // An endpoint that is not loopback and would never answer: only a request made anyway would hang.
    const session = await h.live.start({ kind: "llm", base_url: "http://10.255.255.1:9/v1", api_key: "sk-held-in-memory-only" });
    const old = h.live;
    h.live = h.openLive();
    await old.close();
    expect((await h.manager.get(session.id)).status).toBe("crashed");
    await h.live.recover(session.id);
    const result = await h.live.exec(session.id, "hello?");
    expect(result).toMatchObject({ status: "error", stdout: "" });
    for (const where of ["no API key for http://10.255.255.1:9/v1", "api_key", "llmApiKey", "OPENAI_API_KEY"]) expect(result.stderr).toContain(where);
    // A failed turn is not part of the conversation.
    expect(await h.manager.listEvents(session.id, { types: ["message"] })).toEqual([]);
  });

  it("after a restart, comes from the config when the start's is gone", async () => {
    fake = await FakeOpenAI.start();
    h = new LiveHarness({ executionModes: { llm: true }, llmApiKey: "sk-configured-key", llmBaseUrl: fake.baseUrl });
    const session = await h.live.start({ kind: "llm", base_url: fake.baseUrl, model: "fake-model", api_key: "sk-held-in-memory-only" });
    await h.live.exec(session.id, "before");
    const old = h.live;
    h.live = h.openLive();
    await old.close();
    await h.live.recover(session.id);
    await h.live.exec(session.id, "after");
    expect(fake.requests.map((r) => [r.authorization, r.body.model])).toEqual([
      ["Bearer sk-held-in-memory-only", "fake-model"],
      ["Bearer sk-configured-key", "fake-model"],
    ]);
  });

  it("from the config goes only to the configured endpoint, never to one a start names", async () => {
    fake = await FakeOpenAI.start();
    const other = await FakeOpenAI.start();
    try {
      h = new LiveHarness({ executionModes: { llm: true }, llmApiKey: "sk-operator-key", llmBaseUrl: `${fake.baseUrl}/` });
      const configured = await h.live.start({ kind: "llm", model: "fake-model" });
      await h.live.exec(configured.id, "to the operator's endpoint");
      const elsewhere = await h.live.start({ kind: "llm", base_url: other.baseUrl, model: "fake-model" });
      await h.live.exec(elsewhere.id, "to an endpoint the start named");
      expect(fake.requests.map((r) => r.authorization)).toEqual(["Bearer sk-operator-key"]);
      expect(other.requests.map((r) => r.authorization)).toEqual([undefined]);
      // Not on loopback, the named endpoint needs a key of the start's own: refused at start.
      const err = await failure(h.live.start({ kind: "llm", base_url: "https://llm.example.com/v1" }));
      expect(err).toMatchObject({ code: "validation", field: "api_key" });
    } finally {
      await other.close();
    }
  });
});
