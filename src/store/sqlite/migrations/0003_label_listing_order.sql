-- Lets a label filter drive a listing from the label index in the listing order
-- (created_at, id), instead of collecting and sorting every session that has the label.
ALTER TABLE session_labels ADD COLUMN created_at TEXT NOT NULL DEFAULT '';
UPDATE session_labels SET created_at = (SELECT s.created_at FROM sessions s WHERE s.id = session_labels.session_id);
DROP INDEX session_labels_by_value;
CREATE INDEX session_labels_by_value ON session_labels (key, value, created_at, session_id);
