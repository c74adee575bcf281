-- Rules that must hold under races and expiry: tokens that die with reinstatement,
-- tickets that die with their session, and the stream position of a shift's last change.

-- The generation of a user's access tokens: each token carries the generation it was
-- issued in, and one of an older generation is refused. Suspension starts a new one, so
-- tokens issued before a suspension stay dead after reinstatement. (A counter, not a time:
-- token times are whole seconds, a counter has no such blind spot.)
ALTER TABLE users ADD COLUMN token_epoch integer NOT NULL DEFAULT 0;

-- A ticket belongs to the session (refresh family) whose access token asked for it, and a
-- socket it opens lives no longer than that access token.
ALTER TABLE ws_tickets
    ADD COLUMN family_id uuid REFERENCES refresh_families (id) ON DELETE CASCADE,
    ADD COLUMN access_expires_at timestamptz;

-- The event that last changed an open shift's terms (`shift.updated`): `resume` re-sends
-- the new terms of held offers changed while a nurse was away.
ALTER TABLE shifts ADD COLUMN updated_seq bigint;

-- `resume` withdraws every shift closed since a client's last position within its reach.
CREATE INDEX shifts_closed_seq_idx ON shifts (closed_seq) WHERE closed_seq IS NOT NULL;
