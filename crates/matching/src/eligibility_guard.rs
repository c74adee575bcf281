//! Bookings follow eligibility: when a booked nurse may no longer work a shift that has
//! not started (suspended, a licence revoked or lapsed before the shift ends), the
//! booking is cancelled with that reason, the shift re-opens and is offered again, the
//! facility's schedulers get `shift.released` (`nurse_ineligible`) and the nurse
//! `booking.updated`. It runs inside the transaction of the cause, so there is never a
//! moment where the cause is committed and the booking still stands.

use crate::{Matching, MatchingError, claims::shift_facts_of, record, standing};
use chrono::Utc;
use shiftwire_core::{
    BookingAction, BookingStatus, DomainEvent, PublishedEvent, ReleaseReason, ShiftAction,
    ShiftStatus, eligibility::keeps_booking,
};
use sqlx::PgConnection;
use uuid::Uuid;

impl Matching {
    /// Cancels the future bookings `nurse_id` may no longer work and re-opens their
    /// shifts, inside the caller's transaction; returns the recorded events for the
    /// caller to publish after its commit.
    pub async fn release_ineligible_in(
        &self,
        conn: &mut PgConnection,
        nurse_id: Uuid,
    ) -> Result<Vec<PublishedEvent>, MatchingError> {
        // No claim of hers is in flight from here to the caller's commit.
        standing::lock_nurse(&mut *conn, nurse_id).await?;
        let facts = match self.nurse_facts(&mut *conn, nurse_id).await {
            Ok(facts) => facts,
            Err(MatchingError::NotFound) => return Ok(Vec::new()),
            Err(error) => return Err(error),
        };
        let bookings = sqlx::query!(
            r#"SELECT b.id, b.status, b.shift_id, s.status AS shift_status, s.facility_id
               FROM bookings b JOIN shifts s ON s.id = b.shift_id
               WHERE b.nurse_id = $1 AND b.status = 'booked' AND s.starts_at > now()
               ORDER BY s.starts_at
               FOR UPDATE OF b, s"#,
            nurse_id
        )
        .fetch_all(&mut *conn)
        .await?;
        let now = Utc::now();
        let mut events = Vec::new();
        for booking in bookings {
            let shift = shift_facts_of(&mut *conn, booking.shift_id).await?;
            let Err(rule) = keeps_booking(&facts, &shift, now) else {
                continue;
            };
            let status: BookingStatus = crate::stored::parse(&booking.status, "booking status")?;
            let shift_status: ShiftStatus = crate::stored::parse(&booking.shift_status, "status")?;
            let (Ok(cancelled), Ok(reopened)) = (
                status.apply(BookingAction::Cancel),
                shift_status.apply(ShiftAction::Release),
            ) else {
                tracing::warn!(booking_id = %booking.id, %status, %shift_status,
                    "an ineligible nurse's booking is in no state to release");
                continue;
            };
            sqlx::query!(
                "UPDATE bookings SET status = $2, cancel_reason = 'nurse_ineligible',
                                     cancel_detail = $3, cancelled_at = now()
                 WHERE id = $1",
                booking.id,
                cancelled.as_str(),
                rule.as_str()
            )
            .execute(&mut *conn)
            .await?;
            crate::claims::reopen(&mut *conn, booking.shift_id, reopened).await?;
            tracing::info!(booking_id = %booking.id, rule = rule.as_str(),
                "booking cancelled: the nurse is no longer eligible");
            events.push(DomainEvent::ShiftReleased {
                shift_id: booking.shift_id,
                facility_id: booking.facility_id,
                booking_id: booking.id,
                nurse_id,
                reason: ReleaseReason::NurseIneligible,
            });
            events.push(Self::opened_event(&mut *conn, booking.shift_id).await?);
        }
        record(conn, events).await
    }
}
