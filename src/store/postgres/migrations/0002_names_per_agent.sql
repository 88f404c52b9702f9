-- Session names become unique per agent_id instead of across the whole store: two agents may each
-- have a session called `build`, and neither learns from a refused name that the other's exists.
-- Sessions without an agent_id (null or '') share one namespace.

ALTER TABLE sessions DROP CONSTRAINT sessions_name_key;

-- One name per namespace. Led by the name, so a lookup by name alone (across namespaces) is a
-- range of it too; the store's queries repeat the expression exactly so the planner uses it.
CREATE UNIQUE INDEX sessions_by_name ON sessions (name, coalesce(agent_id, ''));
