-- Bench only, `scripts/bench.sh recheck` (scripts/recheck-drive.sh): how many approved
-- licences the server has re-checked since :'started' (and scheduled again).
-- psql -v started=TIMESTAMP

SELECT count(*) FROM credentials
WHERE status = 'approved' AND registry_checked_at >= :'started' AND recheck_due_at > now();
