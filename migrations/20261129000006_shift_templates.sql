-- Saved shift templates of a facility (crates/matching): what a scheduler posts again and
-- again (role, times of day, rate, unit, certifications, handoff packet), by name.
CREATE TABLE shift_templates (
    id                      uuid PRIMARY KEY,
    facility_id             uuid NOT NULL REFERENCES facilities (id) ON DELETE CASCADE,
    name                    text NOT NULL CHECK (length(name) BETWEEN 1 AND 80),
    role                    text NOT NULL,
    -- Local wall-clock start (facility time zone) and length.
    start_time              time NOT NULL,
    duration_minutes        integer NOT NULL CHECK (duration_minutes BETWEEN 60 AND 1440),
    hourly_rate_cents       integer NOT NULL,
    unit                    text NOT NULL,
    required_certifications text[] NOT NULL DEFAULT '{}',
    handoff                 jsonb NOT NULL,
    created_by              uuid REFERENCES users (id) ON DELETE SET NULL,
    created_at              timestamptz NOT NULL DEFAULT now(),
    UNIQUE (facility_id, name)
);
COMMENT ON TABLE shift_templates IS 'Saved shift templates per facility (crates/matching).';
