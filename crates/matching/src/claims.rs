//! A nurse's side of a shift: the claim (first valid claim wins), the release, the
//! handoff acknowledgement, and check-in and check-out inside the facility's geofence.
//! Each change asks the shift and booking machines of `shiftwire_core` first, and writes
//! the state they answer.

use crate::attendance::Cause;
use crate::{
    Booking, CHECK_IN_OPENS_BEFORE, CHECK_OUT_CLOSES_AFTER, Matching, MatchingError,
    WORKED_TIME_CAP_AFTER, geo_sql, required_reason, standing, stored,
};
use chrono::{DateTime, Utc};
use shiftwire_core::{
    BookingAction, BookingStatus, Coordinates, DomainEvent, ReleaseReason, ShiftAction,
    ShiftStatus,
    eligibility::{Ineligible, ShiftFacts, eligibility},
    new_id,
};
use sqlx::{PgConnection, postgres::types::PgRange};
use uuid::Uuid;

/// What eligibility needs to know about a shift, read from the database.
pub(crate) async fn shift_facts_of(
    conn: &mut PgConnection,
    shift_id: Uuid,
) -> Result<ShiftFacts, MatchingError> {
    let row = sqlx::query!(
        r#"SELECT role, facility_state, starts_at, ends_at, hourly_rate_cents, unit,
                  required_certifications, location::geometry AS "location!: geo_sql::Wkb",
                  facility_id, favourites_until,
                  shift_no_shows(shifts.id) AS "excluded!"
           FROM shifts WHERE id = $1"#,
        shift_id
    )
    .fetch_optional(conn)
    .await?
    .ok_or(MatchingError::NotFound)?;
    Ok(ShiftFacts {
        terms: terms_of!(row)?,
        facility_state: row.facility_state,
        facility_location: geo_sql::from_sql(row.location)?,
        excluded: row.excluded,
        facility_id: row.facility_id,
        favourites_until: row.favourites_until,
    })
}

/// A nurse's booking and its shift, locked for a change.
pub(crate) struct Locked {
    pub(crate) status: BookingStatus,
    pub(crate) shift_id: Uuid,
    shift_status: ShiftStatus,
    pub(crate) starts_at: DateTime<Utc>,
    ends_at: DateTime<Utc>,
    pub(crate) facility_id: Uuid,
    geofence_m: i32,
    /// From the facility to the point given, if one was.
    distance_m: Option<f64>,
}

impl Matching {
    /// Claims an open shift for `nurse_id`: the first valid claim wins.
    pub async fn claim(&self, nurse_id: Uuid, shift_id: Uuid) -> Result<Booking, MatchingError> {
        let booking_id = self.commit_claim(nurse_id, shift_id).await?;
        self.booking(nurse_id, booking_id).await
    }

