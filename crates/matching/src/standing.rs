//! A nurse as eligibility sees her: her standing (suspension and approved credentials,
//! which other rooms own and tell through [`Standings`]), where she is matched from and
//! how far she goes (her profile here), and what she has booked.
//!
//! Claims and the release of a nurse's ineligible bookings serialise per nurse on an
//! advisory lock: a claim holds it shared from before it reads her standing until it
//! commits, the release exclusively. So a suspension or revocation in progress either
//! waits for the claim (and then sees and releases its booking) or is seen by it.

use crate::MatchingError;
use async_trait::async_trait;
use chrono::Utc;
use shiftwire_core::eligibility::{NurseFacts, NurseRecord, Standing};
use sqlx::PgConnection;
use std::collections::HashMap;
use uuid::Uuid;

/// What other rooms say of nurses' standing, read on the caller's connection (inside
/// its transaction, so a change in progress there counts). `api` implements it over the
/// accounts (suspension) and verification (approved credentials).
#[async_trait]
pub trait Standings: Send + Sync {
    /// The standing of each of `nurse_ids` that is a nurse; anyone else is left out.
    async fn of(
        &self,
        conn: &mut PgConnection,
        nurse_ids: &[Uuid],
    ) -> Result<HashMap<Uuid, Standing>, sqlx::Error>;
}

/// The advisory-lock class of a nurse's bookings (the other key is from her id).
const NURSE_LOCK_CLASS: i32 = 0x5357_4d31;

fn lock_key(nurse_id: Uuid) -> i32 {
    let n = nurse_id.as_u128();
    // Folded to 32 bits: a collision only makes two nurses wait for each other.
    (n as u32 ^ (n >> 32) as u32 ^ (n >> 64) as u32 ^ (n >> 96) as u32) as i32
}

/// Held by a claim until its commit: the nurse's standing cannot change under it.
pub(crate) async fn lock_nurse_shared(
    conn: &mut PgConnection,
    nurse_id: Uuid,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "SELECT pg_advisory_xact_lock_shared($1, $2)",
        NURSE_LOCK_CLASS,
        lock_key(nurse_id)
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Held while a nurse's ineligible bookings are released: no claim of hers is in flight.
pub(crate) async fn lock_nurse(conn: &mut PgConnection, nurse_id: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "SELECT pg_advisory_xact_lock($1, $2)",
        NURSE_LOCK_CLASS,
        lock_key(nurse_id)
    )
    .execute(conn)
    .await?;
    Ok(())
}

impl crate::Matching {
    /// Eligibility facts of each of `nurse_ids` that is a nurse (for the real-time index).
    pub async fn nurse_records(
        &self,
        nurse_ids: &[Uuid],
    ) -> Result<HashMap<Uuid, NurseRecord>, MatchingError> {
        let mut conn = self.pool.acquire().await?;
        self.nurse_records_in(&mut conn, nurse_ids).await
    }

    /// What eligibility needs to know about a nurse, read on `conn`.
    pub(crate) async fn nurse_facts(
        &self,
        conn: &mut PgConnection,
        nurse_id: Uuid,
    ) -> Result<NurseFacts, MatchingError> {
        self.nurse_records_in(conn, &[nurse_id])
            .await?
            .remove(&nurse_id)
            .map(|record| record.facts)
            .ok_or(MatchingError::NotFound)
    }

