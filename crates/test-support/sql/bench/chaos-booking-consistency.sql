-- `scripts/chaos-postgres.sh` (`make chaos`), not a benchmark: is anything half-done after
-- PostgreSQL was stopped during traffic? Prints, space-separated with -F ' ': booked shifts
-- without exactly one live booking, live bookings on a shift that is not booked, booked
-- shifts without their `shift.booked` event in the outbox, and booked shifts in all.

SELECT
  (SELECT count(*) FROM shifts s WHERE s.status = 'booked'
     AND (SELECT count(*) FROM bookings b WHERE b.shift_id = s.id AND b.status IN ('booked','in_progress')) <> 1),
  (SELECT count(*) FROM bookings b JOIN shifts s ON s.id = b.shift_id
     WHERE b.status IN ('booked','in_progress') AND s.status NOT IN ('booked','in_progress')),
  (SELECT count(*) FROM shifts s WHERE s.status = 'booked'
     AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.topic = 'shift.booked' AND o.payload->>'shift_id' = s.id::text)),
  (SELECT count(*) FROM shifts s WHERE s.status = 'booked');
