import { type Config, dataPaths } from "../core/index.js";
import { SqliteStore } from "./sqlite/sqlite-store.js";
import { type Store, asyncStore } from "./store.js";

export type { ClaimResult, ClusterNodeRecord, ClusterStore, CommitFence, CommitResult, HeldSessions, NameQuery, OrphanedSession, SessionActivity, SessionOwnerRecord, SessionPage, Store, SyncStore, WebhookRecord, WriteOp } from "./store.js";
export type { ExecOutputExtent, FeedEntry, OutputRecord, OutputStreamName, StoredOutput } from "./store.js";
export { asyncStore } from "./store.js";
export { storedDataText } from "./rows.js";
export { type ListOrder, type ListPosition, listCursor, listOrder } from "./list-order.js";
export { refusedWriteError, rolledBack } from "./commit-failure.js";
export { SqliteStore, type SqliteStoreOptions } from "./sqlite/sqlite-store.js";
export { HomeLock } from "./home-lock.js";
export { type HomeClaim, HomeOwnership, claimHome, describeOwner } from "./home-owner.js";
import { HomeOwnership, claimHome, describeOwner } from "./home-owner.js";
export { type OwnerRecord, ownerAlive, readOwnerRecord } from "./owner-record.js";
export type { PostgresStoreOptions } from "./postgres/index.js";

/**
 * The embedded SQLite store of a config, opened synchronously (seed 004's reads need that).
 *
 * Its data dir gets one writer (DESIGN.md §6): the store takes the data dir's owner lock for its
 * lifetime (released when it closes) unless the caller already holds it (`ownership`).
 * @throws Error naming the owner when another process owns the data dir
 */
export function openSqliteStore(
  config: Pick<
    Config,
    "home" | "store" | "sqliteSynchronous" | "sqliteBusyTimeoutMs" | "sqliteCacheBytes" | "sqliteCheckpointPages" | "ownerLockWaitMs" | "ownerLockCheckMs" | "listScanRows"
  >,
  options: { ownership?: HomeOwnership } = {},
): Store {
  let claimed: HomeOwnership | undefined;
  if (!options.ownership) {
    const claim = claimHome(config, "embedded");
    if (!claim.owned) {
      throw new Error(
        `${config.home} is owned by ${describeOwner(claim.owner)}: a second store on it would lose writes; go through the owner (the embedded API and sessiond/client do, on ${dataPaths(config).socket})`,
      );
    }
    claimed = claim.owned;
  }
  let sqlite: SqliteStore;
  try {
    sqlite = new SqliteStore({
      path: dataPaths(config).database,
      synchronous: config.sqliteSynchronous,
      busyTimeoutMs: config.sqliteBusyTimeoutMs,
      cacheBytes: config.sqliteCacheBytes,
      checkpointPages: config.sqliteCheckpointPages,
      listScanRows: config.listScanRows,
      ...(claimed ? { onClose: () => claimed.release() } : {}),
    });
  } catch (err) {
    claimed?.release();
    throw err;
  }
  return asyncStore("sqlite", sqlite);
}

/** What openStore tells its caller about. */
export interface OpenStoreOptions {
  /** A database connection failed outside a query (PostgreSQL: an idle pooled one). */
  readonly onConnectionError?: (err: Error) => void;
  /** The data dir's ownership, when the caller holds it (a SQLite store takes it otherwise). */
  readonly ownership?: HomeOwnership;
}

/**
 * The store a config names. SQLite is the embedded default; the PostgreSQL store is loaded only
 * when configured, so embedded use never loads `pg`.
 */
export async function openStore(config: Config, options: OpenStoreOptions = {}): Promise<Store> {
  switch (config.store) {
    case "sqlite":
      return openSqliteStore(config, options.ownership ? { ownership: options.ownership } : {});
    case "postgres": {
      if (!config.pgUrl) {
        throw new Error("the PostgreSQL store needs a connection string: set SESSIOND_PG_URL (config key pgUrl)");
      }
      const { openPostgresStore } = await import("./postgres/index.js");
      return openPostgresStore({
        url: config.pgUrl,
        poolSize: config.pgPoolSize,
        connectTimeoutMs: config.pgConnectTimeoutMs,
        // A node stopped mid-commit must not hold the other nodes up for longer than its lease.
        idleInTransactionTimeoutMs: config.leaseTtlMs,
        listScanRows: config.listScanRows,
        ...(options.onConnectionError ? { onConnectionError: options.onConnectionError } : {}),
      });
    }
  }
}
