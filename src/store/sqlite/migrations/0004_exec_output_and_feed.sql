-- Exec output kept as it arrives, so a stream client can resume "exec X from offset N" even after a
-- restart, and a global position for every event, so a feed client can resume "after position P".

-- One row per batch of an exec's output on one stream. pos orders all output of the server (never
-- reused: AUTOINCREMENT); offset is the first byte's place in that exec's stream.
CREATE TABLE exec_output (
  pos        INTEGER PRIMARY KEY AUTOINCREMENT,
  session_id TEXT NOT NULL,
  exec_id    TEXT NOT NULL,
  stream     TEXT NOT NULL,
  "offset"   INTEGER NOT NULL,
  data       BLOB NOT NULL
);
-- Resume by exec and byte offset.
CREATE INDEX exec_output_by_exec ON exec_output (exec_id, stream, "offset");
-- A session's output in order (resume by position; deletion with the session).
CREATE INDEX exec_output_by_session ON exec_output (session_id, pos);

CREATE TRIGGER exec_output_session_deleted AFTER DELETE ON sessions BEGIN
  DELETE FROM exec_output WHERE session_id = OLD.id;
END;

-- The global feed's order: one row per event, numbered as the events are committed. The events
-- table stays WITHOUT ROWID (appends are its hot path); this table is a rowid append, the cheapest
-- b-tree insert there is. Rows of deleted sessions' events are left behind and skipped by the join
-- on read (an index to delete them would cost every append).
CREATE TABLE event_feed (
  pos        INTEGER PRIMARY KEY AUTOINCREMENT,
  session_id TEXT NOT NULL,
  seq        INTEGER NOT NULL
);
INSERT INTO event_feed (session_id, seq) SELECT session_id, seq FROM events ORDER BY ts, session_id, seq;

CREATE TRIGGER event_feed_append AFTER INSERT ON events BEGIN
  INSERT INTO event_feed (session_id, seq) VALUES (NEW.session_id, NEW.seq);
END;
