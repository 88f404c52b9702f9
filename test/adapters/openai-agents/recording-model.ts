import type { AgentInputItem, Model, ModelRequest, ModelResponse, StreamEvent } from "@openai/agents-core";
import { Usage } from "@openai/agents-core";

/** The text of a message item (a string, or its parts' text joined), else its type in brackets. */
export function itemText(item: AgentInputItem): string {
  const content = (item as { content?: unknown }).content;
  if (typeof content === "string") return content;
  if (Array.isArray(content)) return content.map((part: { text?: string }) => part.text ?? "").join("");
  return `[${(item as { type?: string }).type}]`;
}

/**
 * A model written against the SDK's own Model interface, with no network: it answers each request
 * with one assistant message naming how many items it was given and the last user text, and keeps
 * every request's input so a test can see what the Runner sent it (history included).
 */
export class RecordingModel implements Model {
  readonly inputs: AgentInputItem[][] = [];

  async getResponse(request: ModelRequest): Promise<ModelResponse> {
    const input: AgentInputItem[] = typeof request.input === "string" ? [{ role: "user", content: request.input }] : request.input;
    this.inputs.push(structuredClone(input));
    const lastUser = [...input].reverse().find((item) => (item as { role?: string }).role === "user");
    return {
      usage: new Usage({ requests: 1, inputTokens: input.length, outputTokens: 1, totalTokens: input.length + 1 }),
      output: [
        {
          type: "message",
          role: "assistant",
          status: "completed",
          id: `msg_${this.inputs.length}`,
          content: [{ type: "output_text", text: `seen ${input.length} items; last: ${lastUser ? itemText(lastUser) : "none"}` }],
        },
      ],
    };
  }

  // biome-ignore lint/correctness/useYield: the Runner calls getResponse unless it streams, which these tests do not.
  async *getStreamedResponse(): AsyncIterable<StreamEvent> {
    throw new Error("RecordingModel does not stream");
  }
}
