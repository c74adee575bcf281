-- Bench only, `scripts/bench.sh realtime|scale`: the scheduler :'email' (who posts the
-- scenario's shifts) is made a scheduler of every facility, the seeded and the remote ones.
-- psql -v email=EMAIL

INSERT INTO staff_facilities (user_id, facility_id)
SELECT u.id, f.id FROM users u, facilities f WHERE u.email = :'email'
ON CONFLICT DO NOTHING;
