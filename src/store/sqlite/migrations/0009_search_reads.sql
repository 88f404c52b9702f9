-- What a search (GET /sessions/?q=) and an agent's listing read of each session, kept small
-- whatever the session holds. SQLite reads a value whole before any function sees it, and a column
-- stored after a large one only by walking the large one's overflow pages: with a 4 MB task, both
-- substr(task, 1, n) and a check of `status` read about a thousand pages.
--
-- The text a search looks in, per session: its name and the first 1,024 characters of its task
-- (TASK_SEARCH_CHARS, src/core/session.ts), their ASCII letters lowercased as a search's text is
-- (SQLite's lower() folds those alone), in a table of their own that the store writes with the
-- session. A search reads this table and not the session's row.
CREATE TABLE session_search_text (
  session_id TEXT PRIMARY KEY,
  name       TEXT NOT NULL,
  task_head  TEXT NOT NULL
);
INSERT INTO session_search_text (session_id, name, task_head)
  SELECT id, lower(name), lower(coalesce(substr(task, 1, 1024), '')) FROM sessions;

-- An agent's listing (an agent token's are all of them) is read through this index alone, so
-- that no other agent's sessions take part in it (sql-filter.ts); carrying status and kind, it
-- answers their filters without reading the session rows.
DROP INDEX sessions_by_agent;
CREATE INDEX sessions_by_agent ON sessions (agent_id, created_at, id, status, kind);
