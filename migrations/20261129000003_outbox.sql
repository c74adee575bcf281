-- The outbox crate's tables (crates/outbox): domain events and the audit log, both written
-- inside the transaction of what they record. They were created by earlier migrations
-- (verification's); this file states them as the outbox crate owns them. On a database
-- that already has them it changes nothing but the comments.

CREATE TABLE IF NOT EXISTS outbox (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    topic       text NOT NULL,
    user_id     uuid,
    facility_id uuid,
    payload     jsonb NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS outbox_created_at ON outbox (created_at);
COMMENT ON TABLE outbox IS
    'Domain events in commit order (crates/outbox): the id is every frame''s seq; kept a day.';

CREATE TABLE IF NOT EXISTS audit_log (
    id           uuid PRIMARY KEY,
    at           timestamptz NOT NULL DEFAULT now(),
    actor_id     uuid REFERENCES users (id),
    action       text NOT NULL,
    subject_type text NOT NULL,
    subject_id   uuid NOT NULL,
    reason       text,
    details      jsonb NOT NULL DEFAULT '{}'
);
COMMENT ON TABLE audit_log IS
    'Every decision and document view (crates/outbox::audit); append-only by trigger.';
