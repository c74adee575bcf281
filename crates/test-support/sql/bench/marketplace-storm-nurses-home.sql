-- Bench only, `scripts/bench.sh marketplace`: the claim storms' nurses. The first
-- :claimants synthetic nurses (by id), available and not suspended, holding an approved RN
-- licence valid in :'state' (or multistate) well past the storm shifts' end, move home to
-- the storm facility :'facility', so each is within reach of each storm shift whatever her
-- radius. A nurse without a nurse_profiles row has the defaults (available, 25 km) and gets
-- one. Prints their ids.
-- psql -v facility=UUID -v state=XX -v claimants=N

WITH picked AS (
  SELECT u.id FROM users u LEFT JOIN nurse_profiles p ON p.nurse_id = u.id
  WHERE u.name LIKE 'Bench nurse %' AND u.role = 'nurse' AND u.suspended_at IS NULL
    AND coalesce(p.available, true)
    AND EXISTS (SELECT 1 FROM credentials c
                WHERE c.nurse_id = u.id AND c.kind = 'RN' AND c.status = 'approved'
                  AND (c.multistate OR c.issuing_state = :'state')
                  AND c.expires_on >= current_date + 30)
  ORDER BY u.id LIMIT :claimants)
INSERT INTO nurse_profiles AS p (nurse_id, home)
SELECT picked.id, f.location FROM picked, facilities f WHERE f.id = :'facility'
ON CONFLICT (nurse_id) DO UPDATE SET home = excluded.home
RETURNING p.nurse_id;
