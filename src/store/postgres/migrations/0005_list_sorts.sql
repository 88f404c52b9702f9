-- The orders a listing may be sorted by besides created_at (GET /sessions?sort=…): each gets an
-- index that ends in its tie-break (created_at, id), so a page in that order, either way, is a
-- range of it however many sessions there are. agent_id sorts coalesced to '' (sessions without
-- one together), and the store's queries repeat the expression exactly so the planner uses it.
-- status and kind already have such indexes (their filters'). updated_at and iterations get none:
-- they change with nearly every write, and an index on them would be rewritten with each; those
-- sorts read every matching session. last_activity_at moves with most writes too, but "the most
-- recently active first" is the page the dashboard opens most after the newest.
CREATE INDEX sessions_by_last_activity ON sessions (last_activity_at, created_at, id);
CREATE INDEX sessions_by_name_order    ON sessions (name, created_at, id);
CREATE INDEX sessions_by_agent_order   ON sessions (coalesce(agent_id, ''), created_at, id);
