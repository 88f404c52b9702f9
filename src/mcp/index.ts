/**
 * sessiond as an MCP server (docs/adapters.md#mcp): tools over an agent's sessions (start, list,
 * show, exec, checkpoint, restore, fork, append event) and each session's timeline and context as
 * resources, every call made to the server's own routes as the MCP client's principal. The MCP SDK
 * is an optional peer dependency, loaded on first use; see peer.ts.
 */
export { AnswerBudget } from "./answer-budget.js";
export { answerMcpRequest } from "./http.js";
export type { OpenApiDocument } from "./operation-schemas.js";
export { MCP_SDK, type McpSdk, importMcp, loadMcpSdk } from "./peer.js";
export { RESOURCE_TEMPLATES, resourceUri } from "./resources.js";
export type { RouteAnswer, RouteCall, RouteCaller } from "./route-caller.js";
export { McpCatalog, type McpServerParts, createMcpServer } from "./server.js";
export { serveStdio } from "./stdio.js";
export type { ToolDefinition, ToolResult } from "./tools.js";
