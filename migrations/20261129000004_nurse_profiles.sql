-- Each room owns its tables: `users` is the accounts of crates/auth (how one signs in, the
-- display name, suspension); where a nurse is matched from and how far she goes is the
-- marketplace's (crates/matching), so it moves to a table of its own. A nurse without a
-- row has the defaults (no home, 25 km, available).

CREATE TABLE nurse_profiles (
    nurse_id         uuid PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    home             geography(Point, 4326),
    max_distance_km  double precision NOT NULL DEFAULT 25
        CHECK (max_distance_km >= 1 AND max_distance_km <= 200),
    available        boolean NOT NULL DEFAULT true,
    -- The last live position reported over the WebSocket; used for 15 minutes.
    live_location    geography(Point, 4326),
    live_location_at timestamptz
);

INSERT INTO nurse_profiles (nurse_id, home, max_distance_km, available, live_location,
                            live_location_at)
SELECT id, home, max_distance_km, available, live_location, live_location_at
FROM users WHERE role = 'nurse';

ALTER TABLE users
    DROP COLUMN home,
    DROP COLUMN max_distance_km,
    DROP COLUMN available,
    DROP COLUMN live_location,
    DROP COLUMN live_location_at;

-- Who was offered which opening belongs to the marketplace too (the unfilled alert and
-- the portal count it); the real-time layer writes it through the marketplace.
COMMENT ON TABLE offer_log IS
    'Offers made, by nurse and opening (crates/matching; written for crates/notify).';
