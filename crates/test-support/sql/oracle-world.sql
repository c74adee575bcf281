-- The world as the delivery oracle of `shiftwire-loadgen scale` sees it: one tab-separated
-- line per nurse (N), approved credential (C), current booking (B) and facility (F). A
-- nurse's last field says a live location reported in the last 15 minutes counts instead
-- of home (the oracle does not judge such a nurse).
-- `scripts/bench.sh scale` runs it with psql after its set-up; load-tests/tests/oracle_smoke.rs runs
-- it with sqlx. Floats print in their shortest exact form (PostgreSQL 12+).
SELECT line FROM (
  SELECT 1 AS k, concat_ws(E'\t', 'N', u.id, ST_Y(p.home::geometry), ST_X(p.home::geometry),
                           p.max_distance_km, p.available, u.suspended_at IS NOT NULL,
                           coalesce(p.live_location_at > now() - interval '15 minutes', false)) AS line
  FROM users u JOIN nurse_profiles p ON p.nurse_id = u.id
  WHERE u.role = 'nurse' AND p.home IS NOT NULL
  UNION ALL
  SELECT 2, concat_ws(E'\t', 'C', nurse_id, kind, coalesce(issuing_state, '-'), multistate, expires_on)
  FROM credentials WHERE status = 'approved'
  UNION ALL
  SELECT 3, concat_ws(E'\t', 'B', nurse_id, extract(epoch FROM lower(during)), extract(epoch FROM upper(during)))
  FROM bookings WHERE status IN ('booked', 'in_progress')
  UNION ALL
  SELECT 4, concat_ws(E'\t', 'F', id, ST_Y(location::geometry), ST_X(location::geometry), state)
  FROM facilities
) world ORDER BY k, line
