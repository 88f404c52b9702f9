import type pg from "pg";
import type { ClaimResult, ClusterNodeRecord, ClusterStore, CommitFence, OrphanedSession, SessionOwnerRecord } from "../store.js";
import { type Queryable, changes, rows } from "./db.js";

/** A node row joined to an owner row, as the queries below read them. */
interface OwnerRow {
  node_id: string;
  epoch: number;
  name: string | null;
  url: string | null;
  auth_fingerprint: string | null;
  lease_ms_left: number | null;
}

/** A node's lease still runs, by the database's clock. */
const LIVE = "n.lease_until > now()";

/**
 * Session ownership among the nodes sharing a schema (migration 0004_cluster.sql). Each method is
 * one statement (or one transaction), so two nodes racing for a session see one winner.
 */
export function clusterTables(pool: pg.Pool): ClusterStore {
  return {
    async join(node, ttlMs) {
      const others = await rows<{ name: string; auth_fingerprint: string }>(
        pool,
        `SELECT name, auth_fingerprint FROM cluster_nodes n WHERE ${LIVE} AND id <> $1 AND auth_fingerprint <> $2 LIMIT 1`,
        [node.id, node.auth_fingerprint],
      );
      const differing = others[0];
      if (differing) {
        throw new Error(
          `node ${differing.name} serves this PostgreSQL schema with another set of tokens: every node behind one load balancer must accept the same tokens (the admin token file and config tokens), or a forwarded request would be refused`,
        );
      }
      await pool.query(
        `INSERT INTO cluster_nodes (id, name, url, auth_fingerprint, lease_until)
         VALUES ($1, $2, $3, $4, now() + make_interval(secs => $5::double precision / 1000))`,
        [node.id, node.name, node.url, node.auth_fingerprint, ttlMs],
      );
    },

    async renew(node, ttlMs) {
      // The old lease is read and replaced in one statement, so the answer is exact.
      const [renewed] = await rows<{ lapsed: boolean }>(
        pool,
        `WITH old AS (SELECT id, lease_until FROM cluster_nodes WHERE id = $1 FOR UPDATE)
         UPDATE cluster_nodes n SET lease_until = now() + make_interval(secs => $2::double precision / 1000), url = $3
         FROM old WHERE n.id = old.id
         RETURNING old.lease_until <= now() AS lapsed`,
        [node.id, ttlMs, node.url],
      );
      if (renewed) return { lapsed: renewed.lapsed };
      // The row is gone (edited by hand, or pruned after a long stall): whatever this node held may
      // have been taken over meanwhile.
      await pool.query(
        `INSERT INTO cluster_nodes (id, name, url, auth_fingerprint, lease_until)
         VALUES ($1, $2, $3, $4, now() + make_interval(secs => $5::double precision / 1000))
         ON CONFLICT (id) DO NOTHING`,
        [node.id, node.name, node.url, node.auth_fingerprint, ttlMs],
      );
      return { lapsed: true };
    },

    async leave(nodeId) {
      await pool.query("UPDATE cluster_nodes SET lease_until = now() WHERE id = $1", [nodeId]);
    },

    async claim(sessionId, nodeId) {
      for (;;) {
        // Insert or take over in one statement: a row lock makes racing claimers wait for the
        // winner and then see its row, which names a live node.
        const [taken] = await rows<{ epoch: number; from_id: string | null; from_name: string | null }>(
          pool,
          `WITH previous AS (
             SELECT o.node_id, coalesce(n.name, o.node_id) AS name FROM session_owners o LEFT JOIN cluster_nodes n ON n.id = o.node_id WHERE o.session_id = $1)
           INSERT INTO session_owners AS o (session_id, node_id, epoch)
           SELECT $1, $2, 1 FROM cluster_nodes n WHERE n.id = $2 AND ${LIVE}
           ON CONFLICT (session_id) DO UPDATE SET node_id = EXCLUDED.node_id, epoch = o.epoch + 1, since = now()
             WHERE o.node_id <> EXCLUDED.node_id
               AND NOT EXISTS (SELECT 1 FROM cluster_nodes n WHERE n.id = o.node_id AND ${LIVE})
           RETURNING o.epoch, (SELECT node_id FROM previous) AS from_id, (SELECT name FROM previous) AS from_name`,
          [sessionId, nodeId],
        );
        if (taken) {
          const from = taken.from_id !== null && taken.from_id !== nodeId ? { id: taken.from_id, name: taken.from_name ?? taken.from_id } : undefined;
          return { held: true, epoch: taken.epoch, ...(from ? { from } : {}) };
        }
        const owner = await ownerOf(pool, sessionId);
        if (owner === undefined) {
          // No row and no claim: this node's own lease has run out (the insert needs it current).
          const self = await ownerNode(pool, nodeId);
          return { held: false, owner: { node: self, epoch: 0, lease_ms_left: 0 } };
        }
        if (owner.node.id === nodeId) {
          // Ours already; refused only when our own lease ran out, which the caller must renew first.
          if (owner.lease_ms_left > 0) return { held: true, epoch: owner.epoch };
          return { held: false, owner };
        }
        if (owner.lease_ms_left > 0) return { held: false, owner };
        // Its owner's lease ran out between the two statements, or our own did: try again only
        // while ours runs (a node whose lease ran out takes nothing).
        if (!(await leaseRuns(pool, nodeId))) return { held: false, owner };
      }
    },

    owner: (sessionId) => ownerOf(pool, sessionId),

    async orphaned(kinds, limit) {
      return rows<OrphanedSession>(
        pool,
        `SELECT s.id AS session_id, n.name AS node_name
         FROM sessions s
         LEFT JOIN session_owners o ON o.session_id = s.id
         LEFT JOIN cluster_nodes n ON n.id = o.node_id
         WHERE s.status IN ('active', 'paused') AND s.kind = ANY($1::text[])
           AND (n.id IS NULL OR n.lease_until <= now())
         ORDER BY s.created_at, s.id
         LIMIT $2`,
        [kinds, limit],
      );
    },

    liveNodes: () => rows<ClusterNodeRecord>(pool, `SELECT id, name, url, auth_fingerprint FROM cluster_nodes n WHERE ${LIVE} ORDER BY name, id`),

    async pruneNodes(olderThanMs) {
      return changes(
        pool,
        `DELETE FROM cluster_nodes n
         WHERE n.lease_until < now() - make_interval(secs => $1::double precision / 1000)
           AND NOT EXISTS (SELECT 1 FROM session_owners o WHERE o.node_id = n.id)`,
        [olderThanMs],
      );
    },
  };
}

