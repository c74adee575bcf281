-- Bench only, `scripts/bench.sh recheck` (scripts/recheck-drive.sh): makes every approved
-- licence due for its registry re-check at once. Prints, tab-separated, how many were made
-- due and the time just before (re-checks at or after it are this run's).

SELECT count(*), now() FROM credentials WHERE status = 'approved' AND recheck_due_at IS NOT NULL;
UPDATE credentials SET recheck_due_at = now() - interval '1 second'
WHERE status = 'approved' AND recheck_due_at IS NOT NULL;