    /// [`Self::claim`] up to its commit: the new booking's id. Claims waiting behind
    /// this one (`api`'s claim gate) learn the shift is taken without waiting for the
    /// booking to be read back.
    pub async fn commit_claim(
        &self,
        nurse_id: Uuid,
        shift_id: Uuid,
    ) -> Result<Uuid, MatchingError> {
        let now = self.clock.now();
        let mut tx = self.pool.begin().await?;
        // The shift's row lock: a change of its terms (PATCH) waits for this claim or this
        // claim for it, and the booking is built from the row as locked. A shift may be
        // claimed until its start, or one that re-opened after a no-show until an hour
        // before its end.
        let shift = sqlx::query!(
            "SELECT status, facility_id,
                    COALESCE(late_claim_until, starts_at) > $2 AS \"upcoming!\"
             FROM shifts WHERE id = $1 FOR UPDATE",
            shift_id,
            now
        )
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(MatchingError::NotFound)?;
        let status: ShiftStatus = stored::parse(&shift.status, "status")?;
        let booked = match status.apply(ShiftAction::Claim) {
            Ok(booked) if shift.upcoming => booked,
            _ if matches!(
                status,
                ShiftStatus::Booked | ShiftStatus::InProgress | ShiftStatus::Completed
            ) =>
            {
                return Err(MatchingError::ShiftTaken);
            }
            _ => return Err(MatchingError::ShiftNotOpen),
        };
        // Her standing cannot change until this commits (see `standing`).
        standing::lock_nurse_shared(&mut tx, nurse_id).await?;
        let facts = self.nurse_facts(&mut tx, nurse_id).await?;
        let shift_facts = shift_facts_of(&mut tx, shift_id).await?;
        match eligibility(&facts, &shift_facts, now) {
            Ok(()) => {}
            Err(Ineligible::NotVerified) => return Err(MatchingError::NotVerified),
            Err(Ineligible::ScheduleConflict) => return Err(MatchingError::ScheduleConflict),
            Err(Ineligible::AttendanceRestricted) => {
                return Err(MatchingError::AttendanceRestricted(
                    facts.restricted_until.unwrap_or(now),
                ));
            }
            Err(rule) => return Err(MatchingError::NotEligible(rule)),
        }
        sqlx::query!(
            "UPDATE shifts SET status = $2, updated_at = now() WHERE id = $1",
            shift_id,
            booked.as_str()
        )
        .execute(&mut *tx)
        .await?;
        let booking_id = new_id();
        let window = shift_facts.terms.window;
        sqlx::query!(
            "INSERT INTO bookings (id, shift_id, nurse_id, during, status, created_at)
             VALUES ($1, $2, $3, $4, $5, $6)",
            booking_id,
            shift_id,
            nurse_id,
            PgRange::from(window.starts_at..window.ends_at),
            BookingStatus::Booked.as_str(),
            now
        )
        .execute(&mut *tx)
        .await
        .map_err(
            |e| match e.as_database_error().and_then(|d| d.constraint()) {
                // Two overlapping claims by one nurse raced past the check above.
                Some("bookings_no_overlap") => MatchingError::ScheduleConflict,
                _ => e.into(),
            },
        )?;
        let event = DomainEvent::ShiftBooked {
            shift_id,
            facility_id: shift.facility_id,
            booking_id,
            nurse_id,
        };
        self.commit(tx, vec![event]).await?;
        Ok(booking_id)
    }

    /// Locks `nurse_id`'s booking and its shift; `at` is measured from the facility.
    pub(crate) async fn lock_booking(
        conn: &mut PgConnection,
        nurse_id: Uuid,
        booking_id: Uuid,
        at: Option<Coordinates>,
    ) -> Result<Locked, MatchingError> {
        let row = sqlx::query!(
            r#"SELECT b.status, b.shift_id, s.status AS shift_status, s.starts_at, s.ends_at,
                      s.facility_id, f.geofence_m,
                      ST_Distance(f.location, ST_SetSRID($3::geometry, 4326)::geography)
                          AS distance_m
               FROM bookings b
               JOIN shifts s ON s.id = b.shift_id
               JOIN facilities f ON f.id = s.facility_id
               WHERE b.id = $1 AND b.nurse_id = $2
               FOR UPDATE OF b, s"#,
            booking_id,
            nurse_id,
            at.map(geo_sql::to_sql) as _
        )
        .fetch_optional(conn)
        .await?
        .ok_or(MatchingError::NotFound)?;
        Ok(Locked {
            status: stored::parse(&row.status, "booking status")?,
            shift_id: row.shift_id,
            shift_status: stored::parse(&row.shift_status, "status")?,
            starts_at: row.starts_at,
            ends_at: row.ends_at,
            facility_id: row.facility_id,
            geofence_m: row.geofence_m,
            distance_m: row.distance_m,
        })
    }

