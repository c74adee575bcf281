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
        let mut tx = self.pool.begin().await?;
        let facts = nurse_facts(&mut tx, nurse_id).await?;
        let today = Utc::now().date_naive();
        let verified = facts
            .credentials
            .iter()
            .any(|c| c.kind.is_licence() && c.expires_on >= today);
        if facts.suspended || !verified || !facts.available {
            return Ok(Vec::new());
        }
        // Walk the spatial index nearest-first and stop at the page size (a KNN scan),
        // instead of collecting every shift in the radius and sorting them: with a
        // million open shifts a 50 km radius holds ~100,000. The planner cannot see that
        // the eligibility filters pass most rows early, so it is told.
        sqlx::query("SET LOCAL enable_bitmapscan = off")
            .execute(&mut *tx)
            .await?;
        let search = Search {
            nurse_id,
            query,
            radius_m: query.radius_km.min(facts.max_distance_km) * 1000.0,
        };
        let want = usize::try_from(query.limit).unwrap_or(usize::MAX);
        let mut rows = Vec::new();
        if let Some((after_d, after_id)) = query.after {
            // The rest of the cursor's group of equally distant shifts, by id.
            let mut ties = search.rows(&mut tx, None, Some(after_d), TIE_CAP).await?;
            ties.retain(|r| r.id > after_id);
            ties.sort_by_key(|r| r.id);
            rows = ties;
        }
        if rows.len() < want {
            let more = search
                .rows(&mut tx, query.after.map(|a| a.0), None, want - rows.len())
                .await?;
            rows.extend(more);
        }
        // Shifts at one facility are equally distant; the index returns them in no
        // particular order. Order each group by id, reading a group cut by the page's end
        // in full, so the `(distance, id)` cursor continues exactly where the page ends.
        if rows.len() >= want && want >= 2 && rows[want - 1].d == rows[want - 2].d {
            let d_last = rows[want - 1].d;
            let mut group = search.rows(&mut tx, None, Some(d_last), TIE_CAP).await?;
            if let Some((after_d, after_id)) = query.after {
                group.retain(|r| r.d != after_d || r.id > after_id);
            }
            rows.retain(|r| r.d != d_last);
            rows.extend(group);
        }
        rows.sort_by(|a, b| a.d.total_cmp(&b.d).then(a.id.cmp(&b.id)));
        rows.truncate(want);
        tx.commit().await?;

        let facility_ids: Vec<Uuid> = rows.iter().map(|r| r.facility_id).collect();
        let facilities = sqlx::query!(
            r#"SELECT id, name, ST_Y(location::geometry) AS "lat!", ST_X(location::geometry) AS "lon!"
               FROM facilities WHERE id = ANY($1)"#,
            &facility_ids
        )
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|r| {
                let f = facilities
                    .iter()
                    .find(|f| f.id == r.facility_id)
                    .ok_or(MatchingError::NotFound)?;
                Ok(NearbyShift {
                    id: r.id,
                    facility_id: r.facility_id,
                    facility_name: f.name.clone(),
                    facility_location: Coordinates::new(f.lat, f.lon)
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
                    distance_km: r.distance_m / 1000.0,
                    order_key: r.d,
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

/// Most equally distant shifts (one facility's) read as one group.
const TIE_CAP: usize = 1000;

struct Search<'a> {
    nurse_id: Uuid,
    query: &'a NearbyQuery,
    radius_m: f64,
}

struct Row {
    id: Uuid,
    facility_id: Uuid,
    role: String,
    starts_at: chrono::DateTime<Utc>,
    ends_at: chrono::DateTime<Utc>,
    hourly_rate_cents: i32,
    unit: String,
    required_certifications: Vec<String>,
    /// Great-circle distance (the index's order), the page order.
    d: f64,
    /// Geodesic distance on WGS 84, shown to the nurse.
    distance_m: f64,
}

impl Search<'_> {
    /// Eligible open shifts in the radius, nearest first: farther than `beyond`, or
    /// exactly at distance `at`. These filters are `shiftwire_core::eligibility` for
    /// every shift at once: a licence of the shift's role valid in its state (or
    /// multistate) and, like every required certification, valid through its end date;
    /// no overlapping booking.
    async fn rows(
        &self,
        conn: &mut sqlx::PgConnection,
        beyond: Option<f64>,
        at: Option<f64>,
        limit: usize,
    ) -> Result<Vec<Row>, MatchingError> {
        let point = self.query.point;
        let rows = sqlx::query_as!(
            Row,
            r#"SELECT s.id, s.facility_id, s.role, s.starts_at, s.ends_at, s.hourly_rate_cents,
                      s.unit, s.required_certifications,
                      s.location <-> ST_SetSRID(ST_MakePoint($2, $3), 4326)::geography AS "d!",
                      ST_Distance(s.location, ST_SetSRID(ST_MakePoint($2, $3), 4326)::geography)
                          AS "distance_m!"
               FROM shifts s
               WHERE s.status = 'open' AND s.starts_at > now()
                 AND ST_DWithin(s.location, ST_SetSRID(ST_MakePoint($2, $3), 4326)::geography, $4)
                 AND ($5::timestamptz IS NULL OR s.starts_at >= $5)
                 AND ($6::timestamptz IS NULL OR s.starts_at < $6)
                 AND ($7::text IS NULL OR s.role = $7)
                 AND ($8::float8 IS NULL
                      OR s.location <-> ST_SetSRID(ST_MakePoint($2, $3), 4326)::geography > $8)
                 AND ($9::float8 IS NULL
                      OR s.location <-> ST_SetSRID(ST_MakePoint($2, $3), 4326)::geography = $9)
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
               ORDER BY s.location <-> ST_SetSRID(ST_MakePoint($2, $3), 4326)::geography
               LIMIT $10"#,
            self.nurse_id,
            point.lon(),
            point.lat(),
            self.radius_m,
            self.query.from,
            self.query.to,
            self.query.role.map(|r| r.as_str()),
            beyond,
            at,
            i64::try_from(limit).unwrap_or(i64::MAX)
        )
        .fetch_all(conn)
        .await?;
        Ok(rows)
    }
}
