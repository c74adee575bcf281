use crate::{
    Booking, CHECK_IN_OPENS_BEFORE, CHECK_OUT_CLOSES_AFTER, Matching, MatchingError, NurseRecord,
    WORKED_TIME_CAP_AFTER, required_reason, stored,
};
use chrono::Utc;
use shiftwire_core::{
    Coordinates, CredentialKind, DomainEvent, ReleaseReason, ShiftStatus,
    eligibility::{HeldCredential, Ineligible, NurseFacts, ShiftFacts, eligibility},
    new_id,
};
use sqlx::{PgConnection, postgres::types::PgRange};
use std::collections::HashMap;
use uuid::Uuid;

/// What eligibility needs to know about a nurse, read from the database.
pub(crate) async fn nurse_facts(
    conn: &mut PgConnection,
    nurse_id: Uuid,
) -> Result<NurseFacts, MatchingError> {
    nurse_records(conn, &[nurse_id])
        .await?
        .remove(&nurse_id)
        .map(|record| record.facts)
        .ok_or(MatchingError::NotFound)
}

/// What eligibility needs to know about a shift, read from the database.
pub(crate) async fn shift_facts_of(
    conn: &mut PgConnection,
    shift_id: Uuid,
) -> Result<ShiftFacts, MatchingError> {
    let row = sqlx::query!(
        r#"SELECT role, facility_state, starts_at, ends_at, required_certifications,
                  ST_Y(location::geometry) AS "lat!", ST_X(location::geometry) AS "lon!"
           FROM shifts WHERE id = $1"#,
        shift_id
    )
    .fetch_optional(conn)
    .await?
    .ok_or(MatchingError::NotFound)?;
    Ok(ShiftFacts {
        role: stored(&row.role, "role")?,
        facility_state: row.facility_state,
        facility_location: Coordinates::new(row.lat, row.lon)
            .map_err(|e| MatchingError::Invalid(e.to_string()))?,
        starts_at: row.starts_at,
        ends_at: row.ends_at,
        required_certifications: row
            .required_certifications
            .iter()
            .map(|c| stored(c, "certification"))
            .collect::<Result<_, _>>()?,
    })
}

/// What eligibility needs to know about each of `nurse_ids` that is a nurse, in three
/// queries whatever their number. Nurses' positions are live if reported within
/// [`LIVE_LOCATION_TTL`], else home.
pub(crate) async fn nurse_records(
    conn: &mut PgConnection,
    nurse_ids: &[Uuid],
) -> Result<HashMap<Uuid, NurseRecord>, MatchingError> {
    let now = Utc::now();
    let nurses = sqlx::query!(
        r#"SELECT id, suspended_at IS NOT NULL AS "suspended!", available, max_distance_km,
                  ST_Y(home::geometry) AS lat, ST_X(home::geometry) AS lon,
                  ST_Y(live_location::geometry) AS live_lat,
                  ST_X(live_location::geometry) AS live_lon, live_location_at
           FROM users WHERE id = ANY($1) AND role = 'nurse'"#,
        nurse_ids
    )
    .fetch_all(&mut *conn)
    .await?;
    let point = |lat: Option<f64>, lon: Option<f64>| match (lat, lon) {
        (Some(lat), Some(lon)) => Coordinates::new(lat, lon).ok(),
        _ => None,
    };
    let mut records: HashMap<Uuid, NurseRecord> = nurses
        .into_iter()
        .map(|n| {
            let home = point(n.lat, n.lon);
            let live = point(n.live_lat, n.live_lon).zip(n.live_location_at);
            let record = NurseRecord {
                facts: NurseFacts {
                    suspended: n.suspended,
                    available: n.available,
                    credentials: Vec::new(),
                    position: None,
                    max_distance_km: n.max_distance_km,
                    booked: Vec::new(),
                },
                home,
                live,
            };
            (n.id, record.positioned(now))
        })
        .collect();
    let credentials = sqlx::query!(
        "SELECT nurse_id, kind, issuing_state, multistate, expires_on FROM credentials
         WHERE nurse_id = ANY($1) AND status = 'approved'",
        nurse_ids
    )
    .fetch_all(&mut *conn)
    .await?;
    for c in credentials {
        if let Some(record) = records.get_mut(&c.nurse_id) {
            record.facts.credentials.push(HeldCredential {
                kind: stored::<CredentialKind>(&c.kind, "kind")?,
                state: c.issuing_state,
                multistate: c.multistate,
                expires_on: c.expires_on,
            });
        }
    }
    let booked = sqlx::query!(
        r#"SELECT nurse_id, lower(during) AS "start!", upper(during) AS "end!" FROM bookings
           WHERE nurse_id = ANY($1) AND status IN ('booked', 'in_progress')"#,
        nurse_ids
    )
    .fetch_all(&mut *conn)
    .await?;
    for b in booked {
        if let Some(record) = records.get_mut(&b.nurse_id) {
            record.facts.booked.push((b.start, b.end));
        }
    }
    Ok(records)
}

