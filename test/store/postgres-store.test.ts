import { randomBytes } from "node:crypto";
import pg from "pg";
import { afterEach, describe, expect, it } from "vitest";
import type { Session, SessionFilter } from "../../src/core/index.js";
import { newSessionRecord } from "../../src/engine/records.js";
import { type Store, type WriteOp, openStore } from "../../src/store/index.js";
import { migratePostgres, shippedPostgresMigrations } from "../../src/store/postgres/index.js";
import { POSTGRES_DIALECT, sessionPageQuery } from "../../src/store/sql-filter.js";
import { type TestSchema, adminQuery, createTestSchema, openFreshPostgresStore, openStoreIn, urlWithSchema } from "../helpers/postgres.js";
import { serviceAvailable } from "../helpers/services.js";
import { tempHome } from "../helpers/temp-home.js";
import { runStoreConformance } from "./conformance.js";
import { runListOrderConformance } from "./list-order-conformance.js";
import { runOutputConformance } from "./output-conformance.js";
import { runWebhookDeliveryConformance } from "./webhook-conformance.js";

const postgres = await serviceAvailable("postgres");

describe.skipIf(!postgres)("the PostgreSQL store", () => {
  runStoreConformance("postgres", () => openFreshPostgresStore());
  runListOrderConformance("postgres", (options) => openFreshPostgresStore(options));
  runOutputConformance("postgres", openFreshPostgresStore);
  runWebhookDeliveryConformance("postgres", openFreshPostgresStore);

  describe("beyond the conformance suites", () => {
    const cleanups: (() => Promise<void>)[] = [];
    afterEach(async () => {
      for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
    });
    const schema = async (): Promise<TestSchema> => {
      const created = await createTestSchema();
      cleanups.push(created.drop);
      return created;
    };
    const open = async (where: TestSchema): Promise<Store> => {
      const store = await openStoreIn(where);
      cleanups.push(() => store.close());
      return store;
    };
    /** Runs `work` with a pool on the schema. */
    const withPool = async <T>(where: TestSchema, work: (pool: pg.Pool) => Promise<T>): Promise<T> => {
      const pool = new pg.Pool({ connectionString: where.url });
      try {
        return await work(pool);
      } finally {
        await pool.end();
      }
    };
    let clock = Date.parse("2026-03-01T00:00:00.000Z");
    const tick = () => new Date((clock += 1000)).toISOString();
    const session = (): Session => newSessionRecord({ mode: "developer" }, tick(), { maxContextBytes: 1 << 20, maxEventBytes: 1 << 20 });
    const put = (s: Session): WriteOp => ({ op: "put_session", session: s, insert: true, scalarsOnly: false });

    it("migrates once: reopening a migrated schema applies nothing and keeps the data", async () => {
      const where = await schema();
      const first = await openStoreIn(where);
      const s = session();
      await first.commit([put(s)]);
      await first.close();
      expect(await withPool(where, (pool) => migratePostgres(pool))).toEqual([]);
      const again = await open(where);
      expect((await again.getSession(s.id))?.id).toBe(s.id);
      const versions = await withPool(where, async (pool) => (await pool.query<{ version: number }>("SELECT version FROM schema_migrations ORDER BY version")).rows);
      expect(versions.map((r) => r.version)).toEqual(shippedPostgresMigrations().map((m) => m.version));
    });

    it("brings a schema whose names were unique store-wide to names unique per agent_id, keeping its sessions", async () => {
      const where = await schema();
      await withPool(where, async (pool) => {
        await migratePostgres(pool, shippedPostgresMigrations().filter((m) => m.version === 1));
        await pool.query(
          `INSERT INTO sessions (id, name, kind, agent_id, labels, status, iterations, context, runtime_backend, runtime_metadata, server,
             metadata, created_at, updated_at, started_at, last_activity_at, last_seq, version)
           VALUES ('old-1', 'build', 'agent', 'agent-a', '{}', 'active', 0, '{}', 'unknown', '{}', 'local', '{}', $1, $1, $1, $1, 0, 1)`,
          [tick()],
        );
      });
      const store = await open(where);
      expect(await store.findSessionIds({ name: "build", limit: 5 })).toEqual(["old-1"]);
      const other = { ...session(), name: "build", agent_id: "agent-b" };
      const same = { ...session(), name: "build", agent_id: "agent-a" };
      expect((await store.commit([put(other), put(same)])).rejected).toEqual([same.id]);
      expect(await store.findSessionIds({ name: "build", limit: 5 })).toEqual(["old-1", other.id]);
    });

    it("gives sessions stored before 0003 their agent_id and user_id as participants, and nobody to a session without them", async () => {
      const where = await schema();
      const created = tick();
      await withPool(where, async (pool) => {
        await migratePostgres(pool, shippedPostgresMigrations().filter((m) => m.version < 3));
        const insert = (id: string, agentId: string | null, userId: string | null) =>
          pool.query(
            `INSERT INTO sessions (id, name, kind, agent_id, user_id, labels, status, iterations, context, runtime_backend, runtime_metadata, server,
               metadata, created_at, updated_at, started_at, last_activity_at, last_seq, version)
             VALUES ($1, $1, 'agent', $2, $3, '{}', 'active', 0, '{}', 'unknown', '{}', 'local', '{}', $4, $4, $4, $4, 0, 1)`,
            [id, agentId, userId, created],
          );
        await insert("both", "claude", "joel");
        await insert("agent-only", "claude", null);
        await insert("user-only", "", "ana");
        await insert("nobody", null, null);
      });
      const store = await open(where);
      const participants = async (id: string) => (await store.getSession(id))?.participants;
      expect(await participants("both")).toEqual([
        { kind: "ai", id: "claude", joined_at: created },
        { kind: "human", id: "joel", joined_at: created },
      ]);
      expect(await participants("agent-only")).toEqual([{ kind: "ai", id: "claude", joined_at: created }]);
      expect(await participants("user-only")).toEqual([{ kind: "human", id: "ana", joined_at: created }]);
      expect(await participants("nobody")).toEqual([]);
    });

    it("refuses a schema newer than this build, naming both versions", async () => {
      const where = await schema();
      await (await openStoreIn(where)).close();
      const newest = shippedPostgresMigrations().at(-1)!.version;
      await withPool(where, (pool) =>
        pool.query("INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)", [newest + 1, "9999_future.sql", tick()]),
      );
      await expect(openStoreIn(where)).rejects.toThrow(`schema has version ${newest + 1}, newer than this sessiond (${newest})`);
    });

    it("lets two stores migrate the same empty schema at once: both open, the schema is migrated once", async () => {
      const where = await schema();
      const [a, b] = await Promise.all([open(where), open(where)]);
      const s = session();
      await a.commit([put(s)]);
      expect((await b.getSession(s.id))?.id).toBe(s.id);
      const count = await withPool(where, async (pool) => (await pool.query<{ n: string }>("SELECT count(*) AS n FROM schema_migrations")).rows[0]!.n);
      expect(Number(count)).toBe(shippedPostgresMigrations().length);
    });

    it("numbers a large interleaved batch of events in the batch's order", async () => {
      const store = await open(await schema());
      const sessions = Array.from({ length: 8 }, session);
      const ops: WriteOp[] = sessions.map(put);
      const expected: [string, number][] = [];
      for (let seq = 1; seq <= 50; seq++) {
        for (const s of sessions) {
          ops.push({ op: "append_event", session_id: s.id, event: { seq, ts: tick(), type: "note", data: {} } });
          expected.push([s.id, seq]);
        }
      }
      await store.commit(ops);
      const feed = await store.listFeed(0, 1000);
      expect(feed.map((f) => [f.session_id, f.event.seq])).toEqual(expected);
    });

    it("gives a large batch of output increasing positions in the batch's order", async () => {
      const store = await open(await schema());
      const s = session();
      await store.commit([put(s)]);
      const records = Array.from({ length: 300 }, (_, i) => ({
        session_id: s.id,
        exec_id: `x${i % 7}`,
        stream: "stdout" as const,
        offset: i,
        data: Buffer.from([i % 256]),
      }));
      const positions = await store.appendOutput(records);
      const stored = await store.listOutput(s.id, 0, 1000);
      expect(stored.map((o) => [o.pos, o.exec_id, o.offset])).toEqual(records.map((r, i) => [positions[i], r.exec_id, r.offset]));
    });

    it("lets a feed reader paging after its position miss nothing while two stores commit at once", async () => {
      const where = await schema();
      const [a, b] = await Promise.all([open(where), open(where)]);
      const [sa, sb] = [session(), session()];
      await a.commit([put(sa), put(sb)]);
      const batches = 40;
      const perBatch = 5;
      const writer = async (store: Store, s: Session) => {
        for (let batch = 0; batch < batches; batch++) {
          const ops: WriteOp[] = Array.from({ length: perBatch }, (_, i) => ({
            op: "append_event",
            session_id: s.id,
            event: { seq: batch * perBatch + i + 1, ts: tick(), type: "note", data: {} },
          }));
          await store.commit(ops);
        }
      };
      const seen: number[] = [];
      let writing = true;
      const reader = (async () => {
        let after = 0;
        for (;;) {
          const finished = !writing;
          const page = await b.listFeed(after, 50);
          for (const entry of page) seen.push(entry.pos);
          after = page.at(-1)?.pos ?? after;
          // An empty page read after every commit returned: caught up for good.
          if (finished && !page.length) return;
        }
      })();
      await Promise.all([writer(a, sa), writer(b, sb)]);
      writing = false;
      await reader;
      const all = (await a.listFeed(0, 1000)).map((f) => f.pos);
      expect(all).toHaveLength(2 * batches * perBatch);
      expect(seen).toEqual(all);
    });

    it("fails a batch that appends to a session not in the store, writing none of it", async () => {
      const store = await open(await schema());
      const s = session();
      const ops: WriteOp[] = [put(s), { op: "append_event", session_id: "missing", event: { seq: 1, ts: tick(), type: "note", data: {} } }];
      await expect(store.commit(ops)).rejects.toThrow(/session missing/);
      expect(await store.getSession(s.id)).toBeUndefined();
    });

    it("is what openStore opens for store postgres, with no synchronous path", async () => {
      const home = tempHome();
      cleanups.push(async () => home.remove());
      const where = await schema();
      const store = await openStore({ ...home.config, store: "postgres", pgUrl: where.url });
      cleanups.push(() => store.close());
      expect(store.backend).toBe("postgres");
      expect(store.sync).toBeUndefined();
      expect(await store.feedHead()).toBe(0);
    });

    it("tells openStore's caller when a pooled connection dies, and answers on a new one", async () => {
      const home = tempHome();
      cleanups.push(async () => home.remove());
      const where = await schema();
      // The application name lets the test find this store's connections and only them.
      const name = `sessiond_idle_${where.name}`;
      const url = new URL(where.url);
      url.searchParams.set("application_name", name);
      const failures: Error[] = [];
      const store = await openStore({ ...home.config, store: "postgres", pgUrl: url.toString() }, { onConnectionError: (err) => failures.push(err) });
      cleanups.push(() => store.close());
      const s = session();
      await store.commit([put(s)]);
      await withPool(where, (pool) => pool.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1", [name]));
      // The pool's idle connection dies; it is reported (unheard, the error would end the process).
      await expect.poll(() => failures.length).toBeGreaterThan(0);
      // A pooled client killed before the pool saw its error can fail one query; the pool then
      // discards it and the next read goes out on a new connection.
      await expect.poll(async () => (await store.getSession(s.id).catch(() => undefined))?.id).toBe(s.id);
    });

    it("lets several sessiond nodes open one schema (ownership is per session, docs/scale-out.md); another schema of the database is its own", async () => {
      const home = tempHome();
      cleanups.push(async () => home.remove());
      const [where, elsewhere] = [await schema(), await schema()];
      const node = (at: TestSchema) => openStore({ ...home.config, store: "postgres", pgUrl: at.url });
      const first = await node(where);
      const second = await node(where);
      const neighbour = await node(elsewhere);
      const s = session();
      await first.commit([put(s)]);
      expect((await second.getSession(s.id))?.id).toBe(s.id);
      expect(await neighbour.getSession(s.id)).toBeUndefined();
      await Promise.all([first.close(), second.close(), neighbour.close()]);
    });

    it("refuses a search_path schema that does not exist, naming it and how to create it, and opens once it is created", async () => {
      const home = tempHome();
      cleanups.push(async () => home.remove());
      const name = `sessiond_missing_${randomBytes(6).toString("hex")}`;
      const node = () => openStore({ ...home.config, store: "postgres", pgUrl: urlWithSchema(name) });
      const refused = await node().catch((err: Error) => err);
      expect(refused).toBeInstanceOf(Error);
      expect((refused as Error).message).toContain(`PostgreSQL schema ${name} does not exist: create it (CREATE SCHEMA ${name};)`);
      expect((refused as Error).message).not.toMatch(/another sessiond node/);
      // What the message says to run is enough.
      await adminQuery(`CREATE SCHEMA ${name}`);
      cleanups.push(() => adminQuery(`DROP SCHEMA IF EXISTS ${name} CASCADE`));
      const store = await node();
      cleanups.push(() => store.close());
      expect(await store.feedHead()).toBe(0);
    });

    it("refuses a search_path schema the user may not use, naming the grant, and opens once it is granted", async () => {
      const home = tempHome();
      cleanups.push(async () => home.remove());
      const suffix = randomBytes(6).toString("hex");
      const [role, name] = [`sessiond_role_${suffix}`, `sessiond_private_${suffix}`];
      await adminQuery(`CREATE ROLE ${role} LOGIN`);
      await adminQuery(`CREATE SCHEMA ${name}`);
      cleanups.push(async () => {
        await adminQuery(`DROP SCHEMA IF EXISTS ${name} CASCADE`);
        await adminQuery(`DROP ROLE IF EXISTS ${role}`);
      });
      const url = new URL(urlWithSchema(name));
      url.username = role;
      const node = () => openStore({ ...home.config, store: "postgres", pgUrl: url.toString() });
      const refused = await node().catch((err: Error) => err);
      expect(refused).toBeInstanceOf(Error);
      const grant = `GRANT USAGE, CREATE ON SCHEMA ${name} TO ${role};`;
      expect((refused as Error).message).toContain(`PostgreSQL user ${role} may not use schema ${name} (no USAGE privilege on it): grant it (${grant})`);
      await adminQuery(grant);
      const store = await node();
      cleanups.push(() => store.close());
      expect(await store.feedHead()).toBe(0);
    });

    it("keeps an agent's listing off the label and user indexes, which span every agent, and never joins a label's rows", async () => {
      const where = await schema();
      const store = await open(where);
      // Many sessions of the agent, a few of other agents with the label and the user: by its
      // statistics the planner would take the label's or the user's index.
      const mine = Array.from({ length: 2000 }, () => ({ ...session(), agent_id: "mine" }));
      const theirs = Array.from({ length: 30 }, (_, i) => ({ ...session(), agent_id: `other-${i}`, user_id: "u1", labels: { team: "x" } }));
      for (let i = 0; i < mine.length; i += 500) await store.commit(mine.slice(i, i + 500).map(put));
      await store.commit(theirs.map(put));
      await withPool(where, async (pool) => {
        await pool.query("ANALYZE");
        const plan = async ({ sql, params }: { sql: string; params: unknown[] }) =>
          (await pool.query<{ "QUERY PLAN": string }>(`EXPLAIN ${sql}`, params)).rows.map((r) => r["QUERY PLAN"]).join("\n");
        const newest = { sort: "created_at", order: "desc" } as const;
        // Without an agent, they drive the listing: the data tempts the planner.
        expect(await plan(sessionPageQuery({ user_id: "u1" }, newest, {}, 50, POSTGRES_DIALECT))).toContain("sessions_by_user");
        expect(await plan(sessionPageQuery({ labels: { team: "x" } }, newest, {}, 50, POSTGRES_DIALECT))).toMatch(/on session_labels l\b/);
        const scoped: SessionFilter[] = [
          { agent_id: "mine", labels: { team: "x" } },
          { agent_id: "mine", user_id: "u1" },
          { agent_id: "mine", user_id: "u1", labels: { team: "x" }, status: ["active", "paused"], q: "build" },
        ];
        for (const filter of scoped) {
          const text = await plan(sessionPageQuery(filter, newest, {}, 50, POSTGRES_DIALECT));
          // Its planner may still read the agent's index or the whole table (docs/api.md#listing-sessions).
          expect(text, JSON.stringify(filter)).not.toMatch(/session_labels_by_value|on session_labels l\b|sessions_by_user|Semi Join|hashed SubPlan/);
          // A label is looked up per session of the agent's (a tiny table is read whole for it).
          if (filter.labels) expect(text).toMatch(/SubPlan \d+\n\s+->  (Seq|Index\b.*) Scan on session_labels m/);
        }
      });
    });

    it("refuses store postgres without a connection string, naming SESSIOND_PG_URL", async () => {
      const home = tempHome();
      cleanups.push(async () => home.remove());
      const { pgUrl: _none, ...config } = { ...home.config, store: "postgres" as const };
      await expect(openStore(config)).rejects.toThrow(/SESSIOND_PG_URL/);
    });
  });
});
