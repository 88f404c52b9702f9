-- The webhook delivery log: one row per (registration, session event), with its attempts.
-- Pending rows are the retry queue: next_attempt_at says when each is due (or until when a
-- sender has claimed it), so deliveries survive a restart. Timestamps are ISO 8601 UTC text.

CREATE TABLE webhook_deliveries (
  id               TEXT PRIMARY KEY,
  webhook_id       TEXT NOT NULL,
  event            TEXT NOT NULL,
  session_id       TEXT NOT NULL,
  seq              INTEGER NOT NULL,
  status           TEXT NOT NULL,
  attempts         INTEGER NOT NULL,
  last_status_code INTEGER,
  last_error       TEXT,
  next_attempt_at  TEXT,
  created_at       TEXT NOT NULL,
  delivered_at     TEXT,
  body             TEXT NOT NULL,
  UNIQUE (webhook_id, session_id, seq)
);

-- A webhook's log, newest first (ids are UUID v7, so they sort by creation).
CREATE INDEX webhook_deliveries_by_webhook ON webhook_deliveries (webhook_id, id);
-- The retry queue: only pending rows, soonest first.
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at, id) WHERE status = 'pending';
-- Pruning finished rows by age.
CREATE INDEX webhook_deliveries_finished ON webhook_deliveries (created_at) WHERE status <> 'pending';
