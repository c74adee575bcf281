//! The marketplace: facilities, shifts and their handoff packets, where nurses are
//! matched from, nearby search in PostGIS, the first-claim-wins race, releases,
//! acknowledgements, geofenced check-in and check-out, the escalation of shifts nobody
//! took, and the offer log. Every state change writes its event to the outbox in the same
//! transaction, after the shift and booking state machines of `shiftwire_core` allowed it.
//!
//! Owns `facilities`, `shifts`, `bookings`, `nurse_profiles` and `offer_log`. What it needs
//! of other rooms (a nurse's suspension and approved credentials) comes through
//! [`Standings`], wired in by `api`.

/// The terms of a row that selected the shift's `role`, `starts_at`, `ends_at`,
/// `hourly_rate_cents`, `unit` and `required_certifications` under those names.
macro_rules! terms_of {
    ($row:ident) => {
        $crate::stored::terms(
            &$row.role,
            $row.starts_at,
            $row.ends_at,
            $row.hourly_rate_cents,
            $row.unit,
            &$row.required_certifications,
        )
    };
}

pub mod attendance;
mod book;
mod bookings;
mod claims;
mod delivery;
mod eligibility_guard;
mod escalation;
mod facilities;
mod favourites;
mod geo_sql;
mod model;
mod nearby;
mod no_shows;
mod portal;
mod profiles;
mod shifts;
mod standing;
pub mod timesheets;

pub use attendance::{Attendance, AttendanceEvent};
pub use book::ShiftBook;
pub use favourites::{FacilityNurse, MAX_FACILITY_NURSES};
pub use model::*;
pub use no_shows::NO_SHOW_REASON;
pub use portal::{NewShiftTemplate, OfferEntry, ShiftTemplate};
pub use profiles::{MAX_DISTANCE_KM, NurseProfile, ProfileChange};
pub use shifts::ShiftFilter;
pub use standing::Standings;
pub use timesheets::{PayrollRow, Timesheet, TimesheetActor, TimesheetFilter, TimesheetStep};

use shiftwire_core::{
    BookingStatus, Clock, CredentialKind, DomainEvent, EventBus, InvalidTerms, OpenedShift,
    PublishedEvent, ShiftStatus, SystemClock, TimesheetStatus, eligibility::Ineligible,
};
use sqlx::{PgConnection, PgPool, Postgres, Transaction};
use std::{sync::Arc, time::Duration};
use uuid::Uuid;

/// How early before its start a nurse may check in.
pub const CHECK_IN_OPENS_BEFORE: chrono::Duration = chrono::Duration::minutes(30);
/// How late after its end a nurse may still check out.
pub const CHECK_OUT_CLOSES_AFTER: chrono::Duration = chrono::Duration::hours(2);
/// Worked time counts until at most this long after the end (unless the facility adjusts
/// it).
pub const WORKED_TIME_CAP_AFTER: chrono::Duration = chrono::Duration::minutes(30);

/// A scheduler acts only within her facilities: another facility (or its shift) is not
/// found, exactly like one that does not exist.
pub(crate) fn in_scope(scope: &[Uuid], facility_id: Uuid) -> Result<(), MatchingError> {
    if scope.contains(&facility_id) {
        Ok(())
    } else {
        Err(MatchingError::NotFound)
    }
}

