use crate::{Matching, MatchingError, NearbyQuery, NearbyShift, book::BookSearch, geo_sql};
use chrono::{NaiveDate, Utc};
use shiftwire_core::{Coordinates, eligibility::HeldCredential};
use uuid::Uuid;

impl Matching {
    /// Open shifts near `query.point` that `nurse_id` is eligible for, nearest first by
    /// `(order_key, id)`, after the query's cursor.
    ///
    /// Read from the node's book of open shifts ([`crate::ShiftBook`]) once it is loaded:
    /// the nurse's facts are read from the database, the shifts are not. Until then, and as
    /// the reference the book is tested against, from PostGIS ([`Self::nearby_in_postgis`]).
    pub async fn nearby(
        &self,
        nurse_id: Uuid,
        query: &NearbyQuery,
    ) -> Result<Vec<NearbyShift>, MatchingError> {
        // The book is read once loaded and caught up with what this node committed; a
        // dispatcher that far behind is rare, and PostGIS answers meanwhile.
        if !self.book.is_ready() || !self.book.caught_up(BOOK_WAIT).await {
            metrics::counter!("nearby_searches_total", "read" => "postgis").increment(1);
            return self.nearby_in_postgis(nurse_id, query).await;
        }
        metrics::counter!("nearby_searches_total", "read" => "book").increment(1);
        self.nearby_in_book(nurse_id, query).await
    }

    /// [`Self::nearby`] from the book of open shifts, loaded or not.
    pub async fn nearby_in_book(
        &self,
        nurse_id: Uuid,
        query: &NearbyQuery,
    ) -> Result<Vec<NearbyShift>, MatchingError> {
        let facts = {
            let mut conn = self.pool.acquire().await?;
            self.nurse_facts(&mut conn, nurse_id).await?
        };
        let now = self.clock.now();
        let point = query
            .point
            .or(facts.position)
            .ok_or(MatchingError::NoSearchPoint)?;
        // The rule in `shiftwire_core::eligibility` decides every shift; the account-level
        // rules refuse them all at once, so the walk is skipped.
        if facts.position.is_none() || facts.suspended || !facts.available {
            return Ok(Vec::new());
        }
        Ok(self.book.search(&BookSearch {
            nurse: &facts,
            query,
            point,
            radius_m: query.radius_km.min(facts.max_distance_km) * 1000.0,
            want: usize::try_from(query.limit).unwrap_or(usize::MAX),
            now,
        }))
    }

