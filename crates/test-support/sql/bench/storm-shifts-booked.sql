-- Bench only, after `scripts/bench.sh marketplace`: how many of the stormed shifts are
-- `booked`, as "<booked> of <stormed>".
-- psql -v shifts='{UUID,UUID}'

SELECT count(*) FILTER (WHERE status = 'booked') || ' of ' || count(*)
FROM shifts WHERE id = ANY (:'shifts'::uuid[]);
