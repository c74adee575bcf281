use crate::{Matching, MatchingError, NearbyQuery, NearbyShift, claims::nurse_facts, stored};
use chrono::Utc;
use shiftwire_core::Coordinates;
use uuid::Uuid;

impl Matching {
    /// Open shifts near `query.point` that `nurse_id` is eligible for, nearest first.
    ///
    /// The SQL filters are the eligibility rule of `shiftwire_core::eligibility` applied
    /// to every shift at once (role licence valid in the facility's state or multistate,
    /// licence and required certifications valid through the shift's end, no overlapping
    /// booking); the account-level rules (verified, available) are checked first, here.
    pub async fn nearby(
        &self,
        nurse_id: Uuid,
        query: &NearbyQuery,
    ) -> Result<Vec<NearbyShift>, MatchingError> {
        let mut conn = self.pool.acquire().await?;
        let facts = nurse_facts(&mut conn, nurse_id).await?;
        let today = Utc::now().date_naive();
        let verified = facts
            .credentials
            .iter()
            .any(|c| c.kind.is_licence() && c.expires_on >= today);
        if facts.suspended || !verified || !facts.available {
            return Ok(Vec::new());
        }
        let radius_km = query.radius_km.min(facts.max_distance_km);
        let (after_km, after_id) = query.after.unzip();
        let rows = sqlx::query!(
            r#"WITH q AS (SELECT ST_SetSRID(ST_MakePoint($2, $3), 4326)::geography AS point)
               SELECT s.id, s.facility_id, f.name AS facility_name,
                      ST_Y(f.location::geometry) AS "lat!", ST_X(f.location::geometry) AS "lon!",
                      s.role, s.starts_at, s.ends_at, s.hourly_rate_cents, s.unit,
                      s.required_certifications,
                      ST_Distance(s.location, q.point) / 1000.0 AS "distance_km!"
               FROM shifts s
               JOIN facilities f ON f.id = s.facility_id
               CROSS JOIN q
               WHERE s.status = 'open' AND s.starts_at > now()
                 AND ST_DWithin(s.location, q.point, $4)
                 AND ($5::timestamptz IS NULL OR s.starts_at >= $5)
                 AND ($6::timestamptz IS NULL OR s.starts_at < $6)
                 AND ($7::text IS NULL OR s.role = $7)
                 AND EXISTS (
                     SELECT 1 FROM credentials c
                     WHERE c.nurse_id = $1 AND c.status = 'approved' AND c.kind = s.role
                       AND (c.multistate OR c.issuing_state = s.facility_state)
                       AND c.expires_on >= (s.ends_at AT TIME ZONE 'UTC')::date)
                 AND NOT EXISTS (
                     SELECT 1 FROM unnest(s.required_certifications) AS required(kind)
                     WHERE NOT EXISTS (
                         SELECT 1 FROM credentials c
                         WHERE c.nurse_id = $1 AND c.status = 'approved' AND c.kind = required.kind
                           AND c.expires_on >= (s.ends_at AT TIME ZONE 'UTC')::date))
                 AND NOT EXISTS (
                     SELECT 1 FROM bookings b
                     WHERE b.nurse_id = $1 AND b.status IN ('booked', 'in_progress')
                       AND b.during && tstzrange(s.starts_at, s.ends_at))
                 AND ($8::float8 IS NULL
                      OR (ST_Distance(s.location, q.point) / 1000.0, s.id) > ($8, $9))
               ORDER BY 12, s.id
               LIMIT $10"#,
            nurse_id,
            query.point.lon(),
            query.point.lat(),
            radius_km * 1000.0,
            query.from,
            query.to,
            query.role.map(|r| r.as_str()),
            after_km,
            after_id,
            query.limit
        )
        .fetch_all(&mut *conn)
        .await?;
        rows.into_iter()
            .map(|r| {
                Ok(NearbyShift {
                    id: r.id,
                    facility_id: r.facility_id,
                    facility_name: r.facility_name,
                    facility_location: Coordinates::new(r.lat, r.lon)
                        .map_err(|e| MatchingError::Invalid(e.to_string()))?,
                    role: stored(&r.role, "role")?,
                    starts_at: r.starts_at,
                    ends_at: r.ends_at,
                    hourly_rate_cents: r.hourly_rate_cents,
                    unit: r.unit,
                    required_certifications: r
                        .required_certifications
                        .iter()
                        .map(|c| stored(c, "certification"))
                        .collect::<Result<_, _>>()?,
                    distance_km: r.distance_km,
                })
            })
            .collect()
    }

    /// The nurse's default search point: home (live locations arrive with the real-time
    /// layer). `None` when they have set none.
    pub async fn default_search_point(
        &self,
        nurse_id: Uuid,
    ) -> Result<Option<Coordinates>, MatchingError> {
        let mut conn = self.pool.acquire().await?;
        Ok(nurse_facts(&mut conn, nurse_id).await?.position)
    }
}
