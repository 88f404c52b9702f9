import type pg from "pg";
import type { Store } from "../store.js";
import { createPool } from "./db.js";
import { historyReads } from "./history.js";
import { migratePostgres } from "./migrate.js";
import { type NodeLock, takeNodeLock } from "./node-lock.js";
import { assertSchemaUsable } from "./schema-check.js";
import { outputTables } from "./output.js";
import { sessionReads } from "./sessions.js";
import { webhookTables } from "./webhooks.js";
import { commitBatch } from "./write-batch.js";

/** How to open the PostgreSQL store. */
export interface PostgresStoreOptions {
  /**
   * A libpq connection string (`postgres://user@host:5432/db`). The store's tables live in the
   * connection's `search_path` schema (set one with `?options=-c%20search_path%3Dname`).
   */
  readonly url: string;
  /** Connections the pool opens at most. @default pg's (10) */
  readonly poolSize?: number;
  /** How long opening a connection may take. @default no limit (pg's) */
  readonly connectTimeoutMs?: number;
  /**
   * Refuse to open while another store holds this schema as a sessiond node, and hold it until
   * close (see takeNodeLock). `sessiond serve` opens its store this way. @default false
   */
  readonly exclusive?: boolean;
  /**
   * Told when a connection fails outside a query: an idle pooled one (the pool drops it and
   * reconnects on next use), or the node lock's (the lock is gone with it).
   */
  readonly onConnectionError?: (err: Error) => void;
}

/**
 * The PostgreSQL store: one `pg` pool, the schema migrated on open, each part of the contract
 * (sessions, history, webhooks, output and feed) answered by its own module over that pool.
 * `commit` applies a whole group-commit batch in one transaction on one client. It has no
 * synchronous path (`sync`): seed 004's synchronous reads need the embedded SQLite store.
 */
export async function openPostgresStore(options: PostgresStoreOptions): Promise<Store> {
  const onConnectionError = options.onConnectionError ?? (() => {});
  const pool = createPool({ ...options, onConnectionError });
  let nodeLock: NodeLock | undefined;
  try {
    await assertSchemaUsable(pool);
    if (options.exclusive) nodeLock = await takeNodeLock(pool, onConnectionError);
    await migratePostgres(pool);
  } catch (err) {
    await nodeLock?.release();
    await pool.end();
    throw err;
  }
  return postgresStore(pool, nodeLock);
}

function postgresStore(pool: pg.Pool, nodeLock: NodeLock | undefined): Store {
  let closing: Promise<void> | undefined;
  return {
    backend: "postgres",
    commit: (ops) => commitBatch(pool, ops),
    ...sessionReads(pool),
    ...historyReads(pool),
    ...webhookTables(pool),
    ...outputTables(pool),
    close() {
      // Idempotent: ending a pool twice is an error in pg.
      closing ??= (async () => {
        await nodeLock?.release();
        await pool.end();
      })();
      return closing;
    },
  };
}
