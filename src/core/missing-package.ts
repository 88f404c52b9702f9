/**
 * The package a module-not-found error is about (`Cannot find package 'x' imported from …`), else
 * undefined. The frameworks sessiond plugs into (the MCP SDK, the OpenAI Agents SDK, LangGraph)
 * are optional peer dependencies: a feature used without one names what to install, not a stack.
 */
export function missingPackage(err: unknown): string | undefined {
  const { code, message } = (err ?? {}) as { code?: unknown; message?: unknown };
  if (code !== "ERR_MODULE_NOT_FOUND" || typeof message !== "string") return undefined;
  return /Cannot find package '([^']+)'/.exec(message)?.[1];
}