impl Matching {
    /// Claims an open shift for `nurse_id`: the first valid claim wins.
    pub async fn claim(&self, nurse_id: Uuid, shift_id: Uuid) -> Result<Booking, MatchingError> {
        let mut tx = self.pool.begin().await?;
        // The shift's row lock: a change of its terms (PATCH) waits for this claim or this
        // claim for it, and the booking is built from the row as locked.
        let shift = sqlx::query!(
            r#"SELECT s.status, s.role, s.starts_at, s.ends_at, s.required_certifications,
                      s.facility_id, s.facility_state,
                      ST_Y(s.location::geometry) AS "lat!", ST_X(s.location::geometry) AS "lon!"
               FROM shifts s WHERE s.id = $1
               FOR UPDATE"#,
            shift_id
        )
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(MatchingError::NotFound)?;
        let now = Utc::now();
        let status: ShiftStatus = stored(&shift.status, "status")?;
        match status {
            ShiftStatus::Open if shift.starts_at > now => {}
            ShiftStatus::Booked | ShiftStatus::InProgress | ShiftStatus::Completed => {
                return Err(MatchingError::ShiftTaken);
            }
            _ => return Err(MatchingError::ShiftNotOpen),
        }
        let facts = nurse_facts(&mut tx, nurse_id).await?;
        let shift_facts = ShiftFacts {
            role: stored(&shift.role, "role")?,
            facility_state: shift.facility_state,
            facility_location: Coordinates::new(shift.lat, shift.lon)
                .map_err(|e| MatchingError::Invalid(e.to_string()))?,
            starts_at: shift.starts_at,
            ends_at: shift.ends_at,
            required_certifications: shift
                .required_certifications
                .iter()
                .map(|c| stored(c, "certification"))
                .collect::<Result<_, _>>()?,
        };
        match eligibility(&facts, &shift_facts, now) {
            Ok(()) => {}
            Err(Ineligible::NotVerified) => return Err(MatchingError::NotVerified),
            Err(Ineligible::ScheduleConflict) => return Err(MatchingError::ScheduleConflict),
            Err(rule) => return Err(MatchingError::NotEligible(rule)),
        }
        // The race is decided here: of all concurrent claims, one finds the shift open.
        let won = sqlx::query!(
            "UPDATE shifts SET status = 'booked', updated_at = now()
             WHERE id = $1 AND status = 'open' AND starts_at > now()",
            shift_id
        )
        .execute(&mut *tx)
        .await?;
        if won.rows_affected() != 1 {
            let status = sqlx::query_scalar!("SELECT status FROM shifts WHERE id = $1", shift_id)
                .fetch_one(&mut *tx)
                .await?;
            return Err(if status == "cancelled" || status == "open" {
                MatchingError::ShiftNotOpen
            } else {
                MatchingError::ShiftTaken
            });
        }
        let booking_id = new_id();
        sqlx::query!(
            "INSERT INTO bookings (id, shift_id, nurse_id, during) VALUES ($1, $2, $3, $4)",
            booking_id,
            shift_id,
            nurse_id,
            PgRange::from(shift_facts.starts_at..shift_facts.ends_at)
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
        self.booking(nurse_id, booking_id).await
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
        let row = sqlx::query!(
            "SELECT b.status, b.shift_id, s.starts_at, s.facility_id
             FROM bookings b JOIN shifts s ON s.id = b.shift_id
             WHERE b.id = $1 AND b.nurse_id = $2
             FOR UPDATE OF b, s",
            booking_id,
            nurse_id
        )
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(MatchingError::NotFound)?;
        if row.status != "booked" || row.starts_at <= Utc::now() {
            return Err(MatchingError::Conflict(
                "not_releasable",
                "only a booked shift that has not started can be released".into(),
            ));
        }
        sqlx::query!(
            "UPDATE bookings SET status = 'released', release_reason = $2, released_at = now()
             WHERE id = $1",
            booking_id,
            reason
        )
        .execute(&mut *tx)
        .await?;
        sqlx::query!(
            "UPDATE shifts SET status = 'open', release_count = release_count + 1,
                               updated_at = now()
             WHERE id = $1",
            row.shift_id
        )
        .execute(&mut *tx)
        .await?;
        let events = vec![
            DomainEvent::ShiftReleased {
                shift_id: row.shift_id,
                facility_id: row.facility_id,
                booking_id,
                nurse_id,
                reason: ReleaseReason::NurseReleased,
            },
            Self::opened_event(&mut tx, row.shift_id).await?,
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
        let acknowledged = sqlx::query!(
            "UPDATE bookings b SET handoff_acknowledged_version = s.handoff_version
             FROM shifts s
             WHERE b.id = $1 AND b.nurse_id = $2 AND s.id = b.shift_id
               AND b.status IN ('booked', 'in_progress')
             RETURNING s.id AS shift_id, s.facility_id, s.handoff_version",
            booking_id,
            nurse_id
        )
        .fetch_optional(&mut *tx)
        .await?;
        let Some(acknowledged) = acknowledged else {
            // Either not theirs (404) or no longer live (409).
            self.booking(nurse_id, booking_id).await?;
            return Err(MatchingError::Conflict(
                "booking_not_active",
                "this booking is no longer active".into(),
            ));
        };
        let event = DomainEvent::HandoffAcknowledged {
            shift_id: acknowledged.shift_id,
            facility_id: acknowledged.facility_id,
            booking_id,
            nurse_id,
            version: acknowledged.handoff_version,
        };
        self.commit(tx, vec![event]).await?;
        self.booking(nurse_id, booking_id).await
    }

    /// Check-in (`arriving`) or check-out, only inside the facility's geofence.
    pub async fn check(
        &self,
        nurse_id: Uuid,
        booking_id: Uuid,
        at: Coordinates,
        arriving: bool,
    ) -> Result<Booking, MatchingError> {
        let mut tx = self.pool.begin().await?;
        let row = sqlx::query!(
            r#"SELECT b.status, b.shift_id, s.starts_at, s.ends_at, s.facility_id, f.geofence_m,
                      ST_Distance(f.location, ST_SetSRID(ST_MakePoint($3, $4), 4326)::geography)
                          AS "distance_m!"
               FROM bookings b
               JOIN shifts s ON s.id = b.shift_id
               JOIN facilities f ON f.id = s.facility_id
               WHERE b.id = $1 AND b.nurse_id = $2
               FOR UPDATE OF b, s"#,
            booking_id,
            nurse_id,
            at.lon(),
            at.lat()
        )
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(MatchingError::NotFound)?;
        let now = Utc::now();
        if arriving {
            if row.status != "booked" {
                return Err(MatchingError::Conflict(
                    "not_checkable",
                    format!("a {} booking cannot check in", row.status),
                ));
            }
            if now < row.starts_at - CHECK_IN_OPENS_BEFORE || now > row.ends_at {
                return Err(MatchingError::Conflict(
                    "outside_check_in_window",
                    "check-in opens 30 minutes before the start and closes at the end".into(),
                ));
            }
        } else if row.status != "in_progress" {
            return Err(MatchingError::Conflict(
                "not_checkable",
                format!("a {} booking cannot check out", row.status),
            ));
        } else if now > row.ends_at + CHECK_OUT_CLOSES_AFTER {
            return Err(MatchingError::Conflict(
                "outside_check_out_window",
                "check-out closes 2 hours after the end; ask the facility to record your hours"
                    .into(),
            ));
        }
        if row.distance_m > f64::from(row.geofence_m) {
            return Err(MatchingError::OutsideGeofence {
                distance_m: row.distance_m,
                geofence_m: row.geofence_m,
            });
        }
        if arriving {
            sqlx::query!(
                "UPDATE bookings SET status = 'in_progress', checked_in_at = now() WHERE id = $1",
                booking_id
            )
            .execute(&mut *tx)
            .await?;
            sqlx::query!(
                "UPDATE shifts SET status = 'in_progress', updated_at = now() WHERE id = $1",
                row.shift_id
            )
            .execute(&mut *tx)
            .await?;
        } else {
            // Worked time runs to check-out, at most until 30 minutes after the end.
            let counted_until = now.min(row.ends_at + WORKED_TIME_CAP_AFTER);
            sqlx::query!(
                "UPDATE bookings SET status = 'completed', checked_out_at = $2,
                     worked_minutes = GREATEST(0, floor(EXTRACT(EPOCH FROM $3 - checked_in_at) / 60))::int
                 WHERE id = $1",
                booking_id,
                now,
                counted_until
            )
            .execute(&mut *tx)
            .await?;
            sqlx::query!(
                "UPDATE shifts SET status = 'completed', updated_at = now() WHERE id = $1",
                row.shift_id
            )
            .execute(&mut *tx)
            .await?;
        }
        let event = DomainEvent::BookingUpdated {
            booking_id,
            shift_id: row.shift_id,
            facility_id: row.facility_id,
            nurse_id,
        };
        self.commit(tx, vec![event]).await?;
        self.booking(nurse_id, booking_id).await
    }
}