/// What the marketplace refuses, and why. `api` chooses the HTTP status and code of each.
#[derive(Debug, thiserror::Error)]
pub enum MatchingError {
    #[error("not found")]
    NotFound,
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    InvalidTerms(#[from] InvalidTerms),
    #[error("{0}")]
    InvalidProfile(&'static str),
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
    /// Her attendance score fell to 0 or below: until then, only where she is a favourite.
    #[error(
        "your attendance score is at or below 0: until {0} you can claim shifts only at facilities that favourited you"
    )]
    AttendanceRestricted(chrono::DateTime<chrono::Utc>),
    #[error("you are {distance_m:.0} m from the facility; check-in works within {geofence_m} m")]
    OutsideGeofence { distance_m: f64, geofence_m: i32 },
    /// Only a booked shift that has not started can be released.
    #[error("only a booked shift that has not started can be released")]
    NotReleasable,
    /// The booking was released, cancelled or completed.
    #[error("this booking is no longer active")]
    BookingNotActive,
    /// Check-in of a booking that is not booked, or check-out of one not in progress.
    #[error("a {0} booking cannot check {1}")]
    NotCheckable(BookingStatus, &'static str),
    /// Nobody checked in by the deadline: the booking is a no-show.
    #[error("this booking was marked a no-show: nobody checked in by the deadline")]
    BookingNoShow,
    #[error("you can say you are on your way from 3 hours before the start")]
    OnTheWayTooEarly,
    #[error("check-in opens 30 minutes before the start and closes at the end")]
    OutsideCheckInWindow,
    #[error("check-out closes 2 hours after the end; ask the facility to record your hours")]
    OutsideCheckOutWindow,
    #[error("a {0} shift cannot be changed")]
    ShiftNotEditable(ShiftStatus),
    #[error("a {0} shift cannot be cancelled")]
    ShiftNotCancellable(ShiftStatus),
    /// What a booked shift keeps: its role, times and certifications are the booking's.
    #[error("{0}")]
    ShiftBooked(&'static str),
    /// A blocked nurse cannot be a favourite.
    #[error("this nurse is blocked at the facility; lift the block first")]
    NurseBlocked,
    #[error("a reason is required")]
    ReasonRequired,
    /// Approve, adjust or reject a timesheet that was already decided.
    #[error(
        "this timesheet is {0}: only a submitted timesheet can be approved, adjusted or rejected"
    )]
    TimesheetDecided(TimesheetStatus),
    #[error("a {0} timesheet cannot be disputed: only an adjustment or a rejection can")]
    TimesheetNotDisputable(TimesheetStatus),
    #[error("adjustments and rejections can be disputed for 48 hours; that time has passed")]
    DisputeWindowClosed,
    #[error("this timesheet is {0}: only a disputed timesheet can be resolved")]
    TimesheetNotDisputed(TimesheetStatus),
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
    standings: Arc<dyn Standings>,
    /// How long before its start an open shift counts as at risk and is escalated.
    unfilled_alert: Duration,
    /// The time the attendance, check-in and no-show rules read (a test moves it forward).
    clock: Arc<dyn Clock>,
    /// How long after the start a booking nobody checked in to becomes a no-show.
    no_show_grace: chrono::Duration,
    /// How long a submitted timesheet waits for its facility before it is approved
    /// automatically.
    timesheet_auto_approve: chrono::Duration,
    /// The node's book of open shifts, which nearby search reads once it is loaded.
    book: Arc<ShiftBook>,
}

impl Matching {
    pub fn new(
        pool: PgPool,
        events: Arc<dyn EventBus>,
        standings: Arc<dyn Standings>,
        unfilled_alert: Duration,
    ) -> Self {
        Self {
            pool,
            events,
            standings,
            unfilled_alert,
            clock: Arc::new(SystemClock),
            no_show_grace: chrono::Duration::minutes(15),
            timesheet_auto_approve: chrono::Duration::hours(72),
            book: Arc::new(ShiftBook::new()),
        }
    }

    /// The node's book of open shifts: the dispatcher loads it ([`Self::load_book`]) and
    /// keeps it current ([`ShiftBook::follow`]).
    pub fn book(&self) -> &ShiftBook {
        &self.book
    }

    /// Loads the book of open shifts; answers the outbox position it reflects.
    pub async fn load_book(&self) -> Result<i64, MatchingError> {
        let started = std::time::Instant::now();
        let rss_before = book::resident_kib();
        let position = self.book.load(&self.pool).await?;
        // What the book costs the process: resident memory before and after (Linux), so
        // operators and the benchmark can read it per open shift.
        tracing::info!(
            shifts = self.book.len(),
            secs = started.elapsed().as_secs_f64(),
            position,
            rss_before_kib = rss_before,
            rss_after_kib = book::resident_kib(),
            "book of open shifts loaded"
        );
        Ok(position)
    }

    /// The same service reading time from `clock`.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
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
        let published = record(&mut tx, events).await?;
        self.commit_recorded(tx, published).await
    }

    /// Commits events already recorded in `tx`, then publishes them; this node's nearby
    /// searches wait for its book to follow them.
    async fn commit_recorded(
        &self,
        tx: Transaction<'_, Postgres>,
        published: Vec<PublishedEvent>,
    ) -> Result<(), MatchingError> {
        let book_change = book::last_change(&published);
        shiftwire_outbox::commit(tx, published, self.events.as_ref()).await?;
        if let Some(position) = book_change {
            self.book.committed(position);
        }
        Ok(())
    }

    /// The event announcing that `shift_id` is open, with what its offers need.
    async fn opened_event(
        conn: &mut PgConnection,
        shift_id: Uuid,
    ) -> Result<DomainEvent, MatchingError> {
        let (facility_id, shift) = Self::offered_terms(conn, shift_id).await?;
        Ok(DomainEvent::ShiftOpened {
            shift_id,
            facility_id,
            shift,
        })
    }

    /// The event announcing that the terms of open shift `shift_id` changed.
    async fn updated_event(
        conn: &mut PgConnection,
        shift_id: Uuid,
    ) -> Result<DomainEvent, MatchingError> {
        let (facility_id, shift) = Self::offered_terms(&mut *conn, shift_id).await?;
        let opened_seq =
            sqlx::query_scalar!("SELECT opened_seq FROM shifts WHERE id = $1", shift_id)
                .fetch_one(&mut *conn)
                .await?
                .unwrap_or(0);
        Ok(DomainEvent::ShiftUpdated {
            shift_id,
            facility_id,
            shift,
            opened_seq,
            boosted: false,
            widened: false,
        })
    }

    /// What an offer of `shift_id` shows, and what its eligibility needs.
    async fn offered_terms(
        conn: &mut PgConnection,
        shift_id: Uuid,
    ) -> Result<(Uuid, Box<OpenedShift>), MatchingError> {
        let row = sqlx::query!(
            r#"SELECT s.facility_id, f.name AS facility_name, s.facility_state, s.role,
                      s.location::geometry AS "location!: geo_sql::Wkb",
                      s.starts_at, s.ends_at, s.hourly_rate_cents, s.unit,
                      s.required_certifications, s.favourites_until,
                      shift_no_shows(s.id) AS "excluded!"
               FROM shifts s JOIN facilities f ON f.id = s.facility_id
               WHERE s.id = $1"#,
            shift_id
        )
        .fetch_one(&mut *conn)
        .await?;
        Ok((
            row.facility_id,
            Box::new(OpenedShift {
                facility_name: row.facility_name,
                facility_state: row.facility_state,
                location: geo_sql::from_sql(row.location)?,
                terms: terms_of!(row)?,
                excluded: row.excluded,
                facility_id: row.facility_id,
                favourites_until: row.favourites_until,
            }),
        ))
    }
}

