//! Attendance points, as the nurse sees them: what a release would cost before she
//! confirms it, and every point change with its reason. The rules are core's
//! (`shiftwire_core::attendance`); this records them, once per booking and cause.

use crate::{Matching, MatchingError, stored};
use chrono::{DateTime, Utc};
use serde::Serialize;
use shiftwire_core::{
    BookingStatus,
    attendance::{self, ReleaseCost},
    new_id,
};
use sqlx::PgConnection;
use uuid::Uuid;

/// Why points changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cause {
    Release,
    NoShow,
    Worked,
}

impl Cause {
    fn as_str(self) -> &'static str {
        match self {
            Self::Release => "release",
            Self::NoShow => "no_show",
            Self::Worked => "worked",
        }
    }
}

/// One change of a nurse's score.
#[derive(Debug, Clone, Serialize)]
pub struct AttendanceEvent {
    pub at: DateTime<Utc>,
    pub booking_id: Uuid,
    pub points: i32,
    pub reason: String,
}

/// A nurse's score and how it came to be, oldest first.
#[derive(Debug, Clone, Serialize)]
pub struct Attendance {
    pub score: i32,
    pub events: Vec<AttendanceEvent>,
}

/// Records a change of the nurse's score in the caller's transaction; a second change
/// for the same booking and cause is ignored (the unique constraint decides).
pub(crate) async fn record(
    conn: &mut PgConnection,
    nurse_id: Uuid,
    booking_id: Uuid,
    cause: Cause,
    points: i32,
    reason: &str,
    at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "INSERT INTO attendance_events (id, nurse_id, booking_id, cause, points, reason, at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (booking_id, cause) DO NOTHING",
        new_id(),
        nurse_id,
        booking_id,
        cause.as_str(),
        points,
        reason,
        at
    )
    .execute(conn)
    .await?;
    Ok(())
}

impl Matching {
    /// What releasing one of the nurse's bookings would cost now (404 for another's;
    /// `NotReleasable` once it cannot be released).
    pub async fn release_preview(
        &self,
        nurse_id: Uuid,
        booking_id: Uuid,
    ) -> Result<ReleaseCost, MatchingError> {
        let row = sqlx::query!(
            "SELECT b.status, b.created_at, s.starts_at
             FROM bookings b JOIN shifts s ON s.id = b.shift_id
             WHERE b.id = $1 AND b.nurse_id = $2",
            booking_id,
            nurse_id
        )
        .fetch_optional(&self.pool)
        .await?
        .ok_or(MatchingError::NotFound)?;
        let status: BookingStatus = stored::parse(&row.status, "booking status")?;
        let now = self.clock.now();
        if status != BookingStatus::Booked || row.starts_at <= now {
            return Err(MatchingError::NotReleasable);
        }
        Ok(attendance::release_cost(row.created_at, row.starts_at, now))
    }

    /// The nurse's score and every change to it, oldest first.
    pub async fn attendance(&self, nurse_id: Uuid) -> Result<Attendance, MatchingError> {
        let events: Vec<AttendanceEvent> = sqlx::query_as!(
            AttendanceEvent,
            "SELECT at, booking_id, points, reason FROM attendance_events
             WHERE nurse_id = $1 ORDER BY at, id",
            nurse_id
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(Attendance {
            score: attendance::score(events.iter().map(|e| e.points)),
            events,
        })
    }
}
