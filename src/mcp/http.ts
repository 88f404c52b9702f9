import { type McpServerParts, createMcpServer } from "./server.js";

/**
 * One exchange of MCP's streamable HTTP transport, stateless: a server and a transport for this
 * request only, answered as one JSON body (no SSE stream, no Mcp-Session-Id). Nothing is kept
 * between requests, so any node of a cluster can answer any request, and each request carries its
 * own credentials. GET and DELETE (a server-sent stream, a session's end) are not offered: a
 * stateless server answers them 405, which MCP clients expect.
 *
 * @returns the answer: 200 with the JSON-RPC response(s), 202 for notifications alone, or the
 * transport's 4xx with a JSON-RPC error (a body that is no JSON-RPC message, a missing Accept…)
 */
export async function answerMcpRequest(parts: McpServerParts, request: Request, parsedBody: unknown): Promise<Response> {
  const { WebStandardStreamableHTTPServerTransport } = parts.sdk.streamableHttp;
  const transport = new WebStandardStreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
  const server = createMcpServer(parts);
  await server.connect(transport);
  try {
    const response = await transport.handleRequest(request, { parsedBody });
    // The body is read before the server closes: closing ends the exchange.
    const text = response.status === 202 || response.body === null ? null : await response.text();
    return new Response(text, { status: response.status, headers: response.headers });
  } finally {
    await server.close();
  }
}
