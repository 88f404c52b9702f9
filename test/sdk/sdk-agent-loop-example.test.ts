import { afterEach, expect, it } from "vitest";
import { runNode } from "../helpers/run-node.js";
import { type TestServer, startServer } from "../server/harness.js";

const EXAMPLE = new URL("../../examples/sdk-agent-loop.ts", import.meta.url).pathname;
let server: TestServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

it("runs the README's SDK agent loop against a real server on a loopback port", async () => {
  server = await startServer();
  await server.app.listen({ host: "127.0.0.1", port: 0 });
  const { port } = server.app.server.address() as { port: number };
  // No flags: the example finds the server and its token as any client does, from the environment.
  const result = await runNode(["--import", "tsx", EXAMPLE], { env: { SESSIOND_HOME: server.home, SESSIOND_PORT: String(port) } });
  expect(result.stderr).toBe("");
  expect(result.status).toBe(0);
  const lines = result.stdout.trim().split("\n");
  expect(lines[0]).toMatch(/^started developer-\d{4}-\d{2}-\d{2}-[0-9a-f]{8}$/);
  expect(lines.slice(1)).toEqual(["completed after 3 iterations: 4 tool calls, 3 checkpoints", 'context: {"lastPhase":"testing"}']);

  // The server holds what the loop recorded: tool calls with arguments, results and durations, found without an id.
  const [session] = (await server.manager.list({ mode: "developer" })).items;
  const events = await server.manager.listEvents(session!.id);
  const calls = events.filter((e) => e.type === "tool_call").map((e) => e.data);
  expect(calls).toEqual([
    { tool: "read_file", args: "src/analysis.ts", result: "// contents of src/analysis.ts", duration_ms: expect.any(Number) },
    { tool: "read_file", args: "src/implementation.ts", result: "// contents of src/implementation.ts", duration_ms: expect.any(Number) },
    { tool: "read_file", args: "src/testing.ts", result: "// contents of src/testing.ts", duration_ms: expect.any(Number) },
    { tool: "run_tests", args: "unit", result: { suite: "unit", passed: 12, failed: 0 }, duration_ms: expect.any(Number) },
  ]);
  expect(events.filter((e) => e.type === "note").map((e) => e.data.phase)).toEqual(["analysis", "implementation", "testing"]);
  expect(events.at(-1)!.type).toBe("complete");
});
