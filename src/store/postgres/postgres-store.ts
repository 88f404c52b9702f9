import type pg from "pg";
import { DEFAULT_LIST_SCAN_ROWS } from "../../core/index.js";
import type { Store } from "../store.js";
import { createPool } from "./db.js";
import { historyReads } from "./history.js";
import { migratePostgres } from "./migrate.js";
import { clusterTables } from "./cluster.js";
import { type CommitNotices, listenForCommits } from "./commit-notices.js";
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
   * How long PostgreSQL lets a transaction sit idle before it ends it. A node stopped in the middle
   * of a commit (SIGSTOP, a long GC pause) holds the feed lock every commit takes and the owner rows
   * it checked: ended, they are free for the other nodes. @default no limit
   */
  readonly idleInTransactionTimeoutMs?: number;
  /**
   * Told when a connection fails outside a query: an idle pooled one (the pool drops it and
   * reconnects on next use).
   */
  readonly onConnectionError?: (err: Error) => void;
  /** The most sessions a search examines for one page (config listScanRows). @default 10000 */
  readonly listScanRows?: number;
}

/**
 * The PostgreSQL store: one `pg` pool, the schema migrated on open, each part of the contract
 * (sessions, history, webhooks, output and feed) answered by its own module over that pool.
 * `commit` applies a whole group-commit batch in one transaction on one client; `cluster` records
 * which node owns which session, for several nodes on one schema (docs/scale-out.md). It has no
 * synchronous path (`sync`): seed 004's synchronous reads need the embedded SQLite store.
 */
export async function openPostgresStore(options: PostgresStoreOptions): Promise<Store> {
  const onConnectionError = options.onConnectionError ?? (() => {});
  const pool = createPool({ ...options, onConnectionError });
  try {
    await assertSchemaUsable(pool);
    await migratePostgres(pool);
  } catch (err) {
    await pool.end();
    throw err;
  }
  return postgresStore(pool, onConnectionError, options.listScanRows ?? DEFAULT_LIST_SCAN_ROWS);
}

function postgresStore(pool: pg.Pool, onConnectionError: (err: Error) => void, listScanRows: number): Store {
  let closing: Promise<void> | undefined;
  // Opened on the first subscription: a store nobody reads feeds from holds no extra connection.
  let notices: CommitNotices | undefined;
  return {
    backend: "postgres",
    commit: (ops, fence) => commitBatch(pool, ops, fence),
    cluster: clusterTables(pool),
    onCommitted(listener) {
      notices ??= listenForCommits(pool, { onError: onConnectionError });
      return notices.subscribe(listener);
    },
    ...sessionReads(pool, { listScanRows }),
    ...historyReads(pool),
    ...webhookTables(pool),
    ...outputTables(pool),
    close() {
      // Idempotent: ending a pool twice is an error in pg.
      closing ??= (async () => {
        await notices?.close();
        await pool.end();
      })();
      return closing;
    },
  };
}
