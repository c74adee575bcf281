use crate::{
    HandoffPacket, Matching, MatchingError, NewShift, Shift, ShiftBooking, ShiftPatch,
    required_reason, stored,
};
use chrono::{DateTime, Duration, Utc};
use shiftwire_core::{CredentialKind, DomainEvent, ShiftStatus, new_id};
use shiftwire_outbox::audit::{self, AuditRecord};
use uuid::Uuid;

/// Filters of a facility's shift list.
#[derive(Default)]
pub struct ShiftFilter {
    pub status: Option<ShiftStatus>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    /// `(starts_at, id)` of the last item of the previous page.
    pub after: Option<(DateTime<Utc>, Uuid)>,
    pub limit: i64,
}

fn invalid(why: impl Into<String>) -> MatchingError {
    MatchingError::Invalid(why.into())
}

/// The shortest shift: a shorter one is a typo, not a shift.
pub const MIN_SHIFT: Duration = Duration::hours(1);

fn check_window(starts_at: DateTime<Utc>, ends_at: DateTime<Utc>) -> Result<(), MatchingError> {
    if starts_at <= Utc::now() {
        return Err(invalid("starts_at must be in the future"));
    }
    if ends_at <= starts_at {
        return Err(invalid("ends_at must be after starts_at"));
    }
    if ends_at - starts_at < MIN_SHIFT {
        return Err(invalid("a shift lasts at least 1 hour"));
    }
    if ends_at - starts_at > Duration::hours(24) {
        return Err(invalid("a shift lasts at most 24 hours"));
    }
    Ok(())
}

fn check_rate(cents: i32) -> Result<(), MatchingError> {
    if !(1..=100_000).contains(&cents) {
        return Err(invalid("hourly_rate_cents must be between 1 and 100000"));
    }
    Ok(())
}

fn check_certifications(kinds: &[CredentialKind]) -> Result<Vec<String>, MatchingError> {
    if kinds.iter().any(|k| k.is_licence()) {
        return Err(invalid(
            "required_certifications takes BLS, ACLS or PALS; the licence is the shift's role",
        ));
    }
    let mut names: Vec<String> = kinds.iter().map(|k| k.as_str().to_owned()).collect();
    names.sort();
    names.dedup();
    Ok(names)
}

fn check_unit(unit: &str) -> Result<String, MatchingError> {
    let unit = unit.trim();
    if shiftwire_core::text::is_blank(unit) || unit.chars().count() > 100 {
        return Err(invalid("unit must be 1 to 100 characters"));
    }
    Ok(unit.to_owned())
}

fn handoff_json(handoff: &HandoffPacket) -> Result<serde_json::Value, MatchingError> {
    serde_json::to_value(handoff).map_err(|e| invalid(e.to_string()))
}

