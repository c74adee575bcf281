-- Bench only, `scripts/bench.sh realtime|scale`: the target nurse and the fan-out groups.
-- The first :total synthetic nurses (by id), available and not suspended, holding an
-- approved RN licence valid in CA (or multistate) well past the posted shifts, are dealt
-- out in order to the groups :'names' of :'sizes' nurses at the facilities :'facilities'
-- (table bench_groups, which the offer-log check reads after the run) and homed at their
-- group's facility. A nurse without a nurse_profiles row has the defaults (available,
-- 25 km) and gets one. Prints name, facility and nurse of each, tab-separated with -F.
-- psql -v total=N -v names='{target,fanout-100}' -v facilities='{UUID,UUID}' -v sizes='{1,100}'

CREATE TABLE bench_groups AS
WITH picked AS (
  SELECT u.id, row_number() OVER (ORDER BY u.id) AS k
  FROM users u LEFT JOIN nurse_profiles p ON p.nurse_id = u.id
  WHERE u.name LIKE 'Bench nurse %' AND u.role = 'nurse' AND u.suspended_at IS NULL
    AND coalesce(p.available, true)
    AND EXISTS (SELECT 1 FROM credentials c
                WHERE c.nurse_id = u.id AND c.kind = 'RN' AND c.status = 'approved'
                  AND (c.multistate OR c.issuing_state = 'CA') AND c.expires_on >= current_date + 60)
  ORDER BY u.id LIMIT :total),
groups AS (
  SELECT name, facility_id, size, sum(size) OVER (ORDER BY i) AS hi
  FROM unnest(:'names'::text[], :'facilities'::uuid[], :'sizes'::int[])
         WITH ORDINALITY AS g (name, facility_id, size, i))
SELECT g.name, g.facility_id, p.id AS nurse_id, p.k
FROM picked p JOIN groups g ON p.k BETWEEN g.hi - g.size + 1 AND g.hi;

INSERT INTO nurse_profiles AS p (nurse_id, home)
SELECT g.nurse_id, f.location FROM bench_groups g JOIN facilities f ON f.id = g.facility_id
ON CONFLICT (nurse_id) DO UPDATE SET home = excluded.home;

SELECT name, facility_id, nurse_id FROM bench_groups ORDER BY k;
