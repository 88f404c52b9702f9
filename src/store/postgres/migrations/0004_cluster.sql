-- Several nodes on one schema (docs/scale-out.md). Each node that serves the schema has a row
-- with a lease it renews; every session has at most one owner node, recorded with an epoch that
-- grows each time the session changes owner. A commit carries the epochs its writes were built
-- under and is refused for a session whose (node, epoch) is no longer the one here: a node that
-- stalled past its lease cannot write over the node that took its sessions over (fencing).
-- Leases are compared with the database's clock (now()), never a node's.

CREATE TABLE cluster_nodes (
  -- New for every process start: a restarted node is a new node, and its old row's sessions are
  -- taken over like a dead node's.
  id               TEXT COLLATE "C" PRIMARY KEY,
  name             TEXT NOT NULL,
  -- Where other nodes forward requests for this node's sessions; null: it takes none.
  url              TEXT,
  -- A digest of the tokens the node accepts: nodes behind one load balancer must agree.
  auth_fingerprint TEXT NOT NULL,
  started_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
  lease_until      TIMESTAMPTZ NOT NULL
);

CREATE TABLE session_owners (
  session_id TEXT COLLATE "C" PRIMARY KEY,
  node_id    TEXT COLLATE "C" NOT NULL,
  epoch      BIGINT NOT NULL,
  since      TIMESTAMPTZ NOT NULL DEFAULT now()
);
-- A node's sessions: what another node sweeps when that node's lease runs out.
CREATE INDEX session_owners_by_node ON session_owners (node_id);