impl Matching {
    /// Posts an open shift at a facility in the scheduler's `scope`.
    pub async fn create_shift(
        &self,
        owner_id: Uuid,
        scope: &[Uuid],
        facility_id: Uuid,
        new: NewShift,
    ) -> Result<Shift, MatchingError> {
        if !scope.contains(&facility_id) {
            return Err(MatchingError::NotFound);
        }
        if !new.role.is_licence() {
            return Err(invalid("role must be RN, LPN, CNA or NP"));
        }
        check_window(new.starts_at, new.ends_at)?;
        check_rate(new.hourly_rate_cents)?;
        let certifications = check_certifications(&new.required_certifications)?;
        let unit = check_unit(&new.unit)?;
        let handoff = new.handoff.validated().map_err(MatchingError::Invalid)?;

        let mut tx = self.pool.begin().await?;
        let id = new_id();
        let inserted = sqlx::query!(
            "INSERT INTO shifts (id, facility_id, owner_id, role, starts_at, ends_at,
                                 hourly_rate_cents, required_certifications, unit, handoff,
                                 location, facility_state)
             SELECT $1, f.id, $3, $4, $5, $6, $7, $8, $9, $10, f.location, f.state
             FROM facilities f WHERE f.id = $2",
            id,
            facility_id,
            owner_id,
            new.role.as_str(),
            new.starts_at,
            new.ends_at,
            new.hourly_rate_cents,
            &certifications,
            unit,
            handoff_json(&handoff)?
        )
        .execute(&mut *tx)
        .await?;
        if inserted.rows_affected() != 1 {
            return Err(MatchingError::NotFound);
        }
        let event = Self::opened_event(&mut tx, id).await?;
        self.commit(tx, vec![event]).await?;
        self.shift(scope, id).await
    }

    /// Shifts of one facility in the scheduler's scope, by start time.
    pub async fn facility_shifts(
        &self,
        scope: &[Uuid],
        facility_id: Uuid,
        filter: &ShiftFilter,
    ) -> Result<Vec<Shift>, MatchingError> {
        if !scope.contains(&facility_id) {
            return Err(MatchingError::NotFound);
        }
        self.select_shifts(None, Some(facility_id), filter).await
    }

    /// One shift, if it belongs to a facility in `scope`.
    pub async fn shift(&self, scope: &[Uuid], id: Uuid) -> Result<Shift, MatchingError> {
        let filter = ShiftFilter {
            limit: 1,
            ..ShiftFilter::default()
        };
        let shift = self
            .select_shifts(Some(id), None, &filter)
            .await?
            .pop()
            .ok_or(MatchingError::NotFound)?;
        if !scope.contains(&shift.facility_id) {
            return Err(MatchingError::NotFound);
        }
        Ok(shift)
    }

    async fn select_shifts(
        &self,
        id: Option<Uuid>,
        facility_id: Option<Uuid>,
        filter: &ShiftFilter,
    ) -> Result<Vec<Shift>, MatchingError> {
        let (after_at, after_id) = filter.after.unzip();
        let rows = sqlx::query!(
            r#"SELECT s.id, s.facility_id, s.owner_id, s.role, s.starts_at, s.ends_at,
                      s.hourly_rate_cents, s.required_certifications, s.unit, s.handoff,
                      s.handoff_version, s.status, s.release_count, s.cancel_reason, s.created_at,
                      (s.status = 'open' AND s.starts_at <= now() + make_interval(mins => $8))
                          AS "at_risk!",
                      b.id AS "booking_id?", b.nurse_id AS "booking_nurse_id?",
                      u.name AS "booking_nurse_name?",
                      b.handoff_acknowledged_version AS "acknowledged_version?"
               FROM shifts s
               LEFT JOIN bookings b ON b.shift_id = s.id
                    AND b.status IN ('booked', 'in_progress', 'completed')
               LEFT JOIN users u ON u.id = b.nurse_id
               WHERE ($1::uuid IS NULL OR s.id = $1)
                 AND ($2::uuid IS NULL OR s.facility_id = $2)
                 AND ($3::text IS NULL OR s.status = $3)
                 AND ($4::timestamptz IS NULL OR s.starts_at >= $4)
                 AND ($5::timestamptz IS NULL OR s.starts_at < $5)
                 AND ($6::timestamptz IS NULL OR (s.starts_at, s.id) > ($6, $7))
               ORDER BY s.starts_at, s.id
               LIMIT $9"#,
            id,
            facility_id,
            filter.status.map(ShiftStatus::as_str),
            filter.from,
            filter.to,
            after_at,
            after_id,
            self.alert_minutes(),
            filter.limit
        )
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|r| {
                let booking = match (r.booking_id, r.booking_nurse_id) {
                    (Some(id), Some(nurse_id)) => Some(ShiftBooking {
                        id,
                        nurse_id,
                        nurse_name: r.booking_nurse_name,
                        handoff_version: r.handoff_version,
                        handoff_acknowledged: r.acknowledged_version == Some(r.handoff_version),
                    }),
                    _ => None,
                };
                Ok(Shift {
                    id: r.id,
                    facility_id: r.facility_id,
                    owner_id: r.owner_id,
                    role: stored(&r.role, "role")?,
                    starts_at: r.starts_at,
                    ends_at: r.ends_at,
                    hourly_rate_cents: r.hourly_rate_cents,
                    required_certifications: r
                        .required_certifications
                        .iter()
                        .map(|c| stored(c, "certification"))
                        .collect::<Result<_, _>>()?,
                    unit: r.unit,
                    handoff: serde_json::from_value(r.handoff)
                        .map_err(|e| MatchingError::Invalid(e.to_string()))?,
                    handoff_version: r.handoff_version,
                    status: stored(&r.status, "status")?,
                    at_risk: r.at_risk,
                    release_count: r.release_count,
                    cancel_reason: r.cancel_reason,
                    booking,
                    created_at: r.created_at,
                })
            })
            .collect()
    }

    /// Changes an open or booked shift, under the shift's row lock (a claim waits for it,
    /// or it for the claim: the booking always matches the shift as it stands).
    ///
    /// Open: any field; nurses holding its offer hear the new terms (`shift.updated`),
    /// or a withdrawal if they no longer qualify, and newly eligible nurses an offer.
    /// Booked: role, times and certifications are the booking's terms and stay
    /// (`shift_booked`: cancel and repost); the rate may only rise; a new rate, unit or
    /// handoff reaches the nurse (`booking.updated`), and a new unit or handoff needs her
    /// acknowledgement again. Every change is audited with its before and after.
    pub async fn update_shift(
        &self,
        actor: Uuid,
        scope: &[Uuid],
        id: Uuid,
        patch: ShiftPatch,
    ) -> Result<Shift, MatchingError> {
        let mut tx = self.pool.begin().await?;
        let current = sqlx::query!(
            "SELECT facility_id, status, role, starts_at, ends_at, hourly_rate_cents,
                    required_certifications, unit, handoff
             FROM shifts WHERE id = $1 FOR UPDATE",
            id
        )
        .fetch_optional(&mut *tx)
        .await?
        .filter(|s| scope.contains(&s.facility_id))
        .ok_or(MatchingError::NotFound)?;
        let status: ShiftStatus = stored(&current.status, "status")?;
        if !matches!(status, ShiftStatus::Open | ShiftStatus::Booked) {
            return Err(MatchingError::Conflict(
                "shift_not_editable",
                format!("a {status} shift cannot be changed"),
            ));
        }
        let current_role: CredentialKind = stored(&current.role, "role")?;
        let mut current_certifications: Vec<String> = current.required_certifications.clone();
        current_certifications.sort();
        let current_handoff: HandoffPacket = serde_json::from_value(current.handoff.clone())
            .map_err(|e| MatchingError::Invalid(e.to_string()))?;

        let role = patch.role.filter(|r| *r != current_role);
        if let Some(role) = role
            && !role.is_licence()
        {
            return Err(invalid("role must be RN, LPN, CNA or NP"));
        }
        let starts_at = patch.starts_at.unwrap_or(current.starts_at);
        let ends_at = patch.ends_at.unwrap_or(current.ends_at);
        let times_change = starts_at != current.starts_at || ends_at != current.ends_at;
        let certifications = patch
            .required_certifications
            .as_deref()
            .map(check_certifications)
            .transpose()?
            .filter(|c| *c != current_certifications);
        let rate = patch
            .hourly_rate_cents
            .filter(|r| *r != current.hourly_rate_cents);
        let unit = patch
            .unit
            .as_deref()
            .map(check_unit)
            .transpose()?
            .filter(|u| *u != current.unit);
        let handoff = patch
            .handoff
            .map(|h| h.validated().map_err(MatchingError::Invalid))
            .transpose()?
            .filter(|h| *h != current_handoff);
        if status == ShiftStatus::Booked {
            if role.is_some() || times_change || certifications.is_some() {
                return Err(MatchingError::ShiftBooked(
                    "the role, times and required certifications of a booked shift are the booking's terms; cancel it and post a new one",
                ));
            }
            if rate.is_some_and(|r| r < current.hourly_rate_cents) {
                return Err(MatchingError::ShiftBooked(
                    "the rate of a booked shift may only rise",
                ));
            }
        }
        if times_change {
            check_window(starts_at, ends_at)?;
        }
        if let Some(cents) = rate {
            check_rate(cents)?;
        }
        if role.is_none()
            && !times_change
            && certifications.is_none()
            && rate.is_none()
            && unit.is_none()
            && handoff.is_none()
        {
            drop(tx);
            return self.shift(scope, id).await;
        }
        let handoff_json = handoff.as_ref().map(handoff_json).transpose()?;
        // A new handoff, or a new unit on a booked shift, is a new version the nurse must
        // acknowledge.
        let new_version = handoff.is_some() || (status == ShiftStatus::Booked && unit.is_some());
        let updated = sqlx::query!(
            "UPDATE shifts SET
                 role = COALESCE($2, role),
                 starts_at = $3, ends_at = $4,
                 hourly_rate_cents = COALESCE($5, hourly_rate_cents),
                 required_certifications = COALESCE($6, required_certifications),
                 unit = COALESCE($7, unit),
                 handoff = COALESCE($8, handoff),
                 handoff_version = handoff_version + CASE WHEN $9 THEN 1 ELSE 0 END,
                 updated_at = now()
             WHERE id = $1
             RETURNING handoff_version",
            id,
            role.map(CredentialKind::as_str),
            starts_at,
            ends_at,
            rate,
            certifications.as_deref(),
            unit,
            handoff_json,
            new_version
        )
        .fetch_one(&mut *tx)
        .await?;
        let mut before = serde_json::Map::new();
        let mut after = serde_json::Map::new();
        let mut changed = |field: &str, old: serde_json::Value, new: serde_json::Value| {
            before.insert(field.into(), old);
            after.insert(field.into(), new);
        };
        if let Some(role) = role {
            changed("role", current_role.as_str().into(), role.as_str().into());
        }
        if times_change {
            changed(
                "starts_at",
                serde_json::json!(current.starts_at),
                serde_json::json!(starts_at),
            );
            changed(
                "ends_at",
                serde_json::json!(current.ends_at),
                serde_json::json!(ends_at),
            );
        }
        if let Some(rate) = rate {
            changed(
                "hourly_rate_cents",
                current.hourly_rate_cents.into(),
                rate.into(),
            );
        }
        if let Some(certifications) = &certifications {
            changed(
                "required_certifications",
                serde_json::json!(current_certifications),
                serde_json::json!(certifications),
            );
        }
        if let Some(unit) = &unit {
            changed("unit", current.unit.clone().into(), unit.clone().into());
        }
        if let Some(json) = &handoff_json {
            changed("handoff", current.handoff.clone(), json.clone());
        }
        audit::record(
            &mut tx,
            AuditRecord {
                actor: Some(actor),
                action: "shift.updated",
                subject_type: "shift",
                subject_id: id,
                reason: None,
                details: serde_json::json!({ "status": status, "before": before, "after": after }),
            },
        )
        .await?;
        let mut events = Vec::new();
        match status {
            ShiftStatus::Booked => {
                let booking = sqlx::query!(
                    "SELECT id, nurse_id FROM bookings WHERE shift_id = $1 AND status = 'booked'",
                    id
                )
                .fetch_one(&mut *tx)
                .await?;
                events.push(if new_version {
                    DomainEvent::HandoffUpdated {
                        shift_id: id,
                        facility_id: current.facility_id,
                        booking_id: booking.id,
                        nurse_id: booking.nurse_id,
                        version: updated.handoff_version,
                    }
                } else {
                    DomainEvent::BookingUpdated {
                        booking_id: booking.id,
                        shift_id: id,
                        facility_id: current.facility_id,
                        nurse_id: booking.nurse_id,
                    }
                });
            }
            _ => {
                // What an offer shows changed (the handoff is not in offers).
                let offered_terms = role.is_some()
                    || times_change
                    || rate.is_some()
                    || certifications.is_some()
                    || unit.is_some();
                if offered_terms {
                    events.push(Self::updated_event(&mut tx, id).await?);
                }
            }
        }
        self.commit(tx, events).await?;
        self.shift(scope, id).await
    }

    /// Cancels an open or booked shift (and its booking), with a reason.
    pub async fn cancel_shift(
        &self,
        actor: Uuid,
        scope: &[Uuid],
        id: Uuid,
        reason: &str,
    ) -> Result<Shift, MatchingError> {
        let reason = required_reason(reason)?;
        let current = self.shift(scope, id).await?;
        let mut tx = self.pool.begin().await?;
        let cancelled = sqlx::query!(
            "UPDATE shifts SET status = 'cancelled', cancel_reason = $2, updated_at = now()
             WHERE id = $1 AND status IN ('open', 'booked')
             RETURNING facility_id",
            id,
            reason
        )
        .fetch_optional(&mut *tx)
        .await?;
        let Some(cancelled) = cancelled else {
            return Err(MatchingError::Conflict(
                "shift_not_cancellable",
                format!("a {} shift cannot be cancelled", current.status),
            ));
        };
        let nurse_id = sqlx::query_scalar!(
            "UPDATE bookings SET status = 'cancelled', cancel_reason = 'facility_cancelled',
                                 cancel_detail = $2, cancelled_at = now()
             WHERE shift_id = $1 AND status = 'booked'
             RETURNING nurse_id",
            id,
            reason
        )
        .fetch_optional(&mut *tx)
        .await?;
        audit::record(
            &mut tx,
            AuditRecord {
                actor: Some(actor),
                action: "shift.cancelled",
                subject_type: "shift",
                subject_id: id,
                reason: Some(reason),
                details: serde_json::json!({ "status": current.status, "nurse_id": nurse_id }),
            },
        )
        .await?;
        let event = DomainEvent::ShiftCancelled {
            shift_id: id,
            facility_id: cancelled.facility_id,
            nurse_id,
        };
        self.commit(tx, vec![event]).await?;
        self.shift(scope, id).await
    }
}
