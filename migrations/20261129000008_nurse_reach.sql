-- Finding the nurses who may be matched from near a shift (crates/matching), for pushes
-- to nurses whose app is closed: by home, and by a recent live location.
CREATE INDEX nurse_profiles_home_gix ON nurse_profiles USING gist (home);
CREATE INDEX nurse_profiles_live_gix ON nurse_profiles USING gist (live_location);
