import { readFileSync } from "node:fs";
import type { FastifyInstance } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { dataPaths, resolveConfig } from "../../src/core/index.js";
import { SessionManager } from "../../src/engine/index.js";
import { buildApp } from "../../src/server/index.js";
import { type Store, openStore } from "../../src/store/index.js";
import { type TestSchema, createTestSchema } from "../helpers/postgres.js";
import { serviceAvailable } from "../helpers/services.js";
import { tempHome } from "../helpers/temp-home.js";

const postgres = await serviceAvailable("postgres");

interface Served {
  readonly url: string;
  close(): Promise<void>;
}

/** `sessiond serve` as its parts: the PostgreSQL store from config, the engine, the app on a loopback port. */
async function serve(home: string, schema: TestSchema): Promise<Served> {
  const config = resolveConfig({ env: { HOME: home }, flags: { home, logLevel: "silent", store: "postgres", pgUrl: schema.url } });
  const store: Store = await openStore(config);
  const manager = new SessionManager({ store, config });
  const app: FastifyInstance = await buildApp({ config, manager, store });
  await app.listen({ host: "127.0.0.1", port: 0 });
  const { port } = app.server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    async close() {
      await app.close();
      await manager.close();
      await store.close();
    },
  };
}

describe.skipIf(!postgres)("sessiond's HTTP API on the PostgreSQL store", () => {
  const home = tempHome();
  let schema: TestSchema;
  let server: Served;
  let token = "";
  const call = async (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) => {
    const res = await fetch(`${server.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { "content-type": "application/json" } : {}), ...headers },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    const text = await res.text();
    return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : undefined };
  };

  beforeAll(async () => {
    schema = await createTestSchema();
    server = await serve(home.config.home, schema);
    token = readFileSync(dataPaths(home.config).token, "utf8").trim();
  });
  afterAll(async () => {
    await server.close();
    await schema.drop();
    home.remove();
  });

  it("runs seed 003's flow, events, checkpoints and deletion, and a restarted server finds it all", async () => {
    const id = "660e8400-e29b-41d4-a716-446655440001";
    const agent = "550e8400-e29b-41d4-a716-446655440000";
    const created = await call("POST", "/sessions/", { id, agent_id: agent, session_type: "task", context: { task_id: "implement-modal" }, runtime_backend: "local" });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ id, agent_id: agent, status: "active", context: { task_id: "implement-modal" } });

    const paused = await call("PATCH", `/sessions/${id}`, { status: "paused" }, { "if-match": 'W/"1"' });
    expect(paused).toMatchObject({ status: 200, body: { status: "paused", version: 2 } });
    expect((await call("PATCH", `/sessions/${id}`, { status: "active" }, { "if-match": 'W/"1"' })).status).toBe(412);
    await call("PATCH", `/sessions/${id}`, { status: "active", checkpoint: { step: 5 } });

    for (let n = 1; n <= 3; n++) expect((await call("POST", `/sessions/${id}/events`, { type: "note", data: { n } })).status).toBe(201);
    const notes = await call("GET", `/sessions/${id}/events?type=note`);
    expect(notes.body.map((e: { data: { n: number } }) => e.data.n)).toEqual([1, 2, 3]);

    const checkpoint = await call("POST", `/sessions/${id}/checkpoints`, { label: "before" });
    expect(checkpoint.status).toBe(201);
    await call("PATCH", `/sessions/${id}`, { context: { task_id: "changed" } });
    const restored = await call("POST", `/sessions/${id}/checkpoints/${checkpoint.body.id}/restore`);
    expect(restored.body.context).toEqual({ task_id: "implement-modal" });

    const other = await call("POST", "/sessions/", { agent_id: "someone-else" });
    const mine = await call("GET", `/sessions/?agent_id=${agent}&limit=10`);
    expect(mine.body.map((s: { id: string }) => s.id)).toEqual([id]);
    expect((await call("DELETE", `/sessions/${other.body.id}`)).status).toBe(204);
    expect((await call("GET", `/sessions/${other.body.id}`)).status).toBe(404);
    const before = await call("GET", `/sessions/${id}`);

    await server.close();
    server = await serve(home.config.home, schema);
    const after = await call("GET", `/sessions/${id}`);
    expect(after.body).toEqual(before.body);
    expect((await call("GET", "/sessions/")).body.map((s: { id: string }) => s.id)).toEqual([id]);
    expect((await call("GET", `/sessions/${id}/events?type=note`)).body).toHaveLength(3);
  });
});
