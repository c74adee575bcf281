-- Bench only, `scripts/bench-timesheets.sh`: :rows approved timesheets at facility
-- :facility, owned by scheduler :owner, worked by :nurses synthetic nurses (one 8-hour
-- shift a day each, from 2026-01-01, so no nurse's bookings overlap), every one approved.
-- :rows must be a multiple of :nurses. Writes straight into the tables: never run it
-- against real data.
BEGIN;
CREATE TEMP TABLE bench_nurses ON COMMIT DROP AS
SELECT gen_random_uuid() AS id, n FROM generate_series(1, :nurses) AS n;
INSERT INTO users (id, role, phone, name)
SELECT id, 'nurse', '+1916' || lpad(n::text, 7, '0'), 'Bench Nurse ' || n FROM bench_nurses;

CREATE TEMP TABLE bench_work ON COMMIT DROP AS
SELECT gen_random_uuid() AS shift_id, gen_random_uuid() AS booking_id,
       gen_random_uuid() AS timesheet_id, bn.id AS nurse_id,
       timestamptz '2026-01-01 07:00:00+00' + d * interval '1 day' AS starts_at
FROM bench_nurses bn CROSS JOIN generate_series(0, :rows / :nurses - 1) AS d;

INSERT INTO shifts (id, facility_id, owner_id, role, starts_at, ends_at, hourly_rate_cents,
                    unit, handoff, status, location, facility_state)
SELECT w.shift_id, f.id, :'owner', 'RN', w.starts_at, w.starts_at + interval '8 hours', 6500,
       '4 West, Med-Surg',
       '{"report_to": "Charge nurse", "arrival_instructions": "Staff entrance", "exceptions": []}'::jsonb,
       'completed', f.location, f.state
FROM bench_work w CROSS JOIN facilities f WHERE f.id = :'facility';

INSERT INTO bookings (id, shift_id, nurse_id, during, status, checked_in_at, checked_out_at,
                      worked_minutes)
SELECT booking_id, shift_id, nurse_id, tstzrange(starts_at, starts_at + interval '8 hours'),
       'completed', starts_at, starts_at + interval '8 hours', 480
FROM bench_work;

INSERT INTO timesheets (id, booking_id, facility_id, nurse_id, clock_in, clock_out,
                        break_minutes, worked_minutes, status, submitted_at, decided_at)
SELECT timesheet_id, booking_id, :'facility', nurse_id, starts_at, starts_at + interval '8 hours',
       30, 450, 'approved', starts_at + interval '8 hours', starts_at + interval '10 hours'
FROM bench_work;
COMMIT;
ANALYZE shifts, bookings, timesheets, users;
SELECT count(*) FROM timesheets WHERE facility_id = :'facility' AND status = 'approved';
