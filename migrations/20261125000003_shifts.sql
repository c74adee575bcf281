-- Shifts, bookings, unfilled-shift escalations and idempotency keys.

ALTER TABLE outbox ADD COLUMN facility_id uuid;

CREATE TABLE shifts (
    id                      uuid PRIMARY KEY,
    facility_id             uuid NOT NULL REFERENCES facilities (id),
    -- Who decides about this shift: the scheduler who posted it unless reassigned.
    owner_id                uuid NOT NULL REFERENCES users (id),
    role                    text NOT NULL CHECK (role IN ('RN', 'LPN', 'CNA', 'NP')),
    starts_at               timestamptz NOT NULL,
    ends_at                 timestamptz NOT NULL,
    hourly_rate_cents       integer NOT NULL CHECK (hourly_rate_cents BETWEEN 1 AND 100000),
    required_certifications text[] NOT NULL DEFAULT '{}'
        CHECK (required_certifications <@ ARRAY['BLS', 'ACLS', 'PALS']),
    unit                    text NOT NULL CHECK (char_length(unit) BETWEEN 1 AND 100),
    -- report_to, arrival_instructions, parking, unit_notes, exceptions.
    handoff                 jsonb NOT NULL,
    handoff_version         integer NOT NULL DEFAULT 1 CHECK (handoff_version >= 1),
    status                  text NOT NULL DEFAULT 'open'
        CHECK (status IN ('open', 'booked', 'in_progress', 'completed', 'cancelled')),
    -- Copies of the facility's location and state, so nearby search reads one table.
    location                geography(Point, 4326) NOT NULL,
    facility_state          text NOT NULL,
    offered_count           integer NOT NULL DEFAULT 0,
    release_count           integer NOT NULL DEFAULT 0,
    escalated_at            timestamptz,
    cancel_reason           text,
    created_at              timestamptz NOT NULL DEFAULT now(),
    updated_at              timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT shifts_window CHECK (ends_at > starts_at AND ends_at - starts_at <= interval '24 hours')
);
CREATE INDEX shifts_open_location_gix ON shifts USING gist (location) WHERE status = 'open';
CREATE INDEX shifts_facility_start_idx ON shifts (facility_id, starts_at, id);
CREATE INDEX shifts_unescalated_idx ON shifts (starts_at) WHERE status = 'open' AND escalated_at IS NULL;

CREATE TABLE bookings (
    id                       uuid PRIMARY KEY,
    shift_id                 uuid NOT NULL REFERENCES shifts (id),
    nurse_id                 uuid NOT NULL REFERENCES users (id),
    during                   tstzrange NOT NULL,
    status                   text NOT NULL DEFAULT 'booked'
        CHECK (status IN ('booked', 'in_progress', 'completed', 'released', 'cancelled')),
    handoff_acknowledged_version integer,
    checked_in_at            timestamptz,
    checked_out_at           timestamptz,
    worked_minutes           integer,
    release_reason           text,
    released_at              timestamptz,
    created_at               timestamptz NOT NULL DEFAULT now(),
    -- A nurse is never booked twice at the same time, however the claims race.
    CONSTRAINT bookings_no_overlap EXCLUDE USING gist (nurse_id WITH =, during WITH &&)
        WHERE (status IN ('booked', 'in_progress'))
);
-- At most one live booking per shift: the last line of defence behind the conditional update.
CREATE UNIQUE INDEX bookings_one_live_per_shift ON bookings (shift_id)
    WHERE status IN ('booked', 'in_progress', 'completed');
CREATE INDEX bookings_nurse_idx ON bookings (nurse_id, created_at);

-- Replays of mutating requests a flaky mobile network may retry.
CREATE TABLE idempotency_keys (
    user_id      uuid NOT NULL,
    key          text NOT NULL,
    request_hash bytea NOT NULL,
    -- NULL while the first request is still running.
    status       integer,
    content_type text,
    body         bytea,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, key)
);
CREATE INDEX idempotency_keys_created_idx ON idempotency_keys (created_at);
