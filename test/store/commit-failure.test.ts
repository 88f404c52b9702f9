import Database from "better-sqlite3";
import pg from "pg";
import { describe, expect, it } from "vitest";
import { refusedWriteError } from "../../src/store/index.js";
import { SERVICES, serviceAvailable } from "../helpers/services.js";

/**
 * The one mapping of a failed commit: a statement the database refused for a value it carried
 * is the write's fault (`write_refused`, or `conflict` for a duplicate key), a database that
 * failed is nobody's (undefined: the batch fails whole). Checked on the errors the real drivers
 * throw.
 */

const postgres = await serviceAvailable("postgres");

/** The error a statement throws, or fails the test if it succeeds. */
async function thrown(run: () => unknown): Promise<unknown> {
  try {
    await run();
  } catch (err) {
    return err;
  }
  throw new Error("expected the statement to fail");
}

describe("a commit failure on SQLite", () => {
  const db = new Database(":memory:");
  db.exec("CREATE TABLE t (id TEXT PRIMARY KEY, n INTEGER NOT NULL CHECK (n >= 0))");
  db.prepare("INSERT INTO t VALUES ('a', 1)").run();

  it("blames the write for a constraint it breaks, and names a duplicate key a conflict", async () => {
    expect(refusedWriteError(await thrown(() => db.prepare("INSERT INTO t VALUES ('b', -1)").run()))).toMatchObject({ code: "write_refused", status: 422 });
    expect(refusedWriteError(await thrown(() => db.prepare("INSERT INTO t VALUES ('c', NULL)").run()))).toMatchObject({ code: "write_refused" });
    expect(refusedWriteError(await thrown(() => db.prepare("INSERT INTO t VALUES ('a', 2)").run()))).toMatchObject({ code: "conflict", status: 409 });
  });

  it("blames no write when the database is gone", async () => {
    const closed = new Database(":memory:");
    closed.close();
    expect(refusedWriteError(await thrown(() => closed.prepare("SELECT 1").get()))).toBeUndefined();
  });
});

describe.skipIf(!postgres)("a commit failure on PostgreSQL", () => {
  const query = async (sql: string, params: unknown[] = []) => {
    const client = new pg.Client({ connectionString: SERVICES.postgres.url });
    await client.connect();
    try {
      await client.query("CREATE TEMP TABLE t (id text PRIMARY KEY, n bigint, k text)");
      await client.query("CREATE INDEX ON t (k)");
      await client.query("INSERT INTO t (id) VALUES ('a')");
      await client.query(sql, params);
    } finally {
      await client.end();
    }
  };

  it("blames the write for a NUL, an out-of-range number, an unindexable text, and names a duplicate key a conflict", async () => {
    expect(refusedWriteError(await thrown(() => query("INSERT INTO t (id) VALUES ($1)", ["x\u0000"])))).toMatchObject({ code: "write_refused" });
    expect(refusedWriteError(await thrown(() => query("INSERT INTO t (id, n) VALUES ('b', $1)", [1e23])))).toMatchObject({ code: "write_refused" });
    const unindexable = Array.from({ length: 1024 }, (_, i) => String.fromCodePoint(0x4e00 + ((i * 7919) % 20000))).join("");
    expect(refusedWriteError(await thrown(() => query("INSERT INTO t (id, k) VALUES ('c', $1)", [unindexable])))).toMatchObject({ code: "write_refused" });
    expect(refusedWriteError(await thrown(() => query("INSERT INTO t (id) VALUES ('a')")))).toMatchObject({ code: "conflict" });
  });

  it("blames no write when the database cannot be reached", async () => {
    const client = new pg.Client({ host: "127.0.0.1", port: 1, user: "postgres", database: "test", connectionTimeoutMillis: 2000 });
    expect(refusedWriteError(await thrown(() => client.connect()))).toBeUndefined();
  });
});
