//! The marketplace: facilities, shifts and their handoff packets, nearby search in
//! PostGIS, the first-claim-wins race, releases, acknowledgements, geofenced check-in,
//! and the escalation of shifts nobody took. Every state change writes its event to the
//! outbox in the same transaction.

mod bookings;
mod claims;
mod escalation;
mod facilities;
mod model;
mod nearby;
mod shifts;

pub use model::*;
pub use shifts::ShiftFilter;

use shiftwire_core::{DomainEvent, EventBus, eligibility::Ineligible};
use sqlx::{PgPool, Postgres, Transaction};
use std::{sync::Arc, time::Duration};

/// How early before its start a nurse may check in.
pub const CHECK_IN_OPENS_BEFORE: chrono::Duration = chrono::Duration::minutes(30);

#[derive(Debug, thiserror::Error)]
pub enum MatchingError {
    #[error("not found")]
    NotFound,
    #[error("{0}")]
    Invalid(String),
    #[error("the shift was booked by someone else")]
    ShiftTaken,
    #[error("the shift is not open (cancelled or already started)")]
    ShiftNotOpen,
    #[error("you already have a booking at that time")]
    ScheduleConflict,
    #[error("you need an approved, unexpired licence to claim shifts")]
    NotVerified,
    #[error("you are not eligible for this shift: {}", .0.as_str())]
    NotEligible(Ineligible),
    #[error("you are {distance_m:.0} m from the facility; check-in works within {geofence_m} m")]
    OutsideGeofence { distance_m: f64, geofence_m: i32 },
    #[error("{0}")]
    Conflict(&'static str, String),
    #[error("a reason is required")]
    ReasonRequired,
    #[error("no search point: pass lat and lon, or set a home location")]
    NoSearchPoint,
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// The marketplace service. Cheap to clone.
#[derive(Clone)]
pub struct Matching {
    pool: PgPool,
    events: Arc<dyn EventBus>,
    /// How long before its start an open shift counts as at risk and is escalated.
    unfilled_alert: Duration,
}

impl Matching {
    pub fn new(pool: PgPool, events: Arc<dyn EventBus>, unfilled_alert: Duration) -> Self {
        Self {
            pool,
            events,
            unfilled_alert,
        }
    }

    fn alert_minutes(&self) -> i32 {
        i32::try_from(self.unfilled_alert.as_secs() / 60).unwrap_or(i32::MAX)
    }

    /// Records `events` in the outbox, commits, then publishes them.
    async fn commit(
        &self,
        mut tx: Transaction<'_, Postgres>,
        events: Vec<DomainEvent>,
    ) -> Result<(), MatchingError> {
        for event in &events {
            shiftwire_verification::record_event(&mut tx, event).await?;
        }
        tx.commit().await?;
        for event in events {
            self.events.publish(event);
        }
        Ok(())
    }
}

/// A reason a person gave: trimmed, 1 to 1000 characters.
fn required_reason(reason: &str) -> Result<&str, MatchingError> {
    let reason = reason.trim();
    if reason.is_empty() || reason.chars().count() > 1000 {
        return Err(MatchingError::ReasonRequired);
    }
    Ok(reason)
}

fn stored<T: std::str::FromStr>(value: &str, what: &str) -> Result<T, MatchingError> {
    value
        .parse()
        .map_err(|_| MatchingError::Invalid(format!("stored {what} {value:?} is unknown")))
}
