-- Bench only, `scripts/bench.sh marketplace`: the seeded Californian facility with the most
-- open RN shifts that require no certification and start at least an hour from now (the
-- claim storms' facility). California, because most synthetic licences are Californian: a
-- Nevada facility would have too few nurses licensed for it. Prints its id and state.

SELECT s.facility_id, s.facility_state FROM shifts s JOIN facilities f ON f.id = s.facility_id
WHERE f.name LIKE 'Bench facility %' AND f.state = 'CA' AND s.status = 'open' AND s.role = 'RN'
  AND s.required_certifications = '{}' AND s.starts_at > now() + interval '1 hour'
GROUP BY s.facility_id, s.facility_state ORDER BY count(*) DESC, s.facility_id LIMIT 1;
