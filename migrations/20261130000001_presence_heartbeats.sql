-- Each node's heartbeat. A node's presence rows count while its heartbeat is fresh, so a
-- node writes the changes of its set (nurses who came and went) and one heartbeat row
-- every few seconds, instead of re-writing the row of every nurse connected to it (at
-- 19,000 sockets, 19,000 rows every two seconds). A crashed node's heartbeat goes stale,
-- and with it all its rows.
CREATE TABLE presence_nodes (
    node_id uuid PRIMARY KEY,
    seen_at timestamptz NOT NULL DEFAULT now()
);

COMMENT ON COLUMN presence.seen_at IS
    'When the row was written. A row counts while this is fresh or while its node''s heartbeat (presence_nodes) is.';
