-- `scripts/chaos-postgres.sh` (`make chaos`), not a benchmark: every synthetic nurse
-- ('Bench nurse %', from `shiftwire-loadgen seed`) lives at facility :'facility' with a
-- 25 km radius, so each can claim the shifts posted there during the fault. A nurse without
-- a nurse_profiles row gets one (available, as the default is).
-- psql -v facility=UUID

INSERT INTO nurse_profiles AS p (nurse_id, home, max_distance_km)
SELECT u.id, f.location, 25 FROM users u, facilities f
WHERE u.name LIKE 'Bench nurse %' AND u.role = 'nurse' AND f.id = :'facility'
ON CONFLICT (nurse_id) DO UPDATE SET home = excluded.home, max_distance_km = excluded.max_distance_km;