/**
 * Inside a commit's transaction: the sessions among `fence.epochs` whose owner row no longer names
 * this node at the epoch their writes were built under. Their rows are locked (shared) until the
 * commit ends, so no claim can take one over between this check and the commit.
 */
export async function fencedSessions(tx: Queryable, fence: CommitFence): Promise<string[]> {
  if (fence.epochs.size === 0) return [];
  const ids = [...fence.epochs.keys()];
  const found = await rows<{ session_id: string }>(
    tx,
    `WITH held AS (SELECT session_id, node_id, epoch FROM session_owners WHERE session_id = ANY($1::text[]) FOR SHARE)
     SELECT f.session_id FROM unnest($1::text[], $2::bigint[]) AS f(session_id, epoch)
     LEFT JOIN held h ON h.session_id = f.session_id
     WHERE h.node_id IS DISTINCT FROM $3 OR h.epoch IS DISTINCT FROM f.epoch`,
    [ids, ids.map((id) => fence.epochs.get(id)!), fence.nodeId],
  );
  return found.map((r) => r.session_id);
}

/** Inside a session's deletion: it has no owner any more. */
export async function forgetOwner(tx: Queryable, sessionId: string): Promise<void> {
  await tx.query("DELETE FROM session_owners WHERE session_id = $1", [sessionId]);
}

async function ownerOf(db: Queryable, sessionId: string): Promise<SessionOwnerRecord | undefined> {
  const [row] = await rows<OwnerRow>(
    db,
    `SELECT o.node_id, o.epoch, n.name, n.url, n.auth_fingerprint,
            (extract(epoch FROM (n.lease_until - now())) * 1000)::double precision AS lease_ms_left
     FROM session_owners o LEFT JOIN cluster_nodes n ON n.id = o.node_id
     WHERE o.session_id = $1`,
    [sessionId],
  );
  if (!row) return undefined;
  return {
    // A row naming a node that is not recorded (edited by hand, or pruned) is an owner whose lease ran out.
    node: { id: row.node_id, name: row.name ?? row.node_id, url: row.url, auth_fingerprint: row.auth_fingerprint ?? "" },
    epoch: row.epoch,
    lease_ms_left: row.lease_ms_left ?? 0,
  };
}

async function ownerNode(db: Queryable, nodeId: string): Promise<ClusterNodeRecord> {
  const [row] = await rows<ClusterNodeRecord>(db, "SELECT id, name, url, auth_fingerprint FROM cluster_nodes WHERE id = $1", [nodeId]);
  return row ?? { id: nodeId, name: nodeId, url: null, auth_fingerprint: "" };
}

async function leaseRuns(db: Queryable, nodeId: string): Promise<boolean> {
  const [row] = await rows<{ runs: boolean }>(db, `SELECT ${LIVE} AS runs FROM cluster_nodes n WHERE n.id = $1`, [nodeId]);
  return row?.runs ?? false;
}
