import type { Command } from "commander";
import { isSessiondError } from "../../core/errors.js";
import type { OpenApiDocument, RouteCaller } from "../../mcp/index.js";
import { execDeadline } from "../../sdk/client/sessions-client.js";
import type { RequestSender } from "../../sdk/client/transport.js";
import { type Opts, action, clientOptions } from "../args.js";
import { withClient } from "../client.js";
import { SocketTransport } from "../socket-transport.js";

/**
 * Registers `sessiond mcp`: an MCP server on stdin/stdout over the sessions of a sessiond server —
 * the local one on the data dir's socket (started when none runs, as every client command does),
 * or the one at `--url` with a token (an agent token: the MCP client then sees that agent's
 * sessions only). The MCP SDK, the server's schemas and the SDK's HTTP transport load only here.
 */
export function registerMcpCommand(program: Command): void {
  clientOptions(program.command("mcp"))
    .description("serve MCP on stdin/stdout: tools and resources over your sessions, for Claude Desktop and other MCP clients (docs/adapters.md#mcp)")
    .option("--url <url>", "a sessiond server's URL instead of the local socket, e.g. http://127.0.0.1:8011")
    .option("--token <token>", "the bearer token for --url (env SESSIOND_TOKEN; default the admin token of the data dir)")
    .action(
      action(async (o: Opts) => {
        // The SDK first: without it, say so before starting or reaching any server.
        const { loadMcpSdk, serveStdio } = await import("../../mcp/index.js");
        await loadMcpSdk();
        const url = typeof o.url === "string" ? o.url : undefined;
        const token = typeof o.token === "string" ? o.token : process.env.SESSIOND_TOKEN || undefined;
        const { sender, close } = url === undefined ? await localSender(o) : await remoteSender(o, url, token);
        try {
          const document = (await sender.request<OpenApiDocument>({ method: "GET", path: "/openapi.json" })).body;
          await serveStdio(senderCaller(sender), document);
        } finally {
          await close();
        }
      }),
    );
}

interface Connection {
  readonly sender: RequestSender;
  close(): Promise<void>;
}

/** The data dir's socket, the server started first when none answers there. */
async function localSender(o: Opts): Promise<Connection> {
  // A request through withClient starts the server when the socket is missing or refuses it.
  const socketPath = await withClient(o, async (client) => {
    await client.sessions.listSessions({}, { limit: 1 });
    return client.socketPath;
  });
  const transport = new SocketTransport(socketPath, clientTimeoutMs());
  return { sender: transport, close: () => transport.close() };
}

/** A server at a URL, with a token; nothing is started. */
async function remoteSender(o: Opts, baseUrl: string, token: string | undefined): Promise<Connection> {
  const { Transport } = await import("../../sdk/client/transport.js");
  const transport = new Transport({ baseUrl, ...(token !== undefined ? { token } : {}), ...(typeof o.home === "string" ? { home: o.home } : {}) });
  try {
    // /openapi.json is public: a route behind the token check tells now whether the token is good.
    await transport.request({ method: "GET", path: "/sessions/", query: { limit: 1 } });
  } catch (err) {
    await transport.close();
    throw err;
  }
  return { sender: transport, close: () => transport.close() };
}

function clientTimeoutMs(): number | undefined {
  const timeout = Number(process.env.SESSIOND_CLIENT_TIMEOUT_MS);
  return Number.isInteger(timeout) && timeout > 0 ? timeout : undefined;
}

/**
 * The MCP tools' route calls over the CLI's connection. The SDK's transports throw the server's
 * errors as SessiondError; the tools want them as answers (they become tool errors carrying the
 * code), and so is a server that could not be reached (`internal`, saying so).
 */
function senderCaller(sender: RequestSender): RouteCaller {
  return {
    async call({ method, url, body, timeoutMs }) {
      try {
        const reply = await sender.request<unknown>({
          method,
          path: url,
          ...(body !== undefined ? { body } : {}),
          // An exec may run for its own timeout: the connection's deadline comes on top.
          ...execDeadline(sender, timeoutMs),
        });
        return { status: reply.status, headers: reply.headers, body: reply.body };
      } catch (err) {
        if (!isSessiondError(err)) throw err;
        return { status: err.status, headers: {}, body: err.toJSON() };
      }
    },
  };
}