    /// [`Self::nearby`] in PostGIS: what nearby search reads before the book is loaded,
    /// and the reference the book is tested against.
    ///
    /// The SQL filters are the eligibility rule of `shiftwire_core::eligibility` applied
    /// to every shift at once (role licence valid in the facility's state or multistate,
    /// licence and required certifications valid through the shift's end, no overlapping
    /// booking); the account-level rules (verified, available) are checked first, here.
    pub async fn nearby_in_postgis(
        &self,
        nurse_id: Uuid,
        query: &NearbyQuery,
    ) -> Result<Vec<NearbyShift>, MatchingError> {
        let mut tx = self.pool.begin().await?;
        let facts = self.nurse_facts(&mut tx, nurse_id).await?;
        let today = Utc::now().date_naive();
        let verified = facts
            .credentials
            .iter()
            .any(|c| c.kind.is_licence() && c.expires_on >= today);
        let point = query
            .point
            .or(facts.position)
            .ok_or(MatchingError::NoSearchPoint)?;
        // Results must be claimable: within the nurse's own radius of where she is matched
        // from (live location, else home), whatever point she searches around.
        let Some(matched_from) = facts.position else {
            return Ok(Vec::new());
        };
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
        let radius_m = query.radius_km.min(facts.max_distance_km) * 1000.0;
        let search = Search {
            nurse_id,
            held: Held::of(&facts.credentials),
            query,
            point,
            matched_from,
            reach_m: facts.max_distance_km * 1000.0,
            now: self.clock.now(),
            restricted: facts
                .restricted_until
                .is_some_and(|until| self.clock.now() < until),
        };
        let want = usize::try_from(query.limit).unwrap_or(usize::MAX);
        let after_d = query.after.map(|a| a.0);
        // Step 1, nearest-first through the index until a page is found: how far the page
        // reaches. Step 2, everything eligible up to that distance (a small set: the page
        // plus any shifts equally far, i.e. at the same facility), ordered by (distance,
        // id), so the `(distance, id)` cursor continues exactly where the page ends.
        let probe = search
            .rows(
                &mut tx,
                Bounds {
                    beyond: after_d,
                    from: None,
                    to: None,
                    radius_m,
                },
                want,
            )
            .await?;
        let reach = if probe.len() < want {
            None
        } else {
            probe.last().map(|r| r.d)
        };
        let mut rows = match reach {
            // The probe holds all that is left.
            None if after_d.is_none() => probe,
            _ => {
                let bounds = Bounds {
                    beyond: None,
                    from: after_d,
                    to: reach,
                    // Great-circle and geodesic distances differ by < 0.6 %: a 1 % wider
                    // geodesic radius holds every shift up to `reach`.
                    radius_m: reach.map_or(radius_m, |d| radius_m.min(d * 1.01 + 1.0)),
                };
                search.rows(&mut tx, bounds, want + TIE_CAP).await?
            }
        };
        if let Some((after_d, after_id)) = query.after {
            rows.retain(|r| r.d > after_d || (r.d == after_d && r.id > after_id));
        }
        rows.sort_by(|a, b| a.d.total_cmp(&b.d).then(a.id.cmp(&b.id)));
        rows.truncate(want);
        tx.commit().await?;

        let facility_ids: Vec<Uuid> = rows.iter().map(|r| r.facility_id).collect();
        let facilities = sqlx::query!(
            r#"SELECT id, name, location::geometry AS "location!: geo_sql::Wkb"
               FROM facilities WHERE id = ANY($1)"#,
            &facility_ids
        )
        .fetch_all(&self.pool)
        .await?;
        let facilities: std::collections::HashMap<Uuid, (String, Coordinates)> = facilities
            .into_iter()
            .map(|f| Ok((f.id, (f.name, geo_sql::from_sql(f.location)?))))
            .collect::<Result<_, MatchingError>>()?;
        rows.into_iter()
            .map(|r| {
                let (name, location) = facilities
                    .get(&r.facility_id)
                    .ok_or(MatchingError::NotFound)?;
                Ok(NearbyShift {
                    id: r.id,
                    facility_id: r.facility_id,
                    facility_name: name.clone(),
                    facility_location: *location,
                    terms: terms_of!(r)?,
                    distance_km: r.distance_m / 1000.0,
                    order_key: r.d,
                })
            })
            .collect()
    }
}

/// How long a search waits for the book to follow this node's own commits.
const BOOK_WAIT: std::time::Duration = std::time::Duration::from_millis(250);

/// Most equally distant shifts (one facility's) a page boundary may cut through.
const TIE_CAP: usize = 1000;

struct Search<'a> {
    nurse_id: Uuid,
    /// The nurse's approved credentials, as parallel arrays for the query.
    held: Held,
    query: &'a NearbyQuery,
    point: Coordinates,
    /// Where the nurse is matched from, and how far she reaches from there.
    matched_from: Coordinates,
    reach_m: f64,
    /// The time the favourites window and her attendance restriction are read at.
    now: chrono::DateTime<Utc>,
    /// Her attendance restricts her to facilities that favourited her.
    restricted: bool,
}

/// Approved credentials as columns: the query unnests them.
struct Held {
    kinds: Vec<String>,
    states: Vec<Option<String>>,
    multistate: Vec<bool>,
    expires_on: Vec<NaiveDate>,
}

impl Held {
    fn of(credentials: &[HeldCredential]) -> Self {
        Self {
            kinds: credentials
                .iter()
                .map(|c| c.kind.as_str().to_owned())
                .collect(),
            states: credentials.iter().map(|c| c.state.clone()).collect(),
            multistate: credentials.iter().map(|c| c.multistate).collect(),
            expires_on: credentials.iter().map(|c| c.expires_on).collect(),
        }
    }
}