    /// What eligibility needs to know about each of `nurse_ids` that is a nurse, in three
    /// round trips whatever their number: her standing from the rooms that own it, then all
    /// the marketplace keeps of her (profile, bookings, blocks, favourites, attendance) in
    /// one query. Nurses' positions are live if reported within `LIVE_LOCATION_TTL`, else
    /// home; a nurse who never set her profile has its defaults.
    pub(crate) async fn nurse_records_in(
        &self,
        conn: &mut PgConnection,
        nurse_ids: &[Uuid],
    ) -> Result<HashMap<Uuid, NurseRecord>, MatchingError> {
        use sqlx::Row;
        let now = Utc::now();
        let mut standings = self.standings.of(&mut *conn, nurse_ids).await?;
        let ids: Vec<Uuid> = standings.keys().copied().collect();
        let rows = sqlx::query(
            "SELECT n.id, p.available, p.max_distance_km,
                    ST_Y(p.home::geometry) AS home_lat, ST_X(p.home::geometry) AS home_lon,
                    ST_Y(p.live_location::geometry) AS live_lat,
                    ST_X(p.live_location::geometry) AS live_lon, p.live_location_at,
                    ARRAY(SELECT lower(b.during) FROM bookings b
                          WHERE b.nurse_id = n.id AND b.status IN ('booked', 'in_progress')
                          ORDER BY b.id) AS booked_from,
                    ARRAY(SELECT upper(b.during) FROM bookings b
                          WHERE b.nurse_id = n.id AND b.status IN ('booked', 'in_progress')
                          ORDER BY b.id) AS booked_to,
                    ARRAY(SELECT facility_id FROM facility_blocks WHERE nurse_id = n.id)
                        AS blocked_at,
                    ARRAY(SELECT facility_id FROM facility_favourites WHERE nurse_id = n.id)
                        AS favourite_of,
                    ARRAY(SELECT at FROM attendance_events WHERE nurse_id = n.id ORDER BY at, id)
                        AS attendance_at,
                    ARRAY(SELECT points FROM attendance_events WHERE nurse_id = n.id
                          ORDER BY at, id) AS attendance_points
             FROM unnest($1::uuid[]) AS n (id)
             LEFT JOIN nurse_profiles p ON p.nurse_id = n.id",
        )
        .bind(&ids)
        .fetch_all(&mut *conn)
        .await?;
        let point = |lat: Option<f64>, lon: Option<f64>| -> Result<_, MatchingError> {
            lat.zip(lon)
                .map(|(lat, lon)| shiftwire_core::Coordinates::new(lat, lon))
                .transpose()
                .map_err(|e| MatchingError::Invalid(format!("stored location: {e}")))
        };
        let defaults = crate::NurseProfile::default();
        let mut records = HashMap::with_capacity(rows.len());
        for row in rows {
            let id: Uuid = row.try_get("id")?;
            let Some(standing) = standings.remove(&id) else {
                continue;
            };
            let home = point(row.try_get("home_lat")?, row.try_get("home_lon")?)?;
            let live = point(row.try_get("live_lat")?, row.try_get("live_lon")?)?
                .zip(row.try_get::<Option<chrono::DateTime<Utc>>, _>("live_location_at")?);
            let booked_from: Vec<chrono::DateTime<Utc>> = row.try_get("booked_from")?;
            let booked_to: Vec<chrono::DateTime<Utc>> = row.try_get("booked_to")?;
            let attendance_at: Vec<chrono::DateTime<Utc>> = row.try_get("attendance_at")?;
            let attendance_points: Vec<i32> = row.try_get("attendance_points")?;
            let record = NurseRecord {
                facts: NurseFacts {
                    nurse_id: id,
                    suspended: standing.suspended,
                    available: row
                        .try_get::<Option<bool>, _>("available")?
                        .unwrap_or(defaults.available),
                    credentials: standing.credentials,
                    position: None,
                    max_distance_km: row
                        .try_get::<Option<f64>, _>("max_distance_km")?
                        .unwrap_or(defaults.max_distance_km),
                    booked: booked_from.into_iter().zip(booked_to).collect(),
                    blocked_at: row.try_get("blocked_at")?,
                    favourite_of: row.try_get("favourite_of")?,
                    restricted_until: shiftwire_core::attendance::restricted_until(
                        attendance_at.into_iter().zip(attendance_points),
                    ),
                },
                home,
                live,
            };
            records.insert(id, record.positioned(now));
        }
        Ok(records)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_keys_use_the_whole_id() {
        let a = Uuid::from_u128(1);
        let b = Uuid::from_u128(1 << 100);
        assert_ne!(lock_key(a), lock_key(Uuid::from_u128(2)));
        assert_eq!(lock_key(a), lock_key(Uuid::from_u128(1)));
        assert_ne!(lock_key(b), 0, "the high bits count");
    }
}
