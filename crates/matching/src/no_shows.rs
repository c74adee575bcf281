//! After the claim: the nurse says she is on her way, and a booking nobody checked in to
//! by its deadline becomes a no-show. The detector is safe on several nodes (each booking
//! is decided once, under its row lock) and, because it looks for every booking past its
//! deadline rather than for what just passed, it catches up after a restart.

use crate::attendance::Cause;
use crate::{Booking, Matching, MatchingError, stored};
use shiftwire_core::{
    BookingAction, BookingStatus, DomainEvent, ShiftAction, ShiftStatus,
    no_show::{self, ON_THE_WAY_OPENS_BEFORE},
};
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

const SWEEP_INTERVAL: Duration = Duration::from_secs(30);
/// Bookings decided per transaction.
const BATCH: i64 = 500;

/// What the nurse reads on her attendance for a no-show.
pub const NO_SHOW_REASON: &str = "did not check in to the shift by the deadline (no-show)";

impl Matching {
    /// The same service giving nurses `grace` after the start before a no-show.
    pub fn with_no_show_grace(mut self, grace: chrono::Duration) -> Self {
        self.no_show_grace = grace;
        self
    }

    /// The nurse of a booked shift is on her way, expected in `eta_minutes`; allowed from
    /// 3 hours before the start. Said again, the newer ETA counts.
    pub async fn on_the_way(
        &self,
        nurse_id: Uuid,
        booking_id: Uuid,
        eta_minutes: i64,
    ) -> Result<Booking, MatchingError> {
        if !(0..=no_show::MAX_ETA_MINUTES).contains(&eta_minutes) {
            return Err(MatchingError::Invalid(format!(
                "eta_minutes must be between 0 and {}",
                no_show::MAX_ETA_MINUTES
            )));
        }
        let mut tx = self.pool.begin().await?;
        let locked = Self::lock_booking(&mut tx, nurse_id, booking_id, None).await?;
        match locked.status {
            BookingStatus::Booked => {}
            BookingStatus::NoShow => return Err(MatchingError::BookingNoShow),
            _ => return Err(MatchingError::BookingNotActive),
        }
        let now = self.clock.now();
        if now < locked.starts_at - ON_THE_WAY_OPENS_BEFORE {
            return Err(MatchingError::OnTheWayTooEarly);
        }
        // As the database keeps it (microseconds), so the scheduler's frame and the
        // booking say the same time.
        let eta_at =
            chrono::SubsecRound::trunc_subsecs(now + chrono::Duration::minutes(eta_minutes), 6);
        sqlx::query!(
            "UPDATE bookings SET on_the_way_at = $2, eta_at = $3 WHERE id = $1",
            booking_id,
            now,
            eta_at
        )
        .execute(&mut *tx)
        .await?;
        let event = DomainEvent::BookingOnTheWay {
            booking_id,
            shift_id: locked.shift_id,
            facility_id: locked.facility_id,
            nurse_id,
            eta_at,
        };
        self.commit(tx, vec![event]).await?;
        self.booking(nurse_id, booking_id).await
    }

