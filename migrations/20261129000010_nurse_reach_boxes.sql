-- Finding the nurses who may be matched from a shift's place, for pushes to nurses whose
-- app is closed, at a cost that follows the nurses who can reach it rather than every
-- nurse in a wide circle: each nurse's reach (her home, or her live location, and her own
-- max_distance_km) as a box in degrees a little larger than the circle, indexed; a lookup
-- is the boxes that hold the shift's place, then the exact geodesic distance.
CREATE FUNCTION reach_box(at geography, km double precision) RETURNS geometry
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE WHEN at IS NULL THEN NULL ELSE
    ST_MakeEnvelope(
      ST_X(at::geometry) - dlon, ST_Y(at::geometry) - dlat,
      ST_X(at::geometry) + dlon, ST_Y(at::geometry) + dlat, 4326)
  END
  FROM (SELECT km / 110.0 * 1.05 AS dlat,
               km / (111.0 * greatest(cos(radians(least(abs(ST_Y(at::geometry)) + km / 110.0, 89.0))), 0.01)) * 1.05 AS dlon) AS d
$$;

ALTER TABLE nurse_profiles
    ADD COLUMN home_reach geometry(Polygon, 4326)
        GENERATED ALWAYS AS (reach_box(home, max_distance_km)) STORED,
    ADD COLUMN live_reach geometry(Polygon, 4326)
        GENERATED ALWAYS AS (reach_box(live_location, max_distance_km)) STORED;
CREATE INDEX nurse_profiles_home_reach_gix ON nurse_profiles USING gist (home_reach);
CREATE INDEX nurse_profiles_live_reach_gix ON nurse_profiles USING gist (live_reach);
DROP INDEX nurse_profiles_home_gix;
DROP INDEX nurse_profiles_live_gix;
