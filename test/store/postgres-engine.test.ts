import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { SessionManager } from "../../src/engine/index.js";
import { type Store, openStore } from "../../src/store/index.js";
import { type TestSchema, createTestSchema } from "../helpers/postgres.js";
import { serviceAvailable } from "../helpers/services.js";
import { tempHome } from "../helpers/temp-home.js";

const postgres = await serviceAvailable("postgres");

describe.skipIf(!postgres)("SessionManager on the PostgreSQL store", () => {
  let home: ReturnType<typeof tempHome>;
  let schema: TestSchema;
  const open: { manager: SessionManager; store: Store }[] = [];

  /** A manager over a new store on the test schema, as `sessiond serve` builds it from config. */
  const manager = async (): Promise<SessionManager> => {
    const config = { ...home.config, store: "postgres" as const, pgUrl: schema.url };
    const store = await openStore(config);
    const m = new SessionManager({ store, config });
    open.push({ manager: m, store });
    return m;
  };
  const closeAll = async () => {
    for (const { manager: m, store } of open.splice(0)) {
      await m.close();
      await store.close();
    }
  };

  beforeEach(async () => {
    home = tempHome();
    schema = await createTestSchema();
  });
  afterEach(async () => {
    await closeAll();
    await schema.drop();
    home.remove();
  });

  it("creates, appends, checkpoints, restores, forks and lists, and a new manager finds it all persisted", async () => {
    const first = await manager();
    const s = await first.create({ name: "pg-agent", agent_id: "agent-7", labels: { team: "core" }, context: { step: 0 } });
    await first.appendEvent(s.id, "note", { text: "hello" });
    await first.updateContext(s.id, { step: 1 });
    const checkpoint = await first.createCheckpoint(s.id, { label: "after step 1" });
    await first.updateContext(s.id, { step: 2 });
    await first.incrementIteration(s.id, { tokens: 3 });
    const restored = await first.restore(s.id, checkpoint.id);
    expect(restored.context).toEqual({ step: 1 });
    expect(restored.iterations).toBe(0);
    const child = await first.fork(s.id, checkpoint.id, { name: "pg-child" });
    expect(child).toMatchObject({ parent: s.id, context: { step: 1 }, agent_id: "agent-7", labels: { team: "core" } });
    await first.complete(child.id, { ok: true });
    const other = await first.create({ name: "pg-other", agent_id: "agent-8" });
    const before = await first.get(s.id);
    const eventsBefore = await first.listEvents(s.id, { limit: 1000 });

    await closeAll();
    const second = await manager();
    const reread = await second.get("pg-agent");
    expect(reread).toEqual(before);
    expect(await second.listEvents(s.id, { limit: 1000 })).toEqual(eventsBefore);
    expect(eventsBefore.map((e) => e.type)).toEqual(
      expect.arrayContaining(["start", "note", "checkpoint", "restore", "fork"]),
    );
    expect((await second.listCheckpoints(s.id)).map((c) => c.id)).toEqual([checkpoint.id]);
    expect((await second.get("pg-child")).status).toBe("completed");

    const names = async (filter: Parameters<SessionManager["list"]>[0]) => (await second.list(filter)).items.map((x) => x.name);
    expect(await names({})).toEqual(["pg-other", "pg-child", "pg-agent"]);
    expect(await names({ agent_id: "agent-7" })).toEqual(["pg-child", "pg-agent"]);
    expect(await names({ labels: { team: "core" } })).toEqual(["pg-child", "pg-agent"]);
    expect(await names({ status: "completed" })).toEqual(["pg-child"]);
    expect(await names({ status: ["active", "completed"] })).toEqual(["pg-other", "pg-child", "pg-agent"]);
    const firstPage = await second.list({}, { limit: 2 });
    expect(firstPage.items.map((x) => x.id)).toEqual([other.id, child.id]);
    expect((await second.list({}, { limit: 2, cursor: firstPage.next_cursor! })).items.map((x) => x.id)).toEqual([s.id]);
    expect((await second.stats({})).total).toBe(3);

    await second.delete(other.id);
    await closeAll();
    const third = await manager();
    expect(await third.find(other.id)).toBeUndefined();
    expect((await third.list({})).items).toHaveLength(2);
  });
});
