-- After the claim: the nurse on her way, the booking she never came to, and what a
-- facility owes when it cancels late.

-- `no_show`: nobody checked in by the deadline (crates/core/src/no_show.rs). The booking
-- no longer holds the shift (the unique index of live bookings leaves it out) nor the
-- nurse's time (nor does the overlap constraint).
ALTER TABLE bookings DROP CONSTRAINT bookings_status_check;
ALTER TABLE bookings ADD CONSTRAINT bookings_status_check
    CHECK (status IN ('booked', 'in_progress', 'completed', 'released', 'cancelled', 'no_show'));

ALTER TABLE bookings
    -- When she said she was on her way, and when she said she would arrive.
    ADD COLUMN on_the_way_at timestamptz,
    ADD COLUMN eta_at        timestamptz,
    ADD COLUMN no_show_at    timestamptz,
    -- Pay the facility owes for cancelling a booked shift less than 24 h before its start.
    ADD COLUMN late_cancel_pay_minutes integer NOT NULL DEFAULT 0
        CHECK (late_cancel_pay_minutes >= 0),
    ADD CONSTRAINT bookings_eta_with_on_the_way CHECK ((eta_at IS NULL) = (on_the_way_at IS NULL));

-- The no-show detector walks booked bookings by start: only those whose start has passed.
CREATE INDEX bookings_booked_start_idx ON bookings (lower(during)) WHERE status = 'booked';
-- Who did not come to a shift: eligibility reads it with every offer of the shift.
CREATE INDEX bookings_no_show_shift_idx ON bookings (shift_id) WHERE status = 'no_show';
-- The nurses who did not come to a shift (an offer's `excluded`): one definition for every
-- query that builds a shift's eligibility facts.
CREATE FUNCTION shift_no_shows(shift uuid) RETURNS uuid[]
    LANGUAGE sql STABLE
    RETURN ARRAY(SELECT b.nurse_id FROM bookings b
                 WHERE b.shift_id = shift AND b.status = 'no_show');

-- A shift that re-opened after its nurse did not come may be claimed after its start, until
-- an hour before its end (crates/core/src/no_show.rs). Otherwise a shift may be claimed
-- until its start.
ALTER TABLE shifts ADD COLUMN late_claim_until timestamptz;
