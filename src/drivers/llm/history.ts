import type { JsonObject, SessionEvent } from "../../core/index.js";

/**
 * An llm session's conversation: the `message` events of the session, in order. Each turn sends
 * the system prompt, then as many of the newest messages as fit the token budget, then the new
 * user message (always sent, whatever its size).
 */

/** A chat message as the OpenAI chat completions API takes it (and as `message` events hold it). */
export interface ChatMessage {
  readonly role: "system" | "user" | "assistant" | "tool";
  readonly content: string | null;
  readonly tool_calls?: readonly JsonObject[];
  readonly tool_call_id?: string;
  readonly name?: string;
}

/** Roughly 4 characters a token for English text, plus a few tokens of framing per message. */
const CHARS_PER_TOKEN = 4;
const TOKENS_PER_MESSAGE = 4;

/** A cheap estimate of a message's tokens (no tokenizer: model-specific, and not worth a dependency here). */
export function estimateTokens(message: ChatMessage): number {
  const calls = message.tool_calls ? JSON.stringify(message.tool_calls).length : 0;
  return TOKENS_PER_MESSAGE + Math.ceil(((message.content ?? "").length + calls) / CHARS_PER_TOKEN);
}

/** The chat message a `message` event records, or undefined for a malformed one. */
export function messageFromEvent(event: SessionEvent): ChatMessage | undefined {
  const data = event.data as Record<string, unknown>;
  const role = data.role;
  if (role !== "user" && role !== "assistant" && role !== "tool" && role !== "system") return undefined;
  const content = typeof data.content === "string" ? data.content : null;
  return {
    role,
    content,
    ...(Array.isArray(data.tool_calls) ? { tool_calls: data.tool_calls as JsonObject[] } : {}),
    ...(typeof data.tool_call_id === "string" ? { tool_call_id: data.tool_call_id } : {}),
    ...(typeof data.name === "string" ? { name: data.name } : {}),
  };
}

/**
 * The messages of one turn: `system` (when not empty), the newest of `history` that fit in
 * `budgetTokens` (oldest dropped first; a tool answer is never sent without the call before it),
 * and `next`.
 * @returns the messages and how many history messages were left out
 */
export function turnMessages(system: string, history: readonly ChatMessage[], next: ChatMessage, budgetTokens: number): { messages: ChatMessage[]; dropped: number } {
  // A tool answer goes with the assistant message that called the tool: that one is always kept.
  if (next.role === "tool") budgetTokens = Math.max(budgetTokens, estimateTokens(next) + estimateTokens(history[history.length - 1] ?? next));
  let budget = budgetTokens - estimateTokens(next) - (system ? estimateTokens({ role: "system", content: system }) : 0);
  let first = history.length;
  while (first > 0) {
    const cost = estimateTokens(history[first - 1]!);
    if (cost > budget) break;
    budget -= cost;
    first--;
  }
  while (first < history.length && history[first]!.role === "tool") first++;
  const kept = history.slice(first);
  return { messages: [...(system ? [{ role: "system" as const, content: system }] : []), ...kept, next], dropped: first };
}
