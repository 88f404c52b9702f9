import { SessiondError } from "../core/errors.js";
import { missingPackage } from "../core/missing-package.js";

/** The MCP SDK: an optional peer dependency of sessiond, needed by `sessiond mcp` and `/mcp` only. */
export const MCP_SDK = "@modelcontextprotocol/sdk";

/** The parts of the MCP SDK the server uses, loaded together. */
export interface McpSdk {
  readonly server: typeof import("@modelcontextprotocol/sdk/server/index.js");
  readonly types: typeof import("@modelcontextprotocol/sdk/types.js");
  readonly streamableHttp: typeof import("@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js");
  /**
   * One JSON Schema validator for every server made: each `Server` builds its own Ajv otherwise
   * (~0.4 ms), and `/mcp` makes one per request.
   */
  readonly validator: import("@modelcontextprotocol/sdk/validation/ajv").AjvJsonSchemaValidator;
}

let loading: Promise<McpSdk> | undefined;

/**
 * Loads the MCP SDK on first use (a dynamic import: nothing else of sessiond pays for it).
 * @throws dependency_missing (501) naming the package to install, when it is not installed
 */
export function loadMcpSdk(): Promise<McpSdk> {
  loading ??= Promise.all([
    importMcp<McpSdk["server"]>("@modelcontextprotocol/sdk/server/index.js"),
    importMcp<McpSdk["types"]>("@modelcontextprotocol/sdk/types.js"),
    importMcp<McpSdk["streamableHttp"]>("@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js"),
    importMcp<typeof import("@modelcontextprotocol/sdk/validation/ajv")>("@modelcontextprotocol/sdk/validation/ajv"),
  ]).then(([server, types, streamableHttp, ajv]) => ({ server, types, streamableHttp, validator: new ajv.AjvJsonSchemaValidator() }));
  // A failed load is tried again next time: the package may be installed meanwhile.
  loading.catch(() => (loading = undefined));
  return loading;
}

/**
 * Imports a module of the MCP SDK. @throws dependency_missing naming the package Node cannot find
 * (the SDK, or a package it needs); any other failure as it is
 */
export async function importMcp<T = unknown>(specifier: string, feature = "the MCP server (sessiond mcp, /mcp)"): Promise<T> {
  try {
    return (await import(specifier)) as T;
  } catch (err) {
    const missing = missingPackage(err);
    if (missing === undefined) throw err;
    // The package Node could not find: the SDK itself, or one it needs (its peer zod).
    throw new SessiondError("dependency_missing", { feature, package: missing }, { cause: err });
  }
}
