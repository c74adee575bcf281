-- Bench only, after `scripts/bench.sh realtime`: the server's offer log (written in batches
-- after delivery) of every shift posted at a group's facility (bench_groups, from
-- scale-groups-home.sql), per group: name, size, shifts posted, fewest and most nurses one
-- was offered to (every member of the group, all connected, is right) and offers to anyone
-- outside the group.

SELECT g.name, g.size, count(*), min(n), max(n), sum(wrong) FROM (
  SELECT s.facility_id, count(o.nurse_id) AS n,
         count(o.nurse_id) FILTER (WHERE o.nurse_id NOT IN (
           SELECT nurse_id FROM bench_groups b WHERE b.facility_id = s.facility_id)) AS wrong
  FROM shifts s LEFT JOIN offer_log o ON o.shift_id = s.id
  WHERE s.facility_id IN (SELECT facility_id FROM bench_groups) GROUP BY s.id) per_shift
JOIN (SELECT name, facility_id, count(*) AS size FROM bench_groups GROUP BY name, facility_id) g
  USING (facility_id)
GROUP BY g.name, g.size ORDER BY g.size;
