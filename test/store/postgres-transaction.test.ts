import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { rolledBack } from "../../src/store/index.js";
import { createPool, transaction } from "../../src/store/postgres/db.js";
import { type TestSchema, createTestSchema } from "../helpers/postgres.js";
import { serviceAvailable } from "../helpers/services.js";

const postgres = await serviceAvailable("postgres");

describe.skipIf(!postgres)("a transaction whose connection the server ends", () => {
  let schema: TestSchema;
  beforeEach(async () => {
    schema = await createTestSchema();
  });
  afterEach(async () => {
    await schema.drop();
  });

  it("fails the transaction, not the process (a node stopped past idle_in_transaction_session_timeout wakes to an ended connection)", async () => {
    const pool = createPool({ url: schema.url, idleInTransactionTimeoutMs: 200, onConnectionError: () => {} });
    try {
      const failed = await transaction(pool, async (tx) => {
        await tx.query("SELECT 1");
        // Idle inside the transaction past the timeout: the server ends the connection (FATAL 25P03)
        // and the client emits 'error' while no query runs — unheard, that ended the process.
        await new Promise((resolve) => setTimeout(resolve, 600));
        await tx.query("SELECT 2");
      }).catch((err: unknown) => err);
      expect(failed).toBeInstanceOf(Error);
      // Before COMMIT: nothing of it was applied, and the engine says so (commit_rolled_back, retried by clients).
      expect(rolledBack(failed)).toBe(true);
      // The pool goes on with a new connection.
      expect((await pool.query("SELECT 3 AS three")).rows).toEqual([{ three: 3 }]);
    } finally {
      await pool.end();
    }
  });

  it("commits a transaction that does not idle past the timeout", async () => {
    const pool = createPool({ url: schema.url, idleInTransactionTimeoutMs: 200, onConnectionError: () => {} });
    try {
      await transaction(pool, async (tx) => {
        await tx.query("CREATE TABLE t (n int)");
        await tx.query("INSERT INTO t VALUES (1)");
      });
      expect((await pool.query("SELECT n FROM t")).rows).toEqual([{ n: 1 }]);
    } finally {
      await pool.end();
    }
  });
});
