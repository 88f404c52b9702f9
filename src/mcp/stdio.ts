import type { OpenApiDocument } from "./operation-schemas.js";
import { importMcp, loadMcpSdk } from "./peer.js";
import type { RouteCaller } from "./route-caller.js";
import { McpCatalog, createMcpServer } from "./server.js";

type StdioModule = typeof import("@modelcontextprotocol/sdk/server/stdio.js");

/** JSON-RPC 2.0's codes for a message that is no JSON, and for JSON that is no request. */
const PARSE_ERROR = -32700;
const INVALID_REQUEST = -32600;

/**
 * Serves MCP on this process's stdin and stdout (`sessiond mcp`) until the client closes stdin:
 * the tools call the server through `caller`, their schemas are read from `document` (the same
 * server's /openapi.json). Nothing else may write to stdout meanwhile.
 * @throws dependency_missing when the MCP SDK is not installed
 */
export async function serveStdio(caller: RouteCaller, document: OpenApiDocument): Promise<void> {
  const [sdk, { StdioServerTransport }] = await Promise.all([loadMcpSdk(), importMcp<StdioModule>("@modelcontextprotocol/sdk/server/stdio.js")]);
  const server = createMcpServer({ sdk, catalog: new McpCatalog(document), caller });
  const closed = new Promise<void>((resolve) => {
    server.onclose = resolve;
  });
  const transport = new StdioServerTransport();
  await server.connect(transport);
  // Requests read and not yet answered: a client that writes its requests and closes stdin at
  // once (a pipe) still gets every answer before the server ends.
  let unanswered = 0;
  let whenAnswered: (() => void) | undefined;
  const deliver = transport.onmessage!;
  transport.onmessage = (message) => {
    if ("method" in message && "id" in message) unanswered++;
    deliver(message);
  };
  const send = transport.send.bind(transport);
  transport.send = async (message) => {
    try {
      await send(message);
    } finally {
      if ("id" in message && !("method" in message) && --unanswered === 0) whenAnswered?.();
    }
  };
  // A line that is no JSON-RPC message gets the error JSON-RPC 2.0 gives it (id null), which the
  // SDK's stdio transport only reports to the server: a client would otherwise wait on it forever.
  const reportError = transport.onerror;
  transport.onerror = (error) => {
    const code = error.name === "SyntaxError" ? PARSE_ERROR : error.name === "ZodError" ? INVALID_REQUEST : undefined;
    if (code !== undefined) void send({ jsonrpc: "2.0", id: null, error: { code, message: code === PARSE_ERROR ? "Parse error: a line that is no JSON" : "Invalid Request: a line that is no JSON-RPC message" } } as never);
    reportError?.(error);
  };
  // The stdio transport does not notice the end of stdin itself: the client leaving ends the server.
  process.stdin.once("end", () => {
    const close = () => void server.close();
    if (unanswered === 0) close();
    else whenAnswered = close;
  });
  await closed;
}
