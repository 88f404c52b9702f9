-- Sessions, their append-only events, checkpoints, labels and webhook registrations.
-- Timestamps are ISO 8601 UTC strings (Date#toISOString), which sort as text.
-- JSON columns hold serialized JSON text.

CREATE TABLE sessions (
  id               TEXT PRIMARY KEY,
  name             TEXT NOT NULL UNIQUE,
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
  version          INTEGER NOT NULL
);

-- One index per list filter, each ending in the listing order so a page is an index range.
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

CREATE TABLE session_labels (
  session_id TEXT NOT NULL,
  key        TEXT NOT NULL,
  value      TEXT NOT NULL,
  PRIMARY KEY (session_id, key)
) WITHOUT ROWID;
CREATE INDEX session_labels_by_value ON session_labels (key, value, session_id);

CREATE TABLE events (
  session_id TEXT NOT NULL,
  seq        INTEGER NOT NULL,
  ts         TEXT NOT NULL,
  type       TEXT NOT NULL,
  data       TEXT NOT NULL,
  PRIMARY KEY (session_id, seq)
) WITHOUT ROWID;
-- No index on type: a type filter walks the session's own seq range. Every index here is one more
-- page written per event, and appends are the hot path.

CREATE TABLE checkpoints (
  id         TEXT PRIMARY KEY,
  session_id TEXT NOT NULL,
  seq        INTEGER NOT NULL,
  label      TEXT,
  data       TEXT NOT NULL,
  state      TEXT NOT NULL,
  created_at TEXT NOT NULL
);
CREATE INDEX checkpoints_by_session ON checkpoints (session_id, seq);

CREATE TABLE webhooks (
  id         TEXT PRIMARY KEY,
  url        TEXT NOT NULL,
  events     TEXT NOT NULL,
  secret     TEXT,
  created_at TEXT NOT NULL
);
