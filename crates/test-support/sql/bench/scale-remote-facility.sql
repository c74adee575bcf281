-- Bench only, `scripts/bench.sh realtime|scale`: a remote facility 'Bench remote facility
-- :name' at :lat, :lon (bench.sh picks spots more than 100 km from the seeded area and from
-- one another), for the target nurse or one fan-out group. Prints its id.
-- psql -v name=NAME -v lat=DEGREES -v lon=DEGREES

INSERT INTO facilities (id, name, address, location, timezone, state, geofence_m)
VALUES (gen_random_uuid(), 'Bench remote facility ' || :'name', '1 Remote Way',
        ST_SetSRID(ST_MakePoint(:lon, :lat), 4326)::geography, 'America/Los_Angeles', 'CA', 200)
RETURNING id;
