import { Type } from "@sinclair/typebox";
import type { FastifyInstance, FastifyPluginAsync, FastifyReply, FastifyRequest } from "fastify";
import { AnswerBudget, McpCatalog, type OpenApiDocument, type RouteCaller, answerMcpRequest, loadMcpSdk } from "../../mcp/index.js";
import { SessiondError } from "../../core/index.js";
import { relayedAuthorization } from "../auth/index.js";
import type { PrincipalQuota } from "../principal-quota.js";
import { ERROR, NO_CONTENT, json, responses } from "../responses.js";

/** A JSON-RPC 2.0 message, or a batch of them: what MCP's streamable HTTP transport posts and answers. */
const JsonRpcMessage = Type.Object({ jsonrpc: Type.Literal("2.0") }, { additionalProperties: true, description: "a JSON-RPC 2.0 request, notification or response (MCP)" });
const JsonRpcBody = Type.Union([JsonRpcMessage, Type.Array(JsonRpcMessage, { minItems: 1 })]);

/** An answer of the MCP transport itself (a body that is no JSON-RPC message, an Accept without JSON and SSE), or ours. */
const TRANSPORT_ERROR = {
  description: "the MCP transport's JSON-RPC error (`id` null), or the error shape (docs/errors.md)",
  content: { "application/json": { schema: Type.Union([Type.Ref("Error"), JsonRpcMessage]) } },
} as const;

/** The headers of a request the MCP transport reads; the others (the token above all) stay here. */
const MCP_HEADERS = ["accept", "content-type", "mcp-protocol-version", "mcp-session-id", "last-event-id"] as const;

/**
 * `/mcp`: sessiond as an MCP server over streamable HTTP (docs/adapters.md#mcp), behind the same
 * authentication as every route. Each tool and resource is a request to the server's own route,
 * sent with `app.inject` as the caller's principal — its bearer token, or the admin token for the
 * local admin (the Unix socket, or a server without auth), as forwarding to another node does —
 * so validation, scoping and errors are the routes' own. Stateless: one exchange per POST.
 * The MCP SDK is an optional peer dependency: without it the route answers 501 dependency_missing.
 */
export const mcpRoutes: FastifyPluginAsync<{ adminToken: string; maxAnswerBytes: number; quota: PrincipalQuota }> = async (app, { adminToken, maxAnswerBytes, quota }) => {
  // Built on first use from the finished document (every route registered by then).
  let catalog: McpCatalog | undefined;

  app.post(
    "/",
    {
      // A reader's MCP client may read through it: each tool call is authorized again as the caller.
      config: { documentedInput: { body: JsonRpcBody }, relaysAsCaller: true },
      // A token's exchanges under way at once are capped (config mcpMaxConcurrentPerToken): each has its own answer budget.
      preHandler: quota.claim,
      schema: {
        operationId: "mcp",
        summary: "MCP over streamable HTTP",
        description:
          "An MCP client's JSON-RPC messages (initialize, tools/list, tools/call, resources/list, resources/templates/list, resources/read…), answered as JSON: " +
          "the client must accept `application/json` and `text/event-stream`. Stateless: no Mcp-Session-Id, no GET stream. " +
          "Tools and resources act as the request's token (an agent token sees only its own sessions). 501 `dependency_missing` when @modelcontextprotocol/sdk is not installed. See docs/adapters.md#mcp.",
        tags: ["mcp"],
        response: {
          ...responses({ 200: json(JsonRpcBody, "the JSON-RPC response(s)"), 202: NO_CONTENT }, [501]),
          400: TRANSPORT_ERROR,
          406: TRANSPORT_ERROR,
          415: TRANSPORT_ERROR,
          501: ERROR,
        },
      },
    },
    async (request, typedReply) => {
      // The transport's status, whichever of those declared above it is.
      const reply = typedReply as FastifyReply;
      const sdk = await loadMcpSdk();
      catalog ??= new McpCatalog(app.swagger() as unknown as OpenApiDocument);
      const authorization = relayedAuthorization(request, adminToken);
      if (authorization === undefined) throw new SessiondError("unauthorized", { reason: "MCP needs Authorization: Bearer <token> (the tools act as that token)" });
      const caller = new AnswerBudget(injectCaller(app, authorization), maxAnswerBytes);
      const answer = await answerMcpRequest({ sdk, catalog, caller }, webRequest(request), request.body);
      reply.status(answer.status);
      answer.headers.forEach((value, name) => void reply.header(name, value));
      const text = await answer.text();
      return reply.send(text.length ? text : undefined);
    },
  );
};

/** The request as the MCP transport reads it (a Web Request), its body already parsed by Fastify. */
function webRequest(request: FastifyRequest): Request {
  const headers = new Headers();
  for (const name of MCP_HEADERS) {
    const value = request.headers[name];
    if (value !== undefined) headers.set(name, Array.isArray(value) ? value.join(", ") : value);
  }
  return new Request(new URL(request.url, "http://sessiond.invalid"), { method: request.method, headers });
}

/** Requests to this server's routes as the principal `authorization` names. */
function injectCaller(app: FastifyInstance, authorization: string): RouteCaller {
  return {
    async call({ method, url, body }) {
      const res = await app.inject({
        method,
        url,
        headers: { authorization, ...(body !== undefined ? { "content-type": "application/json" } : {}) },
        ...(body !== undefined ? { payload: JSON.stringify(body) } : {}),
      });
      return { status: res.statusCode, headers: res.headers, body: res.body.length ? (JSON.parse(res.body) as unknown) : undefined, bytes: res.rawPayload.length };
    },
  };
}
