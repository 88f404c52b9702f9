import { expect } from "vitest";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { McpError } from "@modelcontextprotocol/sdk/types.js";

/** Tokens of a test server: two agents and a reader, each scoped as docs/security.md describes. */
export const AGENT_A = "mcp-agent-a-token-0123456789-abcdefghij";
export const AGENT_B = "mcp-agent-b-token-0123456789-abcdefghij";
// A fresh copy per use: resolveConfig freezes what it is given.
export const READER = "mcp-reader-token-0123456789-abcdefghij";
export const tokens = () => [
  { token: AGENT_A, role: "agent", agent_id: "agent-a", name: "agent-a" },
  { token: AGENT_B, role: "agent", agent_id: "agent-b", name: "agent-b" },
  { token: READER, role: "reader", name: "reader" },
];

/** Every tool `sessiond mcp` and /mcp offer. */
export const TOOL_NAMES = [
  "sessions_append_event",
  "sessions_checkpoint",
  "sessions_checkpoints",
  "sessions_exec",
  "sessions_fork",
  "sessions_list",
  "sessions_restore",
  "sessions_show",
  "sessions_start",
];

/** An MCP client of the SDK's, named for the test. */
export function newClient(): Client {
  return new Client({ name: "sessiond-test", version: "1.0.0" });
}

type ToolAnswer = { structuredContent?: Record<string, any>; content: { type: string; text?: string }[]; isError?: boolean };

/** Calls a tool that must succeed; its structured content. */
export async function call(client: Client, name: string, args: Record<string, unknown> = {}): Promise<Record<string, any>> {
  const result = (await client.callTool({ name, arguments: args })) as ToolAnswer;
  if (result.isError) throw new Error(`${name} failed: ${result.content.map((c) => c.text).join(" ")}`);
  expect(result.structuredContent).toBeDefined();
  // The model reads the content: a short text, then the same JSON as the structured content.
  expect(JSON.parse(result.content[1]!.text!)).toEqual(result.structuredContent);
  return result.structuredContent!;
}

/** Calls a tool that must fail with a tool error; the server's error it carries. */
export async function callFails(client: Client, name: string, args: Record<string, unknown>): Promise<{ code: string; message: string; field?: string }> {
  const result = (await client.callTool({ name, arguments: args })) as ToolAnswer;
  expect(result.isError, `${name} should fail: ${JSON.stringify(result.structuredContent)}`).toBe(true);
  expect(result.structuredContent).toBeUndefined();
  const wire = JSON.parse(result.content[1]!.text!) as { error: { code: string; message: string; field?: string } };
  expect(result.content[0]!.text).toContain(`${wire.error.code}: ${wire.error.message}`);
  return wire.error;
}

/** The JSON-RPC error a request was refused with. */
export async function rpcError(promise: Promise<unknown>): Promise<McpError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(McpError);
  return err as McpError;
}

/** Reads a resource's JSON. */
export async function readJson(client: Client, uri: string): Promise<any> {
  const { contents } = await client.readResource({ uri });
  expect(contents).toHaveLength(1);
  expect(contents[0]!.uri).toBe(uri);
  expect(contents[0]!.mimeType).toBe("application/json");
  const content = contents[0]!;
  if (!("text" in content)) throw new Error(`${uri} came as bytes`);
  return JSON.parse(content.text);
}
