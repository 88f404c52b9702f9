import type { Server } from "@modelcontextprotocol/sdk/server/index.js";
import type { OpenApiDocument } from "./operation-schemas.js";
import type { McpSdk } from "./peer.js";
import { RESOURCE_TEMPLATES, ResourceError, listResources, readResource } from "./resources.js";
import type { RouteCaller } from "./route-caller.js";
import { ToolCatalog } from "./tools.js";

/** What an MCP server over sessiond is made of; the catalog is built once per server document, the caller is per principal. */
export interface McpServerParts {
  readonly sdk: McpSdk;
  readonly catalog: McpCatalog;
  /** Sends the tools' and resources' requests as the MCP client's principal. */
  readonly caller: RouteCaller;
}

/** The tools and the server's identity, read from its OpenAPI document. */
export class McpCatalog {
  /** The tools, their schemas from the document. */
  readonly tools: ToolCatalog;
  /** The server's version, as the MCP handshake reports it. */
  readonly version: string;

  /** @throws Error when the document lacks a route a tool calls */
  constructor(document: OpenApiDocument) {
    this.tools = new ToolCatalog(document);
    this.version = document.info?.version ?? "0.0.0";
  }
}

const INSTRUCTIONS =
  "sessiond keeps agent sessions durable: start one (sessions_start), record what happens (sessions_append_event), checkpoint it, " +
  "restore or fork from a checkpoint, and run code in live shell/python/typescript sessions (sessions_exec) where the server enables them. " +
  "A session is named by its id, its name, or agent_id/name. Each session's timeline and context are resources: sessiond://sessions/{id}/timeline and …/context.";

/**
 * An MCP server (the SDK's low-level `Server`: its tools take the route schemas as raw JSON Schema,
 * which the high-level `McpServer`, built on zod, cannot) with sessiond's tools and resources,
 * ready to connect to a transport: stdio for `sessiond mcp`, streamable HTTP for `/mcp`.
 *
 * @example
 * const server = createMcpServer({ sdk: await loadMcpSdk(), catalog, caller });
 * await server.connect(new StdioServerTransport());
 */
export function createMcpServer({ sdk, catalog, caller }: McpServerParts): Server {
  const { types } = sdk;
  // The low-level Server is marked deprecated in favour of McpServer, whose tools need zod schemas: see above.
  const server = new sdk.server.Server(
    { name: "sessiond", title: "sessiond", version: catalog.version },
    { capabilities: { tools: {}, resources: {} }, instructions: INSTRUCTIONS, jsonSchemaValidator: sdk.validator },
  );
  server.setRequestHandler(types.ListToolsRequestSchema, async () => ({ tools: catalog.tools.definitions }));
  // Registered with the loose params of any request: the SDK's own tools/call check then answers
  // malformed params (`arguments` that is no object) with invalid params (-32602), which its
  // registration would otherwise pre-empt with an internal error (-32603) and a raw schema dump.
  const LooseCallToolRequest = types.CallToolRequestSchema.extend({ params: types.RequestSchema.shape.params });
  server.setRequestHandler(LooseCallToolRequest, async (request) => {
    // The SDK checked it against the full schema before this handler runs.
    const { name, arguments: args } = types.CallToolRequestSchema.parse(request).params;
    // An unknown tool is a protocol error (the MCP specification, "Tools: Error Handling"); bad arguments are the tool's result.
    if (!catalog.tools.has(name)) throw rpcError(types.ErrorCode.InvalidParams, `unknown tool ${name}; tools/list names them`);
    return catalog.tools.call(name, args ?? {}, caller);
  });
  server.setRequestHandler(types.ListResourceTemplatesRequestSchema, async () => ({ resourceTemplates: [...RESOURCE_TEMPLATES] }));
  server.setRequestHandler(types.ListResourcesRequestSchema, async (request) => rpc(() => listResources(caller, request.params?.cursor)));
  server.setRequestHandler(types.ReadResourceRequestSchema, async (request) => {
    const contents = await rpc(() => readResource(caller, request.params.uri));
    return { contents: [contents] };
  });
  return server;
}

/** Runs a resource operation; its ResourceError becomes the JSON-RPC error MCP clients expect. */
async function rpc<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (!(err instanceof ResourceError)) throw err;
    throw rpcError(err.rpcCode, err.message, err.data);
  }
}

/**
 * A JSON-RPC error for the SDK to answer: its code, data and message as they are. (The SDK's own
 * McpError puts "MCP error <code>: " before the message it sends, and the SDK's client puts it
 * there again when it reads the error: "MCP error -32602: MCP error -32602: unknown tool…".)
 */
function rpcError(code: number, message: string, data?: unknown): Error {
  return Object.assign(new Error(message), { code, ...(data !== undefined ? { data } : {}) });
}