    /// A nurse gives a booked shift back before it starts; it opens again for others.
    pub async fn release(
        &self,
        nurse_id: Uuid,
        booking_id: Uuid,
        reason: &str,
    ) -> Result<Booking, MatchingError> {
        let reason = required_reason(reason)?;
        let mut tx = self.pool.begin().await?;
        let locked = Self::lock_booking(&mut tx, nurse_id, booking_id, None).await?;
        let released = locked.status.apply(BookingAction::Release);
        let reopened = locked.shift_status.apply(ShiftAction::Release);
        let (Ok(released), Ok(reopened)) = (released, reopened) else {
            return Err(MatchingError::NotReleasable);
        };
        let now = self.clock.now();
        if locked.starts_at <= now {
            return Err(MatchingError::NotReleasable);
        }
        let claimed_at =
            sqlx::query_scalar!("SELECT created_at FROM bookings WHERE id = $1", booking_id)
                .fetch_one(&mut *tx)
                .await?;
        let cost = shiftwire_core::attendance::release_cost(claimed_at, locked.starts_at, now);
        crate::attendance::record(
            &mut tx,
            nurse_id,
            booking_id,
            Cause::Release,
            cost.points,
            &cost.reason,
            now,
        )
        .await?;
        sqlx::query!(
            "UPDATE bookings SET status = $2, release_reason = $3, released_at = now()
             WHERE id = $1",
            booking_id,
            released.as_str(),
            reason
        )
        .execute(&mut *tx)
        .await?;
        reopen(&mut tx, locked.shift_id, reopened).await?;
        let events = vec![
            DomainEvent::ShiftReleased {
                shift_id: locked.shift_id,
                facility_id: locked.facility_id,
                booking_id,
                nurse_id,
                reason: ReleaseReason::NurseReleased,
            },
            Self::opened_event(&mut tx, locked.shift_id).await?,
        ];
        self.commit(tx, events).await?;
        self.booking(nurse_id, booking_id).await
    }

    /// The nurse confirms they have read the current handoff packet.
    pub async fn acknowledge_handoff(
        &self,
        nurse_id: Uuid,
        booking_id: Uuid,
    ) -> Result<Booking, MatchingError> {
        let mut tx = self.pool.begin().await?;
        let locked = Self::lock_booking(&mut tx, nurse_id, booking_id, None).await?;
        if !locked.status.is_live() {
            return Err(MatchingError::BookingNotActive);
        }
        let version = sqlx::query_scalar!(
            "UPDATE bookings b SET handoff_acknowledged_version = s.handoff_version
             FROM shifts s
             WHERE b.id = $1 AND s.id = b.shift_id
             RETURNING s.handoff_version",
            booking_id
        )
        .fetch_one(&mut *tx)
        .await?;
        let event = DomainEvent::HandoffAcknowledged {
            shift_id: locked.shift_id,
            facility_id: locked.facility_id,
            booking_id,
            nurse_id,
            version,
        };
        self.commit(tx, vec![event]).await?;
        self.booking(nurse_id, booking_id).await
    }

    /// Check-in, from 30 minutes before the start until the end, inside the geofence.
    pub async fn check_in(
        &self,
        nurse_id: Uuid,
        booking_id: Uuid,
        at: Coordinates,
    ) -> Result<Booking, MatchingError> {
        let mut tx = self.pool.begin().await?;
        let check = Check::lock(&mut tx, nurse_id, booking_id, at, Check::IN).await?;
        let now = self.clock.now();
        let locked = &check.locked;
        if now < locked.starts_at - CHECK_IN_OPENS_BEFORE || now > locked.ends_at {
            return Err(MatchingError::OutsideCheckInWindow);
        }
        locked.inside_geofence()?;
        sqlx::query!(
            "UPDATE bookings SET status = $2, checked_in_at = $3 WHERE id = $1",
            booking_id,
            check.booking.as_str(),
            now
        )
        .execute(&mut *tx)
        .await?;
        self.finish(tx, check, nurse_id, booking_id).await
    }

