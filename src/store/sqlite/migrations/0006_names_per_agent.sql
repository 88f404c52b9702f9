-- Session names become unique per agent_id instead of across the whole store: two agents may each
-- have a session called `build`, and neither learns from a refused name that the other's exists.
-- Sessions without an agent_id (null or '') share one namespace. The old rule is an inline UNIQUE
-- of the table, which SQLite cannot drop, so the table is rebuilt with the same columns and rows,
-- and its indexes and trigger are made again.

CREATE TABLE sessions_new (
  id               TEXT PRIMARY KEY,
  name             TEXT NOT NULL,
  kind             TEXT NOT NULL,
  type             TEXT,
  mode             TEXT,
  agent_id         TEXT,
  user_id          TEXT,
  channel_id       TEXT,
  labels           TEXT NOT NULL,
  task             TEXT,
  workspace        TEXT,
  status           TEXT NOT NULL,
  iterations       INTEGER NOT NULL,
  max_iterations   INTEGER,
  context          TEXT NOT NULL,
  checkpoint       TEXT,
  runtime_backend  TEXT NOT NULL,
  runtime_metadata TEXT NOT NULL,
  server           TEXT NOT NULL,
  result           TEXT,
  error            TEXT,
  metadata         TEXT NOT NULL,
  parent           TEXT,
  created_at       TEXT NOT NULL,
  updated_at       TEXT NOT NULL,
  started_at       TEXT NOT NULL,
  ended_at         TEXT,
  last_activity_at TEXT NOT NULL,
  last_seq         INTEGER NOT NULL,
  version          INTEGER NOT NULL,
  skey             INTEGER
);

INSERT INTO sessions_new (id, name, kind, type, mode, agent_id, user_id, channel_id, labels, task, workspace, status,
    iterations, max_iterations, context, checkpoint, runtime_backend, runtime_metadata, server, result, error, metadata,
    parent, created_at, updated_at, started_at, ended_at, last_activity_at, last_seq, version, skey)
  SELECT id, name, kind, type, mode, agent_id, user_id, channel_id, labels, task, workspace, status,
    iterations, max_iterations, context, checkpoint, runtime_backend, runtime_metadata, server, result, error, metadata,
    parent, created_at, updated_at, started_at, ended_at, last_activity_at, last_seq, version, skey
  FROM sessions ORDER BY rowid;

DROP TABLE sessions;
ALTER TABLE sessions_new RENAME TO sessions;

-- One name per namespace. Led by the name, so a lookup by name alone (across namespaces) is a
-- range of it too; the store's queries repeat the expression exactly so the planner uses it.
CREATE UNIQUE INDEX sessions_by_name ON sessions (name, coalesce(agent_id, ''));

CREATE UNIQUE INDEX sessions_by_key ON sessions (skey);
CREATE INDEX sessions_by_created ON sessions (created_at, id);
CREATE INDEX sessions_by_agent   ON sessions (agent_id, created_at, id);
CREATE INDEX sessions_by_user    ON sessions (user_id, created_at, id);
CREATE INDEX sessions_by_channel ON sessions (channel_id, created_at, id);
CREATE INDEX sessions_by_status  ON sessions (status, created_at, id);
CREATE INDEX sessions_by_kind    ON sessions (kind, created_at, id);
CREATE INDEX sessions_by_type    ON sessions (type, created_at, id);
CREATE INDEX sessions_by_mode    ON sessions (mode, created_at, id);
CREATE INDEX sessions_by_parent  ON sessions (parent) WHERE parent IS NOT NULL;
CREATE INDEX sessions_by_ended   ON sessions (ended_at) WHERE ended_at IS NOT NULL;

CREATE TRIGGER exec_output_session_deleted AFTER DELETE ON sessions BEGIN
  DELETE FROM exec_output WHERE session_id = OLD.id;
END;
