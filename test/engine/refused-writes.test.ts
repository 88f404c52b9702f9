import Database from "better-sqlite3";
import pg from "pg";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { dataPaths } from "../../src/core/index.js";
import { type CommitObservation, SessionManager } from "../../src/engine/index.js";
import { type Store, openStore } from "../../src/store/index.js";
import { type TestSchema, createTestSchema } from "../helpers/postgres.js";
import { POISON, refusePoisonSql } from "../helpers/refusing-store.js";
import { serviceAvailable } from "../helpers/services.js";
import { tempHome } from "../helpers/temp-home.js";

/**
 * A group commit the store refuses for a value one write carried fails that write alone: the
 * engine commits the batch again in parts, and every other write is acknowledged. The database
 * refuses POISON (a trigger or check constraint these tests add), which validation lets through,
 * as a value a validator misses would be.
 */

const postgres = await serviceAvailable("postgres");

/** How a set of writes settled: "ok", or the error code each rejected with. */
async function outcomes(writes: readonly Promise<unknown>[]): Promise<string[]> {
  const settled = await Promise.allSettled(writes);
  return settled.map((s) => (s.status === "fulfilled" ? "ok" : String((s.reason as { code?: string }).code ?? s.reason)));
}

describe.each(["sqlite", "postgres"] as const)("refused writes on the %s store", (backend) => {
  let home: ReturnType<typeof tempHome>;
  let schema: TestSchema | undefined;
  let store: Store;
  let manager: SessionManager;
  let commits: CommitObservation[];

  /** Runs SQL on the store's database, on a connection of its own. */
  const sql = async (statements: string) => {
    if (schema) {
      const client = new pg.Client({ connectionString: schema.url });
      await client.connect();
      await client.query(statements).finally(() => client.end());
    } else {
      const db = new Database(dataPaths(home.config).database);
      db.exec(statements);
      db.close();
    }
  };

  beforeEach(async (ctx) => {
    if (backend === "postgres" && !postgres) ctx.skip();
    home = tempHome({ sqliteSynchronous: "normal" });
    schema = backend === "postgres" ? await createTestSchema() : undefined;
    const config = schema ? { ...home.config, store: "postgres" as const, pgUrl: schema.url } : home.config;
    store = await openStore(config);
    commits = [];
    manager = new SessionManager({ store, config, observeCommit: (c) => commits.push(c) });
    await sql(refusePoisonSql(backend));
  });
  afterEach(async () => {
    if (!home) return;
    await manager.close().catch(() => {});
    if (schema) {
      await store.close().catch(() => {});
      await schema.drop();
    }
    home.remove();
  });

  it("acknowledges every other write of a commit the store refused, and fails only the refused one", async () => {
    const a = await manager.create({ agent_id: "agent-a" });
    const b = await manager.create({ agent_id: "agent-b" });
    commits.length = 0;
    // One turn of the event loop: all of these join one batch.
    const writes = [
      ...Array.from({ length: 10 }, (_, i) => manager.appendEvent(a.id, "note", { i })),
      manager.appendEvent(b.id, POISON, {}),
      ...Array.from({ length: 10 }, (_, i) => manager.appendEvent(a.id, "note", { i: 10 + i })),
    ];
    const results = await Promise.allSettled(writes);
    expect(results.map((r) => r.status)).toEqual([...Array(10).fill("fulfilled"), "rejected", ...Array(10).fill("fulfilled")]);
    expect((results[10] as PromiseRejectedResult).reason).toMatchObject({ code: "write_refused", status: 422 });
    // The whole batch was tried first, and refused.
    expect(commits[0]).toMatchObject({ writers: 21, ok: false });
    const events = await manager.listEvents(a.id, { limit: 100 });
    expect(events.map((e) => e.seq)).toEqual(Array.from({ length: 21 }, (_, i) => i + 1));
    expect(events.slice(1).map((e) => e.data.i)).toEqual(Array.from({ length: 20 }, (_, i) => i));
    expect((await manager.get(a.id)).last_seq).toBe(21);
  });

  it("fails the writes built on a refused one, and the session goes on from what is committed, without a gap", async () => {
    const b = await manager.create({});
    const results = await outcomes([
      manager.appendEvent(b.id, "note", { n: 1 }),
      manager.appendEvent(b.id, POISON, {}),
      manager.appendEvent(b.id, "note", { n: 2 }),
      manager.update(b.id, { task: "built on the refused event" }),
    ]);
    expect(results).toEqual(["ok", "write_refused", "conflict", "conflict"]);
    expect(await manager.get(b.id)).toMatchObject({ last_seq: 2, version: 1, task: null });
    const next = await manager.appendEvent(b.id, "note", { n: 3 });
    expect(next.seq).toBe(3);
    expect((await manager.listEvents(b.id)).map((e) => [e.seq, e.type])).toEqual([
      [1, "start"],
      [2, "note"],
      [3, "note"],
    ]);
  });

  it("rolls a refused change to the record back: the next change builds on the committed version", async () => {
    const s = await manager.create({ task: "first" });
    const other = await manager.create({});
    const results = await outcomes([manager.update(s.id, { task: POISON }), manager.update(other.id, { task: "kept" })]);
    expect(results).toEqual(["write_refused", "ok"]);
    expect(await manager.get(s.id)).toMatchObject({ task: "first", version: 1 });
    expect(await manager.update(s.id, { task: "second" }, { expected_version: 1 })).toMatchObject({ task: "second", version: 2 });
    expect(await manager.get(other.id)).toMatchObject({ task: "kept", version: 2 });
  });

  it("leaves no trace of a refused create, and the sessions created beside it are kept", async () => {
    const results = await outcomes([manager.create({ name: "doomed", type: POISON }), manager.create({ name: "kept-1" }), manager.create({ name: "kept-2" })]);
    expect(results).toEqual(["write_refused", "ok", "ok"]);
    expect(await manager.find("doomed")).toBeUndefined();
    expect((await manager.find("kept-2"))?.last_seq).toBe(1);
    expect((await manager.create({ name: "doomed" })).name).toBe("doomed");
  });

  it("imports a session again after its import was refused, with its events its own", async () => {
    const ts = "2025-01-01T00:00:00.000Z";
    const imported = (events: { type: string }[]) => ({
      session: { id: "imported-1", name: "imported", created_at: ts },
      events: events.map((e, i) => ({ seq: i + 1, ts, type: e.type, data: {} })),
    });
    // The refused import inserted its session (taking a row key) before its poison event was refused.
    expect(await outcomes([manager.importSession(imported([{ type: "start" }, { type: POISON }]))])).toEqual(["write_refused"]);
    const other = await manager.create({});
    await manager.appendEvent(other.id, "note");
    expect(await manager.importSession(imported([{ type: "start" }, { type: "later" }]))).toMatchObject({ imported: true });
    expect((await manager.listEvents("imported-1")).map((e) => e.type)).toEqual(["start", "later"]);
    expect((await manager.listEvents(other.id)).map((e) => e.type)).toEqual(["start", "note"]);
  });

  it("fails every write of a commit when the store itself fails, without committing parts of it", async () => {
    const s = await manager.create({});
    await store.close();
    commits.length = 0;
    const results = await outcomes([manager.appendEvent(s.id, "note"), manager.appendEvent(s.id, "note"), manager.update(s.id, { task: "x" })]);
    expect(results).toEqual(["store_failure", "store_failure", "store_failure"]);
    expect(commits).toEqual([expect.objectContaining({ writers: 3, ok: false })]);
  });
});
