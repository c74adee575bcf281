-- Bench only, after `scripts/bench.sh marketplace|scale`: the database's own count of each
-- stormed shift's bookings (exactly 1 each is right), in the order given, comma-separated.
-- psql -v shifts='{UUID,UUID}'

SELECT string_agg(n::text, ', ' ORDER BY k) FROM (
  SELECT k, (SELECT count(*) FROM bookings b WHERE b.shift_id = s.id) AS n
  FROM unnest(:'shifts'::uuid[]) WITH ORDINALITY AS s (id, k)) per_shift;
