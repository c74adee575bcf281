-- Bench only, `scripts/bench.sh marketplace`: the open RN shifts without required
-- certifications at the storm facility :'facility' that start at least an hour from now, in
-- order of start, with start and end in epoch seconds (bench.sh picks the storm shifts
-- among them, none overlapping another).
-- psql -v facility=UUID

SELECT id, extract(epoch FROM starts_at)::bigint, extract(epoch FROM ends_at)::bigint FROM shifts
WHERE facility_id = :'facility' AND status = 'open' AND role = 'RN'
  AND required_certifications = '{}' AND starts_at > now() + interval '1 hour'
ORDER BY starts_at, id;
