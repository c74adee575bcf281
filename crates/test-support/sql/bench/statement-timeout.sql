-- Bench only, `scripts/bench.sh marketplace|realtime|scale`: no statement may outlive a
-- request by much, so a pathological plan is cut off (the server answers 500) instead of
-- running on in PostgreSQL after the run ended. For new connections to database :"db".
-- psql -v db=NAME -v timeout=DURATION

ALTER DATABASE :"db" SET statement_timeout = :'timeout';
