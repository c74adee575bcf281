-- Bench only, `scripts/bench-timesheets.sh`: the payroll export's facility. Prints its id.
INSERT INTO facilities (id, name, address, location, timezone, state, geofence_m)
VALUES (gen_random_uuid(), 'Bench payroll facility', '1 Payroll Way, Sacramento',
        ST_SetSRID(ST_MakePoint(-121.45, 38.57), 4326)::geography, 'America/Los_Angeles', 'CA', 200)
RETURNING id;
