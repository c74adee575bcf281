-- Timesheets (crates/core/src/timesheet.rs): the hours a check-out submits, what the
-- facility decides about them, the nurse's dispute and the admin's resolution.

-- The break a facility deducts from a checked-out shift unless someone records another.
ALTER TABLE facilities ADD COLUMN default_break_minutes integer NOT NULL DEFAULT 30
    CHECK (default_break_minutes BETWEEN 0 AND 480);

CREATE TABLE timesheets (
    id             uuid PRIMARY KEY,
    -- One timesheet per booking, whoever checks out twice.
    booking_id     uuid NOT NULL UNIQUE REFERENCES bookings (id) ON DELETE CASCADE,
    -- The booking's facility and nurse, kept here for the lists and their tenancy.
    facility_id    uuid NOT NULL REFERENCES facilities (id) ON DELETE CASCADE,
    nurse_id       uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    clock_in       timestamptz NOT NULL,
    clock_out      timestamptz NOT NULL,
    break_minutes  integer NOT NULL CHECK (break_minutes BETWEEN 0 AND 480),
    worked_minutes integer NOT NULL CHECK (worked_minutes >= 0),
    status         text NOT NULL
        CHECK (status IN ('submitted', 'approved', 'adjusted', 'disputed', 'rejected')),
    submitted_at   timestamptz NOT NULL,
    -- The facility's (or the auto-approval's, or the admin's) last decision: an adjustment
    -- or a rejection opens the nurse's 48-hour dispute window from here.
    decided_at     timestamptz,
    -- Every step, oldest first: { at, actor_id, actor_role, action, status, clock_in,
    -- clock_out, break_minutes, worked_minutes, reason }. The audit log holds the same
    -- steps with their before and after.
    history        jsonb NOT NULL DEFAULT '[]'::jsonb CHECK (jsonb_typeof(history) = 'array'),
    CHECK (clock_out >= clock_in)
);

-- A facility's timesheets by status, in the order they were submitted.
CREATE INDEX timesheets_facility_idx ON timesheets (facility_id, submitted_at, id);
CREATE INDEX timesheets_nurse_idx ON timesheets (nurse_id, submitted_at, id);
-- The auto-approval walks submitted timesheets by age.
CREATE INDEX timesheets_submitted_idx ON timesheets (submitted_at) WHERE status = 'submitted';
