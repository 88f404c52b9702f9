import type pg from "pg";
import { LOCKS } from "./db.js";

/** The lock that makes one sessiond node the only one serving a schema; `release` ends it. */
export interface NodeLock {
  release(): Promise<void>;
}

/**
 * Takes the schema's node lock, a session-level advisory lock held on a connection of its own for
 * as long as the store is open, or fails at once if another node holds it.
 *
 * Why: a node keeps sessions in memory (the hot pool) and checks versions there, so a second node
 * on the same schema would serve stale sessions and could write over the first node's changes.
 * Until scale-out (DESIGN §7: ownership leases, forwarding) exists, a second node must not start.
 * The key pairs a constant with a hash of the schema name, so nodes on different schemas of one
 * database do not exclude each other.
 * @throws when another node holds the lock, naming the schema
 */
export async function takeNodeLock(pool: pg.Pool, onLost: (err: Error) => void): Promise<NodeLock> {
  const client = await pool.connect();
  // A checked-out client's connection error has no pool listener; unheard, it would end the
  // process. The lock ends with the connection: the caller is told, so it can be logged.
  const lost = (err: Error) => onLost(new Error(`lost the sessiond node lock (its connection failed: ${err.message}); another node could start on this schema`));
  client.on("error", lost);
  try {
    const [row] = (
      await client.query<{ taken: boolean; schema: string }>(
        "SELECT pg_try_advisory_lock($1, hashtext(current_schema())) AS taken, current_schema() AS schema",
        [LOCKS.node],
      )
    ).rows;
    if (!row?.taken) {
      throw new Error(
        `another sessiond node is serving PostgreSQL schema ${row?.schema ?? "(unknown)"}: one node per schema is supported for now (no multi-node scale-out yet)`,
      );
    }
  } catch (err) {
    client.off("error", lost);
    client.release();
    throw err;
  }
  return {
    // Closing the connection ends the session and with it the lock.
    release: async () => {
      client.off("error", lost);
      client.release(true);
    },
  };
}
