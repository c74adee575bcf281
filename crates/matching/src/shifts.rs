use crate::{
    HandoffPacket, Matching, MatchingError, NewShift, Shift, ShiftBooking, ShiftPatch,
    certification_names, required_reason, stored,
};
use chrono::{DateTime, Utc};
use shiftwire_core::{
    BookingAction, BookingStatus, DomainEvent, HourlyRate, ShiftAction, ShiftStatus, ShiftTerms,
    ShiftWindow, new_id, terms,
};
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
        crate::in_scope(scope, facility_id)?;
        let terms = new.terms;
        ShiftWindow::upcoming(terms.starts_at(), terms.ends_at(), Utc::now())?;
        let handoff = new.handoff.validated().map_err(MatchingError::Invalid)?;
        if new.favourites_first_minutes > crate::MAX_FAVOURITES_FIRST_MINUTES {
            return Err(invalid("favourites_first_minutes must be 0 to 120"));
        }
        let favourites_until = (new.favourites_first_minutes > 0).then(|| {
            self.clock.now() + chrono::Duration::minutes(i64::from(new.favourites_first_minutes))
        });

        let mut tx = self.pool.begin().await?;
        let id = new_id();
        let inserted = sqlx::query!(
            "INSERT INTO shifts (id, facility_id, owner_id, role, starts_at, ends_at,
                                 hourly_rate_cents, required_certifications, unit, handoff,
                                 location, facility_state, favourites_until)
             SELECT $1, f.id, $3, $4, $5, $6, $7, $8, $9, $10, f.location, f.state, $11
             FROM facilities f WHERE f.id = $2",
            id,
            facility_id,
            owner_id,
            terms.role.as_str(),
            terms.starts_at(),
            terms.ends_at(),
            terms.hourly_rate_cents.cents(),
            &certification_names(&terms.required_certifications),
            terms.unit.as_str(),
            handoff_json(&handoff)?,
            favourites_until
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
        crate::in_scope(scope, facility_id)?;
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
        crate::in_scope(scope, shift.facility_id)?;
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
                      s.boosted_at, s.late_claim_until,
                      (s.status = 'open' AND s.starts_at <= now() + make_interval(mins => $8))
                          AS "at_risk!",
                      b.id AS "booking_id?", b.nurse_id AS "booking_nurse_id?",
                      b.handoff_acknowledged_version AS "acknowledged_version?",
                      b.eta_at AS "eta_at?"
               FROM shifts s
               LEFT JOIN bookings b ON b.shift_id = s.id
                    AND b.status IN ('booked', 'in_progress', 'completed')
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
                        nurse_name: None,
                        handoff_version: r.handoff_version,
                        handoff_acknowledged: r.acknowledged_version == Some(r.handoff_version),
                        eta_at: r.eta_at,
                    }),
                    _ => None,
                };
                Ok(Shift {
                    id: r.id,
                    facility_id: r.facility_id,
                    owner_id: r.owner_id,
                    terms: terms_of!(r)?,
                    handoff: serde_json::from_value(r.handoff)
                        .map_err(|e| MatchingError::Invalid(e.to_string()))?,
                    handoff_version: r.handoff_version,
                    status: stored::parse(&r.status, "status")?,
                    at_risk: r.at_risk,
                    release_count: r.release_count,
                    cancel_reason: r.cancel_reason,
                    booking,
                    boosted_at: r.boosted_at,
                    reopened_after_no_show: r.late_claim_until.is_some(),
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
        let status: ShiftStatus = stored::parse(&current.status, "status")?;
        // Only what may still be cancelled may still be changed.
        if status.apply(ShiftAction::Cancel).is_err() {
            return Err(MatchingError::ShiftNotEditable(status));
        }
        let was = terms_of!(current)?;
        let current_handoff: HandoffPacket = serde_json::from_value(current.handoff.clone())
            .map_err(|e| MatchingError::Invalid(e.to_string()))?;

        let role = patch.role.filter(|r| *r != was.role);
        let window = ShiftWindow::from_stored(
            patch.starts_at.unwrap_or(was.starts_at()),
            patch.ends_at.unwrap_or(was.ends_at()),
        );
        let times_change = window != was.window;
        let certifications = patch
            .required_certifications
            .map(terms::certifications)
            .transpose()?
            .filter(|c| *c != was.required_certifications);
        let rate = patch
            .hourly_rate_cents
            .filter(|r| *r != was.hourly_rate_cents);
        let unit = patch.unit.filter(|u| *u != was.unit);
        let handoff = patch
            .handoff
            .map(|h| h.validated().map_err(MatchingError::Invalid))
            .transpose()?
            .filter(|h| *h != current_handoff);
        if let Some(role) = role
            && !role.is_licence()
        {
            return Err(shiftwire_core::InvalidTerms::Role.into());
        }
        if status == ShiftStatus::Booked {
            if role.is_some() || times_change || certifications.is_some() {
                return Err(MatchingError::ShiftBooked(
                    "the role, times and required certifications of a booked shift are the booking's terms; cancel it and post a new one",
                ));
            }
            if rate.is_some_and(|r| r < was.hourly_rate_cents) {
                return Err(MatchingError::ShiftBooked(
                    "the rate of a booked shift may only rise",
                ));
            }
        }
        if times_change {
            ShiftWindow::upcoming(window.starts_at, window.ends_at, Utc::now())?;
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
        let terms = ShiftTerms::new(
            role.unwrap_or(was.role),
            window,
            rate.unwrap_or(was.hourly_rate_cents),
            unit.clone().unwrap_or_else(|| was.unit.clone()),
            certifications
                .clone()
                .unwrap_or_else(|| was.required_certifications.clone()),
        )?;
        let handoff_json = handoff.as_ref().map(handoff_json).transpose()?;
        // A new handoff, or a new unit on a booked shift, is a new version the nurse must
        // acknowledge.
        let new_version = handoff.is_some() || (status == ShiftStatus::Booked && unit.is_some());
        let updated = sqlx::query!(
            "UPDATE shifts SET
                 role = $2, starts_at = $3, ends_at = $4, hourly_rate_cents = $5,
                 required_certifications = $6, unit = $7,
                 handoff = COALESCE($8, handoff),
                 handoff_version = handoff_version + CASE WHEN $9 THEN 1 ELSE 0 END,
                 updated_at = now()
             WHERE id = $1
             RETURNING handoff_version",
            id,
            terms.role.as_str(),
            terms.starts_at(),
            terms.ends_at(),
            terms.hourly_rate_cents.cents(),
            &certification_names(&terms.required_certifications),
            terms.unit.as_str(),
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
        if role.is_some() {
            changed(
                "role",
                serde_json::json!(was.role),
                serde_json::json!(terms.role),
            );
        }
        if times_change {
            changed(
                "starts_at",
                serde_json::json!(was.starts_at()),
                serde_json::json!(terms.starts_at()),
            );
            changed(
                "ends_at",
                serde_json::json!(was.ends_at()),
                serde_json::json!(terms.ends_at()),
            );
        }
        if rate.is_some() {
            changed(
                "hourly_rate_cents",
                serde_json::json!(was.hourly_rate_cents),
                serde_json::json!(terms.hourly_rate_cents),
            );
        }
        if certifications.is_some() {
            changed(
                "required_certifications",
                serde_json::json!(was.required_certifications),
                serde_json::json!(terms.required_certifications),
            );
        }
        if unit.is_some() {
            changed(
                "unit",
                serde_json::json!(was.unit),
                serde_json::json!(terms.unit),
            );
        }
        if let Some(new) = &handoff_json {
            changed("handoff", current.handoff.clone(), new.clone());
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
                    "SELECT id, nurse_id FROM bookings WHERE shift_id = $1 AND status = $2",
                    id,
                    BookingStatus::Booked.as_str()
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
                if terms != was {
                    events.push(Self::updated_event(&mut tx, id).await?);
                }
            }
        }
        self.commit(tx, events).await?;
        self.shift(scope, id).await
    }

    /// Raises an open shift's rate (a boost): audited like any change, and announced
    /// again: `shift.updated` to sockets holding its offer, and, because a boosted shift
    /// counts as urgent, a push and an urgent text to nurses whose app is closed.
    pub async fn boost_shift(
        &self,
        actor: Uuid,
        scope: &[Uuid],
        id: Uuid,
        rate: HourlyRate,
    ) -> Result<Shift, MatchingError> {
        let mut tx = self.pool.begin().await?;
        let current = sqlx::query!(
            "SELECT facility_id, status, hourly_rate_cents FROM shifts WHERE id = $1 FOR UPDATE",
            id
        )
        .fetch_optional(&mut *tx)
        .await?
        .filter(|s| scope.contains(&s.facility_id))
        .ok_or(MatchingError::NotFound)?;
        let status: ShiftStatus = stored::parse(&current.status, "status")?;
        if status != ShiftStatus::Open {
            return Err(MatchingError::ShiftNotOpen);
        }
        if rate.cents() <= current.hourly_rate_cents {
            return Err(MatchingError::Invalid(format!(
                "a boost must raise the rate: hourly_rate_cents must be more than {}",
                current.hourly_rate_cents
            )));
        }
        sqlx::query!(
            "UPDATE shifts SET hourly_rate_cents = $2, boosted_at = now(), updated_at = now()
             WHERE id = $1",
            id,
            rate.cents()
        )
        .execute(&mut *tx)
        .await?;
        audit::record(
            &mut tx,
            AuditRecord {
                actor: Some(actor),
                action: "shift.boosted",
                subject_type: "shift",
                subject_id: id,
                reason: None,
                details: serde_json::json!({
                    "before": { "hourly_rate_cents": current.hourly_rate_cents },
                    "after": { "hourly_rate_cents": rate.cents() },
                }),
            },
        )
        .await?;
        let mut event = Self::updated_event(&mut tx, id).await?;
        if let DomainEvent::ShiftUpdated { boosted, .. } = &mut event {
            *boosted = true;
        }
        self.commit(tx, vec![event]).await?;
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
        let mut tx = self.pool.begin().await?;
        let current = sqlx::query!(
            "SELECT facility_id, status FROM shifts WHERE id = $1 FOR UPDATE",
            id
        )
        .fetch_optional(&mut *tx)
        .await?
        .filter(|s| scope.contains(&s.facility_id))
        .ok_or(MatchingError::NotFound)?;
        let status: ShiftStatus = stored::parse(&current.status, "status")?;
        let cancelled = status
            .apply(ShiftAction::Cancel)
            .map_err(|_| MatchingError::ShiftNotCancellable(status))?;
        sqlx::query!(
            "UPDATE shifts SET status = $2, cancel_reason = $3, updated_at = now() WHERE id = $1",
            id,
            cancelled.as_str(),
            reason
        )
        .execute(&mut *tx)
        .await?;
        let booking = sqlx::query!(
            "SELECT id, nurse_id, status, lower(during) AS \"starts_at!\" FROM bookings
             WHERE shift_id = $1 AND status = $2
             FOR UPDATE",
            id,
            BookingStatus::Booked.as_str()
        )
        .fetch_optional(&mut *tx)
        .await?;
        let nurse_id = match booking {
            Some(booking) => {
                let status: BookingStatus = stored::parse(&booking.status, "booking status")?;
                let cancelled = status
                    .apply(BookingAction::Cancel)
                    .map_err(|_| MatchingError::ShiftNotCancellable(ShiftStatus::Booked))?;
                // Less than 24 hours' notice: the facility owes two hours' pay (payroll
                // reads it from the booking).
                let owed = shiftwire_core::attendance::late_cancel_pay_minutes(
                    booking.starts_at,
                    self.clock.now(),
                );
                sqlx::query!(
                    "UPDATE bookings SET status = $2, cancel_reason = 'facility_cancelled',
                                         cancel_detail = $3, cancelled_at = now(),
                                         late_cancel_pay_minutes = $4
                     WHERE id = $1",
                    booking.id,
                    cancelled.as_str(),
                    reason,
                    owed
                )
                .execute(&mut *tx)
                .await?;
                Some(booking.nurse_id)
            }
            None => None,
        };
        audit::record(
            &mut tx,
            AuditRecord {
                actor: Some(actor),
                action: "shift.cancelled",
                subject_type: "shift",
                subject_id: id,
                reason: Some(reason),
                details: serde_json::json!({ "status": status, "nurse_id": nurse_id }),
            },
        )
        .await?;
        let event = DomainEvent::ShiftCancelled {
            shift_id: id,
            facility_id: current.facility_id,
            nurse_id,
        };
        self.commit(tx, vec![event]).await?;
        self.shift(scope, id).await
    }
}
