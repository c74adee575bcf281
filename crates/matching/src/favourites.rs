//! A facility's favourites and its do-not-return list. A block holds in every path that
//! reads eligibility (offers, resume, nearby search, claims, pushes) and ends the nurse's
//! future bookings there (`nurse_ineligible`); she is told no more than "not eligible at
//! this facility". Favourites are offered favourites-first shifts inside their window and
//! stay welcome while a nurse's attendance restricts her. Every change is audited.

use crate::{Matching, MatchingError, in_scope, record, required_reason};
use shiftwire_core::DomainEvent;
use shiftwire_outbox::audit::{self, AuditRecord};
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// A nurse as a facility's schedulers see her: shifts worked there, her attendance
/// score, and whether they favourited or blocked her.
#[derive(Debug, Clone)]
pub struct FacilityNurse {
    pub id: Uuid,
    pub shifts_worked: i64,
    pub attendance_score: i32,
    pub favourite: bool,
    pub blocked: bool,
    pub block_reason: Option<String>,
}

/// Most nurses one listing returns.
pub const MAX_FACILITY_NURSES: i64 = 500;

impl Matching {
    /// Whether `nurse_id` is a nurse (others, and unknown ids, are not found).
    async fn a_nurse(
        &self,
        conn: &mut sqlx::PgConnection,
        nurse_id: Uuid,
    ) -> Result<(), MatchingError> {
        if self
            .standings
            .of(conn, &[nurse_id])
            .await?
            .contains_key(&nurse_id)
        {
            Ok(())
        } else {
            Err(MatchingError::NotFound)
        }
    }