/// Records `events` in the outbox inside the caller's transaction. Each shift keeps the
/// stream position of the event that last opened and last closed it: offers and
/// withdrawals carry those, and `resume` compares them with what a client has seen.
pub(crate) async fn record(
    conn: &mut PgConnection,
    events: Vec<DomainEvent>,
) -> Result<Vec<PublishedEvent>, MatchingError> {
    let published = shiftwire_outbox::record(&mut *conn, events).await?;
    for PublishedEvent { seq, event } in &published {
        let (shift_id, closed) = match event {
            DomainEvent::ShiftUpdated { shift_id, .. } => {
                sqlx::query!(
                    "UPDATE shifts SET updated_seq = $2 WHERE id = $1",
                    shift_id,
                    seq
                )
                .execute(&mut *conn)
                .await?;
                continue;
            }
            DomainEvent::ShiftOpened { shift_id, .. } => (*shift_id, None),
            DomainEvent::ShiftBooked { shift_id, .. } => (*shift_id, Some("booked")),
            DomainEvent::ShiftCancelled { shift_id, .. } => (*shift_id, Some("cancelled")),
            _ => continue,
        };
        sqlx::query!(
            "UPDATE shifts SET
                 opened_seq = CASE WHEN $3::text IS NULL THEN $2 ELSE opened_seq END,
                 closed_seq = CASE WHEN $3::text IS NULL THEN closed_seq ELSE $2 END,
                 closed_reason = COALESCE($3, closed_reason)
             WHERE id = $1",
            shift_id,
            seq,
            closed
        )
        .execute(&mut *conn)
        .await?;
    }
    Ok(published)
}

/// A reason a person gave (`shiftwire_core::text::reason`).
fn required_reason(reason: &str) -> Result<&str, MatchingError> {
    shiftwire_core::text::reason(reason).ok_or(MatchingError::ReasonRequired)
}

/// Values as the database holds them, back into the vocabulary of `shiftwire_core`.
pub(crate) mod stored {
    use super::MatchingError;
    use chrono::{DateTime, Utc};
    use shiftwire_core::{CredentialKind, HourlyRate, ShiftTerms, ShiftWindow, Unit};

    pub(crate) fn parse<T: std::str::FromStr>(value: &str, what: &str) -> Result<T, MatchingError> {
        value
            .parse()
            .map_err(|_| MatchingError::Invalid(format!("stored {what} {value:?} is unknown")))
    }

    pub(crate) fn kinds(values: &[String]) -> Result<Vec<CredentialKind>, MatchingError> {
        values.iter().map(|k| parse(k, "certification")).collect()
    }

    /// A shift's terms as stored (they were checked when they were written).
    pub(crate) fn terms(
        role: &str,
        starts_at: DateTime<Utc>,
        ends_at: DateTime<Utc>,
        hourly_rate_cents: i32,
        unit: String,
        required_certifications: &[String],
    ) -> Result<ShiftTerms, MatchingError> {
        Ok(ShiftTerms::from_stored(
            parse(role, "role")?,
            ShiftWindow::from_stored(starts_at, ends_at),
            HourlyRate::from_stored(hourly_rate_cents),
            Unit::from_stored(unit),
            kinds(required_certifications)?,
        ))
    }
}

/// Certification names as stored: sorted, each once.
fn certification_names(kinds: &[CredentialKind]) -> Vec<String> {
    kinds.iter().map(|k| k.as_str().to_owned()).collect()
}
