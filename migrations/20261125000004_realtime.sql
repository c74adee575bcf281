-- The real-time layer: live locations, the stream position of each shift's opening and
-- closing, the log of who was offered what (for resume and for escalations), and
-- single-use WebSocket tickets.

-- A nurse's live position, reported over the WebSocket; used for 15 minutes.
ALTER TABLE users
    ADD COLUMN live_location    geography(Point, 4326),
    ADD COLUMN live_location_at timestamptz;

-- Outbox ids are assigned in commit order (record_events serialises the insert under an
-- advisory lock), so they are one stream position every node agrees on.
-- opened_seq: the event that opened the shift most recently (its offers carry it).
-- closed_seq: the event that last booked or cancelled it (its withdrawals carry it).
ALTER TABLE shifts
    ADD COLUMN opened_seq    bigint,
    ADD COLUMN closed_seq    bigint,
    ADD COLUMN closed_reason text CHECK (closed_reason IN ('booked', 'cancelled'));
CREATE INDEX shifts_open_by_opened_seq ON shifts (opened_seq) WHERE status = 'open';

-- Who was offered which opening. Written after delivery, in batches; read by resume
-- (to withdraw offers that closed while a nurse was away) and by the unfilled alert.
CREATE TABLE offer_log (
    nurse_id   uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    seq        bigint      NOT NULL,
    shift_id   uuid        NOT NULL REFERENCES shifts (id) ON DELETE CASCADE,
    offered_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (nurse_id, seq)
);
CREATE INDEX offer_log_shift ON offer_log (shift_id);
CREATE INDEX offer_log_offered_at ON offer_log (offered_at);

-- The shift column is superseded by the log (distinct nurses offered).
ALTER TABLE shifts DROP COLUMN offered_count;

-- Single-use WebSocket tickets for clients that cannot set headers. Only a hash is kept.
CREATE TABLE ws_tickets (
    ticket_hash bytea       PRIMARY KEY,
    user_id     uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz
);
CREATE INDEX ws_tickets_expires_at ON ws_tickets (expires_at);

CREATE INDEX outbox_created_at ON outbox (created_at);
