-- Reaching nurses whose app is closed (crates/notify): their devices, their notification
-- preferences, which nurses hold a socket on which node (shared presence), the planner's
-- position in the event stream, and the push jobs it plans (sent once, by any node).

CREATE TABLE devices (
    id          uuid PRIMARY KEY,
    nurse_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    platform    text NOT NULL CHECK (platform IN ('ios', 'android', 'web')),
    -- As the platform issued it; not a secret, but never logged in full.
    token       text NOT NULL UNIQUE CHECK (char_length(token) BETWEEN 8 AND 4096),
    -- The sign-in session (refresh family) that registered it: sign-out deletes it.
    session_id  uuid,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX devices_nurse ON devices (nurse_id);
CREATE INDEX devices_session ON devices (session_id);

CREATE TABLE notification_preferences (
    nurse_id              uuid PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    push_offers           boolean NOT NULL DEFAULT true,
    sms_urgent            boolean NOT NULL DEFAULT false,
    quiet_start           time,
    quiet_end             time,
    quiet_timezone        text,
    min_hourly_rate_cents integer CHECK (min_hourly_rate_cents BETWEEN 1 AND 100000),
    roles                 text[],
    updated_at            timestamptz NOT NULL DEFAULT now(),
    CHECK ((quiet_start IS NULL) = (quiet_end IS NULL) AND (quiet_start IS NULL) = (quiet_timezone IS NULL))
);

-- Nurses with an open socket, per node; refreshed every few seconds by each node, so a
-- crashed node's rows go stale and stop counting.
CREATE TABLE presence (
    nurse_id uuid NOT NULL,
    node_id  uuid NOT NULL,
    seen_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (nurse_id, node_id)
);
CREATE INDEX presence_node ON presence (node_id);

-- How far the push planner has read the event stream; one row, locked by the node
-- planning (the others wait their turn), moved in the transaction that writes the jobs.
CREATE TABLE push_cursor (
    name text PRIMARY KEY,
    seq  bigint NOT NULL
);
INSERT INTO push_cursor (name, seq) SELECT 'offers', COALESCE(max(id), 0) FROM outbox;

CREATE TABLE push_jobs (
    id          bigserial PRIMARY KEY,
    nurse_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- offer | digest | booking | urgent_sms
    kind        text NOT NULL CHECK (kind IN ('offer', 'digest', 'booking', 'urgent_sms')),
    shift_id    uuid,
    booking_id  uuid,
    -- For a digest: how many offers it folds in.
    count       integer NOT NULL DEFAULT 1,
    -- The event that caused it (its outbox position) and when that committed.
    source_seq  bigint NOT NULL,
    committed_at timestamptz NOT NULL DEFAULT now(),
    not_before  timestamptz NOT NULL DEFAULT now(),
    attempts    integer NOT NULL DEFAULT 0,
    locked_until timestamptz,
    sent_at     timestamptz,
    failed_at   timestamptz,
    last_error  text
);
CREATE INDEX push_jobs_due ON push_jobs (not_before, id) WHERE sent_at IS NULL AND failed_at IS NULL;
CREATE INDEX push_jobs_nurse ON push_jobs (nurse_id, kind, not_before DESC);
