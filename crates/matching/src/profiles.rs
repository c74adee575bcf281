//! Where a nurse is matched from and how far she goes: her home, her radius, whether she
//! is available, and the live location her app reports. A nurse who never set them has
//! the defaults (no home, 25 km, available).

use crate::{Matching, MatchingError, geo_sql};
use serde::Serialize;
use shiftwire_core::{Coordinates, DomainEvent, delivery::LocationRecord};
use std::collections::HashMap;
use uuid::Uuid;

/// The smallest and largest radius a nurse may choose, in km.
pub const MAX_DISTANCE_KM: std::ops::RangeInclusive<f64> = 1.0..=200.0;

/// A nurse's matching profile.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NurseProfile {
    pub home: Option<Coordinates>,
    pub max_distance_km: f64,
    pub available: bool,
}

impl Default for NurseProfile {
    fn default() -> Self {
        Self {
            home: None,
            max_distance_km: 25.0,
            available: true,
        }
    }
}

/// A change to a nurse's matching profile; `None` leaves a field as it is, and
/// `home: Some(None)` clears the home.
#[derive(Debug, Clone, Default)]
pub struct ProfileChange {
    pub home: Option<Option<Coordinates>>,
    pub max_distance_km: Option<f64>,
    pub available: Option<bool>,
}

impl ProfileChange {
    /// Refuses what cannot be stored, before anything is written.
    pub fn validate(&self) -> Result<(), MatchingError> {
        if let Some(km) = self.max_distance_km
            && !(km.is_finite() && MAX_DISTANCE_KM.contains(&km))
        {
            return Err(MatchingError::InvalidProfile(
                "max_distance_km must be between 1 and 200",
            ));
        }
        Ok(())
    }

    pub fn is_empty(&self) -> bool {
        self.home.is_none() && self.max_distance_km.is_none() && self.available.is_none()
    }
}

impl Matching {
    /// A nurse's matching profile (the defaults if she never set one).
    pub async fn profile(&self, nurse_id: Uuid) -> Result<NurseProfile, MatchingError> {
        let row = sqlx::query!(
            r#"SELECT max_distance_km, available, home::geometry AS "home: geo_sql::Wkb"
               FROM nurse_profiles WHERE nurse_id = $1"#,
            nurse_id
        )
        .fetch_optional(&self.pool)
        .await?;
        Ok(match row {
            Some(row) => NurseProfile {
                home: geo_sql::optional_from_sql(row.home)?,
                max_distance_km: row.max_distance_km,
                available: row.available,
            },
            None => NurseProfile::default(),
        })
    }

    /// Applies a change to `nurse_id`'s matching profile and announces it, so the
    /// real-time layer re-checks the offers she holds. The caller knows she is a nurse.
    pub async fn update_profile(
        &self,
        nurse_id: Uuid,
        change: ProfileChange,
    ) -> Result<NurseProfile, MatchingError> {
        change.validate()?;
        if change.is_empty() {
            return self.profile(nurse_id).await;
        }
        let (set_home, home) = match change.home {
            None => (false, None),
            Some(home) => (true, home),
        };
        let mut tx = self.pool.begin().await?;
        sqlx::query!(
            "INSERT INTO nurse_profiles AS p (nurse_id, home, max_distance_km, available)
             VALUES ($1,
                     CASE WHEN $2 AND $3::geometry IS NOT NULL
                          THEN ST_SetSRID($3::geometry, 4326)::geography END,
                     COALESCE($4::float8, 25), COALESCE($5, true))
             ON CONFLICT (nurse_id) DO UPDATE SET
                 home = CASE WHEN $2 THEN excluded.home ELSE p.home END,
                 max_distance_km = COALESCE($4::float8, p.max_distance_km),
                 available = COALESCE($5, p.available)",
            nurse_id,
            set_home,
            home.map(geo_sql::to_sql) as _,
            change.max_distance_km,
            change.available
        )
        .execute(&mut *tx)
        .await?;
        self.commit(tx, vec![DomainEvent::ProfileUpdated { nurse_id }])
            .await?;
        self.profile(nurse_id).await
    }

    /// Stores reported live locations (the newest per nurse wins), so claims and nearby
    /// search on every node use them too.
    pub async fn record_live_locations(
        &self,
        batch: &[LocationRecord],
    ) -> Result<(), MatchingError> {
        let latest: HashMap<Uuid, &LocationRecord> =
            batch.iter().fold(HashMap::new(), |mut latest, record| {
                let newer = latest
                    .get(&record.nurse_id)
                    .is_none_or(|seen: &&LocationRecord| seen.reported_at <= record.reported_at);
                if newer {
                    latest.insert(record.nurse_id, record);
                }
                latest
            });
        let ids: Vec<Uuid> = latest.keys().copied().collect();
        let points: Vec<geo_sql::WkbParam> = ids
            .iter()
            .map(|id| geo_sql::to_sql(latest[id].at))
            .collect();
        let times: Vec<_> = ids.iter().map(|id| latest[id].reported_at).collect();
        sqlx::query!(
            "INSERT INTO nurse_profiles AS p (nurse_id, live_location, live_location_at)
             SELECT l.id, ST_SetSRID(l.at, 4326)::geography, l.reported_at
             FROM unnest($1::uuid[], $2::geometry[], $3::timestamptz[])
                  AS l (id, at, reported_at)
             ON CONFLICT (nurse_id) DO UPDATE SET
                 live_location = excluded.live_location,
                 live_location_at = excluded.live_location_at
             WHERE p.live_location_at IS NULL OR p.live_location_at < excluded.live_location_at",
            &ids,
            &points as _,
            &times
        )
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}

impl Matching {
    /// Available nurses whose reach (her own `max_distance_km` from her home, or from a
    /// live location reported in the last 15 minutes) takes in `at`. One lookup in the
    /// index of reach boxes, then the exact geodesic distance: the cost follows the
    /// nurses who can reach the place, not the nurses around it. Eligibility (licences,
    /// bookings) is decided by the caller.
    pub async fn nurses_near(&self, at: Coordinates) -> Result<Vec<Uuid>, MatchingError> {
        let ids = sqlx::query_scalar!(
            "SELECT nurse_id FROM nurse_profiles
             WHERE available
               AND ((home_reach && ST_SetSRID($1::geometry, 4326)
                     AND ST_DWithin(home, ST_SetSRID($1::geometry, 4326)::geography,
                                    max_distance_km * 1000))
                    OR (live_reach && ST_SetSRID($1::geometry, 4326)
                        AND live_location_at > now() - interval '15 minutes'
                        AND ST_DWithin(live_location, ST_SetSRID($1::geometry, 4326)::geography,
                                       max_distance_km * 1000)))",
            geo_sql::to_sql(at) as _
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(ids)
    }
}
