import pg from "pg";
import { markRolledBack } from "../commit-failure.js";

/** Something queries run on: the pool (one statement, autocommit) or a client inside a transaction. */
export type Queryable = Pick<pg.Pool | pg.PoolClient, "query">;

/** PostgreSQL's type id of `bigint` (int8). */
const INT8_OID = 20;

/**
 * Advisory lock keys: transaction-level (`lock`) except `node`. PostgreSQL shares one key space
 * per database among every client, so the keys are fixed, distinctive constants.
 */
export const LOCKS = {
  /** Held while the schema is migrated, so nodes starting together migrate one after the other. */
  migrate: 0x5e55_1011,
  /** Held by every transaction that adds or removes events (see `lockFeed`). */
  feed: 0x5e55_1012,
  /** Held by every transaction that adds exec output (see `OutputTables.appendOutput`). */
  output: 0x5e55_1013,
} as const;

/** How to reach PostgreSQL: see PostgresStoreOptions. */
export interface PoolOptions {
  readonly url: string;
  readonly poolSize?: number;
  readonly connectTimeoutMs?: number;
  readonly idleInTransactionTimeoutMs?: number;
  readonly onConnectionError: (err: Error) => void;
}

/**
 * The pool the store runs on. bigint columns (positions, seqs, counts) come back as numbers, as
 * SQLite returns them: every such value here stays far below 2^53. The parser is set on this
 * pool's clients only, not on `pg.types`, so another user of `pg` in the process is unaffected.
 */
export function createPool(options: PoolOptions): pg.Pool {
  const types = new pg.TypeOverrides();
  types.setTypeParser(INT8_OID, (value: string) => Number(value));
  const pool = new pg.Pool({
    connectionString: options.url,
    types,
    max: options.poolSize,
    connectionTimeoutMillis: options.connectTimeoutMs,
    ...(options.idleInTransactionTimeoutMs ? { idle_in_transaction_session_timeout: options.idleInTransactionTimeoutMs } : {}),
  });
  // An idle client whose connection dropped (a server restart, a network blip) is reported here
  // and discarded by the pool; the next query connects anew. Unhandled, the event would crash
  // the process.
  pool.on("error", options.onConnectionError);
  return pool;
}

/** The rows of one statement. */
export async function rows<R extends pg.QueryResultRow>(db: Queryable, sql: string, params: readonly unknown[] = []): Promise<R[]> {
  return (await db.query<R>(sql, params as unknown[])).rows;
}

/** How many rows one statement inserted, updated or deleted. */
export async function changes(db: Queryable, sql: string, params: readonly unknown[] = []): Promise<number> {
  return (await db.query(sql, params as unknown[])).rowCount ?? 0;
}

/**
 * Runs `work` in one transaction on one client of the pool: committed when it resolves, rolled
 * back when it throws. A client whose rollback failed is destroyed rather than reused, since its
 * connection may still be inside the failed transaction.
 */
export async function transaction<T>(pool: pg.Pool, work: (tx: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  let broken: Error | undefined;
  // A checked-out client has no pool listener: its connection ending mid-transaction (a node
  // stopped past idle_in_transaction_session_timeout, a restarted server) would otherwise be an
  // unhandled 'error' that ends the process. The query in flight fails with it; the client is
  // then destroyed, not reused.
  const lost = (err: Error) => {
    broken = err;
  };
  client.on("error", lost);
  let committing = false;
  try {
    await client.query("BEGIN");
    const result = await work(client);
    // A connection already lost (its error came with the last statement's answer: ended while
    // this node was stopped) never carries the COMMIT: nothing was applied.
    committing = broken === undefined;
    await client.query("COMMIT");
    return result;
  } catch (err) {
    await client.query("ROLLBACK").catch((rollbackFailure: unknown) => {
      broken = rollbackFailure instanceof Error ? rollbackFailure : new Error(String(rollbackFailure));
    });
    // Before COMMIT was sent the database applied nothing, whatever became of the connection
    // (ended while this node was stopped, say); a failure on COMMIT itself may have committed.
    throw committing ? err : markRolledBack(err);
  } finally {
    client.off("error", lost);
    client.release(broken);
  }
}

/** Takes a transaction-level advisory lock: held until the transaction commits or rolls back. */
export async function lock(tx: pg.PoolClient, key: number): Promise<void> {
  await tx.query("SELECT pg_advisory_xact_lock($1)", [key]);
}

/** The LISTEN/NOTIFY channel a commit that appended events notifies (commit-notices.ts listens). */
export const COMMITS_CHANNEL = "sessiond_commits";
