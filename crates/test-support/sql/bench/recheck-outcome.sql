-- Bench only, `scripts/bench.sh recheck` (scripts/recheck-drive.sh): of the re-checks since
-- :'started', how many flagged a licence (`registry_changed`) and how many renewed one.
-- psql -v started=TIMESTAMP

SELECT count(*) FILTER (WHERE flagged_at >= :'started'),
       (SELECT count(*) FROM audit_log WHERE action = 'credential.renewed' AND at >= :'started')
FROM credentials WHERE status = 'approved';
