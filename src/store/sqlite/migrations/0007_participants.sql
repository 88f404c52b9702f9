-- Who took part in each session (seed 002's participants): a JSON array of {kind, id, joined_at},
-- kind human, ai or persona, in the order they joined. Adding a column with a constant default
-- rewrites no row. The sessions that already exist get the participants their owner fields name,
-- as a new session does: its agent_id as an AI, then its user_id as a human, joined when the
-- session was created (an empty id names nobody).

ALTER TABLE sessions ADD COLUMN participants TEXT NOT NULL DEFAULT '[]';

UPDATE sessions SET participants = CASE
    WHEN coalesce(agent_id, '') <> '' AND coalesce(user_id, '') <> '' THEN json_array(
      json_object('kind', 'ai', 'id', agent_id, 'joined_at', created_at),
      json_object('kind', 'human', 'id', user_id, 'joined_at', created_at))
    WHEN coalesce(agent_id, '') <> '' THEN json_array(json_object('kind', 'ai', 'id', agent_id, 'joined_at', created_at))
    ELSE json_array(json_object('kind', 'human', 'id', user_id, 'joined_at', created_at))
  END
  WHERE coalesce(agent_id, '') <> '' OR coalesce(user_id, '') <> '';
