import { describe, expect, it } from "vitest";
import { maskSecrets } from "../../src/cli/mask-secrets.js";
import { resolveConfig } from "../../src/core/index.js";
import { type ChatMessage, estimateTokens, turnMessages } from "../../src/drivers/llm/index.js";

describe("llm configuration", () => {
  it("reads the key from SESSIOND_LLM_API_KEY or OPENAI_API_KEY, and masks it", () => {
    const fromOpenAi = resolveConfig({ env: { HOME: "/tmp", OPENAI_API_KEY: "sk-from-openai-env" } });
    expect(fromOpenAi.llmApiKey).toBe("sk-from-openai-env");
    const both = resolveConfig({ env: { HOME: "/tmp", OPENAI_API_KEY: "sk-a", SESSIOND_LLM_API_KEY: "sk-b" } });
    expect(both.llmApiKey).toBe("sk-b");
    const masked = maskSecrets(both);
    expect(masked.llmApiKey).toBe("********");
    expect(JSON.stringify(masked)).not.toContain("sk-b");
  });

  it("refuses a price table entry without both prices, naming it", () => {
    expect(() => resolveConfig({ env: { HOME: "/tmp" }, file: { llmPrices: { m: { input: 1 } } } })).toThrow(/llmPrices/);
  });
});

describe("an llm turn's messages", () => {
  const msg = (role: ChatMessage["role"], content: string): ChatMessage => ({ role, content });

  it("sends the system prompt, the newest history that fits, and the new message", () => {
    const history = [msg("user", "a".repeat(400)), msg("assistant", "b".repeat(40)), msg("user", "c"), msg("assistant", "d")];
    const next = msg("user", "now");
    const budget = estimateTokens(next) + estimateTokens(msg("system", "sys")) + estimateTokens(history[1]!) + estimateTokens(history[2]!) + estimateTokens(history[3]!);
    const { messages, dropped } = turnMessages("sys", history, next, budget);
    expect(messages.map((m) => m.content)).toEqual(["sys", "b".repeat(40), "c", "d", "now"]);
    expect(dropped).toBe(1);
  });

  it("always sends the new message, and never a tool answer without its call", () => {
    const history: ChatMessage[] = [
      { role: "assistant", content: null, tool_calls: [{ id: "1", type: "function", function: { name: "f", arguments: "{}" } }] },
      { role: "tool", content: "42", tool_call_id: "1" },
      msg("assistant", "done"),
    ];
    const next = msg("user", "x".repeat(1000));
    expect(turnMessages("", history, next, 10).messages).toEqual([next]);
    const tight = estimateTokens(next) + estimateTokens(history[1]!) + estimateTokens(history[2]!);
    expect(turnMessages("", history, next, tight).messages.map((m) => m.role)).toEqual(["assistant", "user"]);
  });
});