    /// Decides every booking past its no-show deadline (at most [`BATCH`]); returns how
    /// many. Each becomes `no_show`, costs its nurse the no-show points, tells the shift's
    /// owner, and re-opens its shift as urgent if at least an hour of it remains (else the
    /// shift is cancelled: nobody can still work it).
    pub async fn mark_no_shows(&self) -> Result<usize, MatchingError> {
        let now = self.clock.now();
        let mut tx = self.pool.begin().await?;
        // SKIP LOCKED: nodes sweeping at once split the bookings; one that is checking in
        // right now holds its row and is left to the check-in.
        // A booking is expected from its start, or from its claim if that came later (a
        // shift offered again after a no-show); the first condition is the index's.
        let due = sqlx::query!(
            r#"SELECT b.id, b.nurse_id, b.shift_id, b.eta_at, b.created_at,
                      s.status AS shift_status, s.facility_id, s.owner_id, s.starts_at, s.ends_at
               FROM bookings b JOIN shifts s ON s.id = b.shift_id
               WHERE b.status = 'booked'
                 AND lower(b.during) <= $1::timestamptz - make_interval(secs => $2)
                 AND GREATEST(lower(b.during), b.created_at)
                     <= $1::timestamptz - make_interval(secs => $2)
                 AND (b.eta_at IS NULL
                      OR b.eta_at <= $1::timestamptz - make_interval(secs => $3)
                      OR GREATEST(lower(b.during), b.created_at)
                         <= $1::timestamptz - make_interval(secs => $4))
               ORDER BY lower(b.during), b.id
               LIMIT $5
               FOR UPDATE OF b, s SKIP LOCKED"#,
            now,
            seconds(self.no_show_grace),
            seconds(no_show::ETA_GRACE),
            seconds(no_show::ON_THE_WAY_LATEST),
            BATCH
        )
        .fetch_all(&mut *tx)
        .await?;
        let mut events = Vec::new();
        let mut decided = 0;
        for row in due {
            // The query above is the rule of `no_show::deadline` written for the index.
            let expected = no_show::expected_from(row.starts_at, row.created_at);
            if now < no_show::deadline(expected, row.eta_at, self.no_show_grace) {
                continue;
            }
            let shift_status: ShiftStatus = stored::parse(&row.shift_status, "status")?;
            let Ok(missed) = BookingStatus::Booked.apply(BookingAction::MissDeadline) else {
                continue;
            };
            sqlx::query!(
                "UPDATE bookings SET status = $2, no_show_at = $3 WHERE id = $1",
                row.id,
                missed.as_str(),
                now
            )
            .execute(&mut *tx)
            .await?;
            crate::attendance::record(
                &mut tx,
                row.nurse_id,
                row.id,
                Cause::NoShow,
                shiftwire_core::attendance::NO_SHOW_POINTS,
                NO_SHOW_REASON,
                now,
            )
            .await?;
            let until = no_show::reoffer_until(row.ends_at, now);
            let reoffered = match (until, shift_status.apply(ShiftAction::Release)) {
                (Some(until), Ok(open)) => {
                    sqlx::query!(
                        "UPDATE shifts SET status = $2, late_claim_until = $3,
                             release_count = release_count + 1, updated_at = now()
                         WHERE id = $1",
                        row.shift_id,
                        open.as_str(),
                        until
                    )
                    .execute(&mut *tx)
                    .await?;
                    true
                }
                _ => {
                    let cancelled = shift_status
                        .apply(ShiftAction::Cancel)
                        .unwrap_or(ShiftStatus::Cancelled);
                    sqlx::query!(
                        "UPDATE shifts SET status = $2, updated_at = now(),
                             cancel_reason = 'no-show: too little of the shift remained to offer it again'
                         WHERE id = $1",
                        row.shift_id,
                        cancelled.as_str()
                    )
                    .execute(&mut *tx)
                    .await?;
                    false
                }
            };
            events.push(DomainEvent::BookingNoShow {
                booking_id: row.id,
                shift_id: row.shift_id,
                facility_id: row.facility_id,
                nurse_id: row.nurse_id,
                owner_id: row.owner_id,
                reoffered,
            });
            if reoffered {
                events.push(Self::opened_event(&mut tx, row.shift_id).await?);
            }
            decided += 1;
        }
        self.commit(tx, events).await?;
        Ok(decided)
    }

    /// Sweeps every 30 seconds until `shutdown`, the first time at once (catching up on
    /// whatever fell due while no node ran).
    pub async fn run_no_show_detector(self, shutdown: CancellationToken) {
        let mut tick = tokio::time::interval(SWEEP_INTERVAL);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                _ = tick.tick() => {}
            }
            loop {
                match self.mark_no_shows().await {
                    Ok(0) => break,
                    Ok(n) => {
                        tracing::info!(
                            no_shows = n,
                            "bookings nobody checked in to marked no-show"
                        );
                        metrics::counter!("no_shows_total").increment(n as u64);
                        if n < BATCH as usize {
                            break;
                        }
                    }
                    Err(error) => {
                        tracing::warn!(%error, "no-show detection failed");
                        break;
                    }
                }
            }
        }
    }
}

fn seconds(d: chrono::Duration) -> f64 {
    d.as_seconds_f64()
}