    /// Check-out, until 2 hours after the end, inside the geofence. Worked time runs to
    /// check-out, at most until 30 minutes after the end.
    pub async fn check_out(
        &self,
        nurse_id: Uuid,
        booking_id: Uuid,
        at: Coordinates,
    ) -> Result<Booking, MatchingError> {
        let mut tx = self.pool.begin().await?;
        let check = Check::lock(&mut tx, nurse_id, booking_id, at, Check::OUT).await?;
        let now = self.clock.now();
        let locked = &check.locked;
        if now > locked.ends_at + CHECK_OUT_CLOSES_AFTER {
            return Err(MatchingError::OutsideCheckOutWindow);
        }
        locked.inside_geofence()?;
        let counted_until = now.min(locked.ends_at + WORKED_TIME_CAP_AFTER);
        sqlx::query!(
            "UPDATE bookings SET status = $2, checked_out_at = $3,
                 worked_minutes = GREATEST(0, floor(EXTRACT(EPOCH FROM $4 - checked_in_at) / 60))::int
             WHERE id = $1",
            booking_id,
            check.booking.as_str(),
            now,
            counted_until
        )
        .execute(&mut *tx)
        .await?;
        crate::attendance::record(
            &mut tx,
            nurse_id,
            booking_id,
            Cause::Worked,
            shiftwire_core::attendance::WORKED_POINTS,
            "worked the shift",
            now,
        )
        .await?;
        crate::timesheets::submit(&mut tx, booking_id, counted_until, self.clock.now()).await?;
        self.finish(tx, check, nurse_id, booking_id).await
    }

    /// Moves the shift as the check moved its booking, and announces the booking.
    async fn finish(
        &self,
        mut tx: sqlx::Transaction<'_, sqlx::Postgres>,
        check: Check,
        nurse_id: Uuid,
        booking_id: Uuid,
    ) -> Result<Booking, MatchingError> {
        sqlx::query!(
            "UPDATE shifts SET status = $2, updated_at = now() WHERE id = $1",
            check.locked.shift_id,
            check.shift.as_str()
        )
        .execute(&mut *tx)
        .await?;
        self.commit(tx, vec![check.locked.updated(booking_id, nurse_id)])
            .await?;
        self.booking(nurse_id, booking_id).await
    }
}

/// A shift that opens again for others (released, or its nurse no longer eligible).
pub(crate) async fn reopen(
    conn: &mut PgConnection,
    shift_id: Uuid,
    status: ShiftStatus,
) -> Result<(), MatchingError> {
    sqlx::query!(
        "UPDATE shifts SET status = $2, release_count = release_count + 1, updated_at = now()
         WHERE id = $1",
        shift_id,
        status.as_str()
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// A check-in or check-out under way: the booking locked, and where both machines take
/// it and its shift.
struct Check {
    locked: Locked,
    booking: BookingStatus,
    shift: ShiftStatus,
}

impl Check {
    const IN: (BookingAction, ShiftAction, &'static str) =
        (BookingAction::CheckIn, ShiftAction::CheckIn, "in");
    const OUT: (BookingAction, ShiftAction, &'static str) =
        (BookingAction::CheckOut, ShiftAction::CheckOut, "out");

    async fn lock(
        conn: &mut PgConnection,
        nurse_id: Uuid,
        booking_id: Uuid,
        at: Coordinates,
        (booking, shift, way): (BookingAction, ShiftAction, &'static str),
    ) -> Result<Self, MatchingError> {
        let locked = Matching::lock_booking(conn, nurse_id, booking_id, Some(at)).await?;
        if locked.status == BookingStatus::NoShow {
            return Err(MatchingError::BookingNoShow);
        }
        match (
            locked.status.apply(booking),
            locked.shift_status.apply(shift),
        ) {
            (Ok(booking), Ok(shift)) => Ok(Self {
                locked,
                booking,
                shift,
            }),
            _ => Err(MatchingError::NotCheckable(locked.status, way)),
        }
    }
}

impl Locked {
    fn inside_geofence(&self) -> Result<(), MatchingError> {
        let distance_m = self.distance_m.unwrap_or(f64::INFINITY);
        if distance_m > f64::from(self.geofence_m) {
            return Err(MatchingError::OutsideGeofence {
                distance_m,
                geofence_m: self.geofence_m,
            });
        }
        Ok(())
    }

    fn updated(&self, booking_id: Uuid, nurse_id: Uuid) -> DomainEvent {
        DomainEvent::BookingUpdated {
            booking_id,
            shift_id: self.shift_id,
            facility_id: self.facility_id,
            nurse_id,
        }
    }
}