    /// Adds (`favourite`) or removes a nurse from the facility's favourites. A blocked
    /// nurse cannot be a favourite (409 `nurse_blocked`: unblock her first).
    pub async fn set_favourite(
        &self,
        actor: Uuid,
        scope: &[Uuid],
        facility_id: Uuid,
        nurse_id: Uuid,
        favourite: bool,
    ) -> Result<(), MatchingError> {
        in_scope(scope, facility_id)?;
        let mut tx = self.pool.begin().await?;
        self.a_nurse(&mut tx, nurse_id).await?;
        let changed = if favourite {
            let blocked = sqlx::query_scalar!(
                r#"SELECT EXISTS (SELECT 1 FROM facility_blocks
                                  WHERE facility_id = $1 AND nurse_id = $2) AS "b!""#,
                facility_id,
                nurse_id
            )
            .fetch_one(&mut *tx)
            .await?;
            if blocked {
                return Err(MatchingError::NurseBlocked);
            }
            sqlx::query!(
                "INSERT INTO facility_favourites (facility_id, nurse_id, added_by)
                 VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                facility_id,
                nurse_id,
                actor
            )
            .execute(&mut *tx)
            .await?
            .rows_affected()
        } else {
            sqlx::query!(
                "DELETE FROM facility_favourites WHERE facility_id = $1 AND nurse_id = $2",
                facility_id,
                nurse_id
            )
            .execute(&mut *tx)
            .await?
            .rows_affected()
        };
        if changed == 0 {
            return Ok(());
        }
        audit::record(
            &mut tx,
            AuditRecord {
                actor: Some(actor),
                action: if favourite {
                    "facility.favourite_added"
                } else {
                    "facility.favourite_removed"
                },
                subject_type: "nurse",
                subject_id: nurse_id,
                reason: None,
                details: serde_json::json!({ "facility_id": facility_id }),
            },
        )
        .await?;
        // Her facts changed: the real-time index reloads them.
        self.commit(tx, vec![DomainEvent::ProfileUpdated { nurse_id }])
            .await
    }

    /// Blocks a nurse at the facility (do-not-return) with the scheduler's reason, or
    /// lifts the block (`reason: None`). A block removes her from the favourites and
    /// cancels her future bookings there, re-opening their shifts.
    pub async fn set_block(
        &self,
        actor: Uuid,
        scope: &[Uuid],
        facility_id: Uuid,
        nurse_id: Uuid,
        reason: Option<&str>,
    ) -> Result<(), MatchingError> {
        in_scope(scope, facility_id)?;
        let reason = reason.map(required_reason).transpose()?;
        let mut tx = self.pool.begin().await?;
        self.a_nurse(&mut tx, nurse_id).await?;
        let changed = match reason {
            Some(reason) => {
                sqlx::query!(
                    "DELETE FROM facility_favourites WHERE facility_id = $1 AND nurse_id = $2",
                    facility_id,
                    nurse_id
                )
                .execute(&mut *tx)
                .await?;
                sqlx::query!(
                    "INSERT INTO facility_blocks (facility_id, nurse_id, reason, added_by)
                     VALUES ($1, $2, $3, $4)
                     ON CONFLICT (facility_id, nurse_id) DO UPDATE SET reason = EXCLUDED.reason",
                    facility_id,
                    nurse_id,
                    reason,
                    actor
                )
                .execute(&mut *tx)
                .await?
                .rows_affected()
            }
            None => sqlx::query!(
                "DELETE FROM facility_blocks WHERE facility_id = $1 AND nurse_id = $2",
                facility_id,
                nurse_id
            )
            .execute(&mut *tx)
            .await?
            .rows_affected(),
        };
        if changed == 0 {
            return Ok(());
        }
        audit::record(
            &mut tx,
            AuditRecord {
                actor: Some(actor),
                action: if reason.is_some() {
                    "facility.nurse_blocked"
                } else {
                    "facility.nurse_unblocked"
                },
                subject_type: "nurse",
                subject_id: nurse_id,
                reason,
                details: serde_json::json!({ "facility_id": facility_id }),
            },
        )
        .await?;
        // Her future bookings there end with the block, in this transaction.
        let mut published = self.release_ineligible_in(&mut tx, nurse_id).await?;
        published.extend(record(&mut tx, vec![DomainEvent::ProfileUpdated { nurse_id }]).await?);
        self.commit_recorded(tx, published).await?;
        Ok(())
    }

    /// Nurses who worked at the facility, or that it favourited or blocked, by name order
    /// of their ids (at most [`MAX_FACILITY_NURSES`]).
    pub async fn facility_nurses(
        &self,
        scope: &[Uuid],
        facility_id: Uuid,
    ) -> Result<Vec<FacilityNurse>, MatchingError> {
        in_scope(scope, facility_id)?;
        let rows = sqlx::query!(
            r#"WITH known AS (
                   SELECT b.nurse_id FROM bookings b JOIN shifts s ON s.id = b.shift_id
                   WHERE s.facility_id = $1 AND b.status = 'completed'
                   UNION SELECT nurse_id FROM facility_favourites WHERE facility_id = $1
                   UNION SELECT nurse_id FROM facility_blocks WHERE facility_id = $1
               )
               SELECT k.nurse_id AS "id!",
                      (SELECT count(*) FROM bookings b JOIN shifts s ON s.id = b.shift_id
                       WHERE b.nurse_id = k.nurse_id AND s.facility_id = $1
                         AND b.status = 'completed') AS "shifts_worked!",
                      EXISTS (SELECT 1 FROM facility_favourites f
                              WHERE f.facility_id = $1 AND f.nurse_id = k.nurse_id) AS "favourite!",
                      (SELECT reason FROM facility_blocks x
                       WHERE x.facility_id = $1 AND x.nurse_id = k.nurse_id) AS block_reason,
                      ARRAY(SELECT points FROM attendance_events a
                            WHERE a.nurse_id = k.nurse_id ORDER BY a.at, a.id) AS "points!"
               FROM known k
               ORDER BY k.nurse_id
               LIMIT $2"#,
            facility_id,
            MAX_FACILITY_NURSES
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| FacilityNurse {
                id: r.id,
                shifts_worked: r.shifts_worked,
                attendance_score: shiftwire_core::attendance::score(r.points),
                favourite: r.favourite,
                blocked: r.block_reason.is_some(),
                block_reason: r.block_reason,
            })
            .collect())
    }

    /// Opens favourites-first shifts whose window has ended to every eligible nurse:
    /// once per shift (the window is cleared under the row lock). Returns how many.
    pub async fn end_favourites_windows(&self) -> Result<usize, MatchingError> {
        let now = self.clock.now();
        let mut tx = self.pool.begin().await?;
        let ended = sqlx::query_scalar!(
            "UPDATE shifts SET favourites_until = NULL
             WHERE id IN (SELECT id FROM shifts
                          WHERE status = 'open' AND favourites_until <= $1
                          ORDER BY favourites_until
                          LIMIT 200
                          FOR UPDATE SKIP LOCKED)
             RETURNING id",
            now
        )
        .fetch_all(&mut *tx)
        .await?;
        let mut events = Vec::with_capacity(ended.len());
        for shift_id in &ended {
            let mut event = Self::updated_event(&mut tx, *shift_id).await?;
            if let DomainEvent::ShiftUpdated { widened, .. } = &mut event {
                *widened = true;
            }
            events.push(event);
        }
        self.commit(tx, events).await?;
        Ok(ended.len())
    }

    /// Ends favourites windows as they fall due, checking every second until `shutdown`.
    pub async fn run_favourites_windows(self, shutdown: CancellationToken) {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                _ = tick.tick() => {}
            }
            if let Err(error) = self.end_favourites_windows().await {
                tracing::warn!(%error, "ending favourites windows failed");
            }
        }
    }
}
