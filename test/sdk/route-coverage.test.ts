/**
 * Every route the server documents in its OpenAPI has a typed SDK method: this list maps each
 * one to the method that calls it, and fails when a route is added without one (add the method
 * to `sessiond/client`, then a line here).
 */
import { afterAll, beforeAll, expect, it } from "vitest";
import { type TestServer, startServer } from "../server/harness.js";

/** `METHOD path` (OpenAPI form) → the SDK call. */
const COVERED: Record<string, string> = {
  "GET /healthz": "client.init()",
  "GET /readyz": "client.ready()",
  "GET /metrics/": "client.metricsText()",
  "GET /stats/": "client.sessions.stats()",
  "POST /sessions/": "client.sessions.createSession()",
  "GET /sessions/": "client.sessions.listSessions() / iterateSessions()",
  "GET /sessions/{id}": "client.sessions.getSession()",
  "PATCH /sessions/{id}": "client.sessions.updateSession()",
  "DELETE /sessions/{id}": "client.sessions.deleteSession()",
  "POST /sessions/cleanup": "client.sessions.cleanup()",
  "POST /sessions/recover": "client.sessions.recoverAll()",
  "POST /sessions/{id}/pause": "client.sessions.pause()",
  "POST /sessions/{id}/resume": "client.sessions.resume()",
  "POST /sessions/{id}/complete": "client.sessions.complete()",
  "POST /sessions/{id}/fail": "client.sessions.fail()",
  "POST /sessions/{id}/crash": "client.sessions.crash()",
  "POST /sessions/{id}/recover": "client.sessions.recover()",
  "POST /sessions/{id}/iterations": "client.sessions.incrementIteration()",
  "POST /sessions/{id}/tool-calls": "client.sessions.recordToolCall()",
  "GET /sessions/{id}/metrics": "client.sessions.metrics()",
  "GET /sessions/{id}/state": "client.sessions.stateAt()",
  "POST /sessions/{id}/events/": "client.sessions.appendEvent()",
  "GET /sessions/{id}/events/": "client.sessions.listEvents() / iterateEvents()",
  "POST /sessions/{id}/checkpoints/": "client.sessions.createCheckpoint()",
  "GET /sessions/{id}/checkpoints/": "client.sessions.listCheckpoints()",
  "GET /sessions/{id}/checkpoints/{cid}": "client.sessions.getCheckpoint()",
  "POST /sessions/{id}/checkpoints/{cid}/restore": "client.sessions.restore()",
  "POST /sessions/{id}/checkpoints/{cid}/fork": "client.sessions.fork()",
  "POST /sessions/{id}/exec": "client.sessions.exec() / client.execs.submit()",
  "POST /sessions/{id}/interrupt": "client.sessions.interrupt()",
  "POST /sessions/{id}/stop": "client.sessions.stop()",
  "GET /sessions/{id}/execs/{exec_id}": "client.execs.status()",
  "POST /sessions/{id}/execs/{exec_id}/stdin": "client.execs.stdin()",
  "POST /sessions/{id}/execs/{exec_id}/interrupt": "client.execs.interrupt()",
  "POST /sessions/{id}/execs/{exec_id}/kill": "client.execs.kill()",
  "GET /sessions/{id}/processes": "client.execs.processes()",
  "POST /sessions/{id}/processes/{pid}/kill": "client.execs.killProcess()",
  "PUT /sessions/{id}/exec-policy": "client.execs.setPolicy()",
  "POST /sessions/{id}/lifetime": "client.execs.extendLifetime()",
  "POST /sessions/{id}/undo": "client.sessions.undo()",
  "POST /sessions/{id}/hibernate": "client.sessions.hibernate()",
  "POST /session/start": "client.live.start()",
  "GET /session/list": "client.live.list()",
  "POST /session/{id}/exec": "client.live.exec()",
  "POST /session/{id}/stop": "client.live.stop()",
  "GET /session/{id}/logs": "client.live.logs()",
  "GET /sessions/{id}/artifacts/": "client.artifacts.list()",
  "GET /sessions/{id}/artifacts/{category}": "client.artifacts.list(ref, category)",
  "GET /sessions/{id}/artifacts/{category}/{path}": "client.artifacts.download()",
  "PUT /sessions/{id}/artifacts/{category}/{path}": "client.artifacts.upload()",
  "DELETE /sessions/{id}/artifacts/{category}/{path}": "client.artifacts.delete()",
  "POST /webhooks/": "client.webhooks.create() / seed004.configureWebhook()",
  "GET /webhooks/": "client.webhooks.list()",
  "GET /webhooks/{id}": "client.webhooks.get()",
  "DELETE /webhooks/{id}": "client.webhooks.delete()",
  "GET /webhooks/{id}/deliveries": "client.webhooks.deliveries() / iterateDeliveries()",
  "GET /sessions/{id}/stream": "client.streams.session() / execOutput()",
  "GET /feed/": "client.streams.feed()",
  "POST /import/sessions": "client.sessions.importSession()",
  // A raw terminal over WebSocket: the CLI's `attach` speaks it; no iterator fits bytes both ways.
  "GET /sessions/{id}/attach": "(WebSocket only; see docs/streams.md)",
  // JSON-RPC for MCP clients: the MCP SDK's own client speaks it (docs/adapters.md#mcp).
  "POST /mcp/": "(MCP only; test/mcp/)",
  // The dashboard's sign-in: the CLI's `sessiond ui` mints the code, the page trades it and asks
  // who it is (docs/ui.md); an SDK user already holds a token and has no use for either.
  "POST /ui/login-codes": "(the CLI's `sessiond ui`; test/cli/ui.test.ts)",
  "POST /ui/login": "(the dashboard page; test/server/ui-login.test.ts)",
  "GET /ui/whoami": "(the dashboard page; test/server/ui-route.test.ts)",
};

let server: TestServer;
beforeAll(async () => {
  server = await startServer({ enableSessions: true });
});
afterAll(() => server.close());

it("has an SDK method for every route in the server's OpenAPI document", async () => {
  const { body } = await server.json<{ paths: Record<string, Record<string, unknown>> }>({ method: "GET", url: "/openapi.json" });
  const routes: string[] = [];
  for (const [path, operations] of Object.entries(body.paths)) {
    for (const method of Object.keys(operations)) {
      if (["get", "post", "put", "patch", "delete"].includes(method)) routes.push(`${method.toUpperCase()} ${path}`);
    }
  }
  // Normalize trailing-slash variants Fastify lists for prefixed roots.
  const known = new Set(Object.keys(COVERED).flatMap((r) => [r, r.replace(/\/$/, "")]));
  const missing = routes.filter((r) => !known.has(r) && !known.has(r.replace(/\/$/, "")) && !r.startsWith("GET /docs") && r !== "GET /openapi.json");
  expect(missing, "routes without an SDK method").toEqual([]);
  expect(routes.length).toBeGreaterThan(40);
});
