-- Attendance (crates/core/src/attendance.rs): every point a nurse's bookings earned or
-- cost, with the reason she reads. At most one event per booking and cause, enforced
-- here: a retried release or check-out can never count twice.
CREATE TABLE attendance_events (
    id          uuid PRIMARY KEY,
    nurse_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    booking_id  uuid NOT NULL REFERENCES bookings (id) ON DELETE CASCADE,
    cause       text NOT NULL CHECK (cause IN ('release', 'no_show', 'worked')),
    points      integer NOT NULL CHECK (points BETWEEN -100 AND 100),
    reason      text NOT NULL,
    at          timestamptz NOT NULL,
    UNIQUE (booking_id, cause)
);
CREATE INDEX attendance_events_nurse ON attendance_events (nurse_id, at, id);