/// Which distances (great-circle, metres) a read covers.
struct Bounds {
    /// Strictly farther than this.
    beyond: Option<f64>,
    /// At least this far.
    from: Option<f64>,
    /// At most this far.
    to: Option<f64>,
    /// The geodesic search radius (what the index bounds the scan with).
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
    /// Eligible open shifts in `bounds`, nearest first. These filters are `shiftwire_core::eligibility` for
    /// every shift at once: a licence of the shift's role valid in its state (or
    /// multistate) and, like every required certification, valid through its end date;
    /// no overlapping booking; not a shift she did not come to; not at a facility that
    /// blocked her; where she is not a favourite, neither while her attendance restricts
    /// her nor inside the shift's favourites window.
    async fn rows(
        &self,
        conn: &mut sqlx::PgConnection,
        bounds: Bounds,
        limit: usize,
    ) -> Result<Vec<Row>, MatchingError> {
        let point = geo_sql::to_sql(self.point);
        let matched_from = geo_sql::to_sql(self.matched_from);
        let rows = sqlx::query_as!(
            Row,
            r#"WITH held AS (
                   SELECT * FROM unnest($12::text[], $13::text[], $14::bool[], $15::date[])
                       AS c (kind, issuing_state, multistate, expires_on)
               )
               SELECT s.id, s.facility_id, s.role, s.starts_at, s.ends_at, s.hourly_rate_cents,
                      s.unit, s.required_certifications,
                      s.location <-> ST_SetSRID($2::geometry, 4326)::geography AS "d!",
                      ST_Distance(s.location, ST_SetSRID($2::geometry, 4326)::geography) AS "distance_m!"
               FROM shifts s
               WHERE s.status = 'open' AND COALESCE(s.late_claim_until, s.starts_at) > now()
                 AND ST_DWithin(s.location, ST_SetSRID($2::geometry, 4326)::geography, $3)
                 AND ($4::timestamptz IS NULL OR s.starts_at >= $4)
                 AND ($5::timestamptz IS NULL OR s.starts_at < $5)
                 AND ($6::text IS NULL OR s.role = $6)
                 AND ($7::float8 IS NULL OR s.location <-> ST_SetSRID($2::geometry, 4326)::geography > $7)
                 AND ($8::float8 IS NULL OR s.location <-> ST_SetSRID($2::geometry, 4326)::geography >= $8)
                 AND ($10::float8 IS NULL OR s.location <-> ST_SetSRID($2::geometry, 4326)::geography <= $10)
                 AND ST_DWithin(s.location, ST_SetSRID($11::geometry, 4326)::geography,
                                $16::float8 + 0.001)
                 AND EXISTS (
                     SELECT 1 FROM held c
                     WHERE c.kind = s.role
                       AND (c.multistate OR c.issuing_state = s.facility_state)
                       AND c.expires_on >= (s.ends_at AT TIME ZONE 'UTC')::date)
                 AND NOT EXISTS (
                     SELECT 1 FROM unnest(s.required_certifications) AS required(kind)
                     WHERE NOT EXISTS (
                         SELECT 1 FROM held c
                         WHERE c.kind = required.kind
                           AND c.expires_on >= (s.ends_at AT TIME ZONE 'UTC')::date))
                 AND NOT EXISTS (
                     SELECT 1 FROM bookings b
                     WHERE b.nurse_id = $1 AND b.status IN ('booked', 'in_progress')
                       AND b.during && tstzrange(s.starts_at, s.ends_at))
                 AND NOT ($1 = ANY (shift_no_shows(s.id)))
                 AND NOT EXISTS (
                     SELECT 1 FROM facility_blocks fb
                     WHERE fb.facility_id = s.facility_id AND fb.nurse_id = $1)
                 AND (EXISTS (SELECT 1 FROM facility_favourites ff
                              WHERE ff.facility_id = s.facility_id AND ff.nurse_id = $1)
                      OR (NOT $17::bool
                          AND (s.favourites_until IS NULL OR s.favourites_until <= $18)))
               ORDER BY s.location <-> ST_SetSRID($2::geometry, 4326)::geography
               LIMIT $9"#,
            self.nurse_id,
            point as _,
            bounds.radius_m,
            self.query.from,
            self.query.to,
            self.query.role.map(|r| r.as_str()),
            bounds.beyond,
            bounds.from,
            i64::try_from(limit).unwrap_or(i64::MAX),
            bounds.to,
            matched_from as _,
            &self.held.kinds,
            &self.held.states as &[Option<String>],
            &self.held.multistate,
            &self.held.expires_on,
            self.reach_m,
            self.restricted,
            self.now
        )
        .fetch_all(conn)
        .await?;
        Ok(rows)
    }
}
