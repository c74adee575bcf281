//! Timesheets: check-out submits the geofenced hours, less the facility's default break;
//! the facility approves, adjusts or rejects them; the nurse may dispute an adjustment or
//! a rejection within 48 hours, and an admin resolves the dispute. Whatever the facility
//! leaves alone is approved automatically. Every step is one transaction: the row, its
//! `history` and an audit row with the before and after. The rules are core's
//! (`shiftwire_core::timesheet`).
//!
//! The payroll export streams the payable hours (and the pay owed for late
//! cancellations) straight from the database.

use crate::{Matching, MatchingError, in_scope, required_reason, stored};
use chrono::{DateTime, Utc};
use futures::{Stream, StreamExt};
use serde::{Deserialize, Serialize};
use shiftwire_core::{
    Role, TimesheetAction, TimesheetStatus, TimesheetTimes, new_id,
    timesheet::{self, dispute_open},
};
use shiftwire_outbox::audit::{self, AuditRecord};
use sqlx::PgConnection;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

const SWEEP_INTERVAL: Duration = Duration::from_secs(60);
/// Timesheets approved automatically per transaction of the sweep.
const SWEEP_BATCH: i64 = 500;

/// One step of a timesheet's life, as its `history` keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimesheetStep {
    pub at: DateTime<Utc>,
    /// Who acted; `None` for Shiftwire itself (the auto-approval).
    pub actor_id: Option<Uuid>,
    /// `nurse`, `scheduler`, `admin` or `system`.
    pub actor_role: String,
    /// `submitted`, `approved`, `auto_approved`, `adjusted`, `rejected`, `disputed`,
    /// `resolved`.
    pub action: String,
    /// The status after the step.
    pub status: TimesheetStatus,
    pub clock_in: DateTime<Utc>,
    pub clock_out: DateTime<Utc>,
    pub break_minutes: i32,
    pub worked_minutes: i32,
    pub reason: Option<String>,
}

/// A timesheet with what its readers need of the shift.
#[derive(Debug, Clone)]
pub struct Timesheet {
    pub id: Uuid,
    pub booking_id: Uuid,
    pub shift_id: Uuid,
    pub facility_id: Uuid,
    pub facility_name: String,
    pub nurse_id: Uuid,
    /// Filled in by whoever holds the accounts (`api`).
    pub nurse_name: Option<String>,
    pub unit: String,
    pub role: String,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub hourly_rate_cents: i32,
    pub clock_in: DateTime<Utc>,
    pub clock_out: DateTime<Utc>,
    pub break_minutes: i32,
    pub worked_minutes: i32,
    pub status: TimesheetStatus,
    pub submitted_at: DateTime<Utc>,
    pub decided_at: Option<DateTime<Utc>>,
    /// A submitted timesheet: when it is approved automatically if nobody acts.
    pub auto_approves_at: Option<DateTime<Utc>>,
    /// An adjusted or rejected timesheet: the last instant the nurse may dispute it.
    pub dispute_until: Option<DateTime<Utc>>,
    pub history: Vec<TimesheetStep>,
}

/// Which of a facility's (or a nurse's) timesheets to list: by submission, after the
/// cursor.
#[derive(Debug, Clone, Default)]
pub struct TimesheetFilter {
    pub status: Option<TimesheetStatus>,
    pub after: Option<(DateTime<Utc>, Uuid)>,
    pub limit: i64,
}

/// One row of the payroll export: a payable timesheet, or a booking the facility
/// cancelled late (no timesheet, no times, `late_cancel_pay_minutes` owed).
#[derive(Debug, Clone)]
pub struct PayrollRow {
    pub timesheet_id: Option<Uuid>,
    pub booking_id: Uuid,
    pub nurse_id: Uuid,
    pub facility_name: String,
    pub unit: String,
    pub role: String,
    pub starts_at: DateTime<Utc>,
    pub clock_in: Option<DateTime<Utc>>,
    pub clock_out: Option<DateTime<Utc>>,
    pub break_minutes: Option<i32>,
    pub worked_minutes: i32,
    pub hourly_rate_cents: i32,
    pub late_cancel_pay_minutes: i32,
    /// `approved`, `adjusted`, or `late_cancelled` for a late cancellation.
    pub status: String,
}

/// Who takes a step on a timesheet, and what they may see.
#[derive(Debug, Clone, Copy)]
pub enum TimesheetActor<'a> {
    /// A scheduler, within her facilities.
    Scheduler {
        id: Uuid,
        scope: &'a [Uuid],
    },
    /// The nurse whose hours they are.
    Nurse(Uuid),
    Admin(Uuid),
    /// Shiftwire itself (the auto-approval).
    System,
}

impl TimesheetActor<'_> {
    fn id(self) -> Option<Uuid> {
        match self {
            Self::Scheduler { id, .. } | Self::Nurse(id) | Self::Admin(id) => Some(id),
            Self::System => None,
        }
    }

    fn role(self) -> &'static str {
        match self {
            Self::Scheduler { .. } => Role::Scheduler.as_str(),
            Self::Nurse(_) => Role::Nurse.as_str(),
            Self::Admin(_) => Role::Admin.as_str(),
            Self::System => "system",
        }
    }

    /// Another facility's timesheet, or another nurse's, is not found.
    fn may_see(self, facility_id: Uuid, nurse_id: Uuid) -> Result<(), MatchingError> {
        match self {
            Self::Scheduler { scope, .. } => in_scope(scope, facility_id),
            Self::Nurse(id) if id == nurse_id => Ok(()),
            Self::Nurse(_) => Err(MatchingError::NotFound),
            Self::Admin(_) | Self::System => Ok(()),
        }
    }
}

/// A step to take: the action, the times it records (an adjustment, a resolution) and
/// the reason.
struct Step<'a> {
    action: TimesheetAction,
    times: Option<TimesheetTimes>,
    reason: Option<&'a str>,
}

/// Creates the booking's timesheet in the check-out's transaction: from the geofenced
/// check-in to `clock_out` (check-out, already capped), less the facility's default
/// break. A booking has one timesheet; a second call changes nothing.
pub(crate) async fn submit(
    conn: &mut PgConnection,
    booking_id: Uuid,
    clock_out: DateTime<Utc>,
    at: DateTime<Utc>,
) -> Result<(), MatchingError> {
    let row = sqlx::query!(
        r#"SELECT b.nurse_id, b.checked_in_at AS "checked_in_at!", s.facility_id,
                  f.default_break_minutes
           FROM bookings b
           JOIN shifts s ON s.id = b.shift_id
           JOIN facilities f ON f.id = s.facility_id
           WHERE b.id = $1"#,
        booking_id
    )
    .fetch_one(&mut *conn)
    .await?;
    let clock_in = row.checked_in_at;
    let clock_out = clock_out.max(clock_in);
    // A shift shorter than the break leaves no break to take.
    let break_minutes = row
        .default_break_minutes
        .min(i32::try_from((clock_out - clock_in).num_minutes()).unwrap_or(i32::MAX));
    let worked_minutes = timesheet::worked_minutes(clock_in, clock_out, break_minutes);
    let id = new_id();
    let step = TimesheetStep {
        at,
        actor_id: Some(row.nurse_id),
        actor_role: Role::Nurse.as_str().to_owned(),
        action: TimesheetAction::Submit.as_str().to_owned(),
        status: TimesheetStatus::Submitted,
        clock_in,
        clock_out,
        break_minutes,
        worked_minutes,
        reason: None,
    };
    let inserted = sqlx::query!(
        "INSERT INTO timesheets (id, booking_id, facility_id, nurse_id, clock_in, clock_out,
                                 break_minutes, worked_minutes, status, submitted_at, history)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, jsonb_build_array($11::jsonb))
         ON CONFLICT (booking_id) DO NOTHING",
        id,
        booking_id,
        row.facility_id,
        row.nurse_id,
        clock_in,
        clock_out,
        break_minutes,
        worked_minutes,
        TimesheetStatus::Submitted.as_str(),
        at,
        serde_json::to_value(&step).map_err(|e| MatchingError::Invalid(e.to_string()))?
    )
    .execute(&mut *conn)
    .await?;
    if inserted.rows_affected() == 1 {
        audit::record(
            conn,
            AuditRecord {
                actor: Some(row.nurse_id),
                action: "timesheet.submitted",
                subject_type: "timesheet",
                subject_id: id,
                reason: None,
                details: serde_json::json!({ "before": null, "after": snapshot(&step) }),
            },
        )
        .await?;
    }
    Ok(())
}

/// What the audit log keeps of a timesheet before and after a step.
fn snapshot(step: &TimesheetStep) -> serde_json::Value {
    serde_json::json!({
        "status": step.status,
        "clock_in": step.clock_in,
        "clock_out": step.clock_out,
        "break_minutes": step.break_minutes,
        "worked_minutes": step.worked_minutes,
    })
}

impl Matching {
    /// How long a submitted timesheet waits for its facility before it is approved
    /// automatically (`TIMESHEET_AUTO_APPROVE_HOURS`).
    pub fn with_timesheet_auto_approval(mut self, after: chrono::Duration) -> Self {
        self.timesheet_auto_approve = after;
        self
    }

    /// One timesheet, if `actor` may see it.
    pub async fn timesheet(
        &self,
        actor: TimesheetActor<'_>,
        id: Uuid,
    ) -> Result<Timesheet, MatchingError> {
        let sheet = self
            .timesheets_where(
                Some(id),
                None,
                None,
                &TimesheetFilter {
                    limit: 1,
                    ..TimesheetFilter::default()
                },
            )
            .await?
            .pop()
            .ok_or(MatchingError::NotFound)?;
        actor.may_see(sheet.facility_id, sheet.nurse_id)?;
        Ok(sheet)
    }

    /// A facility's timesheets in the order they were submitted (its schedulers).
    pub async fn facility_timesheets(
        &self,
        scope: &[Uuid],
        facility_id: Uuid,
        filter: &TimesheetFilter,
    ) -> Result<Vec<Timesheet>, MatchingError> {
        in_scope(scope, facility_id)?;
        self.timesheets_where(None, Some(facility_id), None, filter)
            .await
    }

    /// The nurse's own timesheets in the order they were submitted.
    pub async fn nurse_timesheets(
        &self,
        nurse_id: Uuid,
        filter: &TimesheetFilter,
    ) -> Result<Vec<Timesheet>, MatchingError> {
        self.timesheets_where(None, None, Some(nurse_id), filter)
            .await
    }

    /// Every facility's timesheets in the order they were submitted (admins: the disputes
    /// to resolve are `?status=disputed`).
    pub async fn all_timesheets(
        &self,
        filter: &TimesheetFilter,
    ) -> Result<Vec<Timesheet>, MatchingError> {
        self.timesheets_where(None, None, None, filter).await
    }

    async fn timesheets_where(
        &self,
        id: Option<Uuid>,
        facility_id: Option<Uuid>,
        nurse_id: Option<Uuid>,
        filter: &TimesheetFilter,
    ) -> Result<Vec<Timesheet>, MatchingError> {
        let (after_at, after_id) = filter.after.unzip();
        let rows = sqlx::query!(
            r#"SELECT t.id, t.booking_id, b.shift_id, t.facility_id, f.name AS facility_name,
                      t.nurse_id, s.unit, s.role, s.starts_at, s.ends_at, s.hourly_rate_cents,
                      t.clock_in, t.clock_out, t.break_minutes, t.worked_minutes, t.status,
                      t.submitted_at, t.decided_at, t.history
               FROM timesheets t
               JOIN bookings b ON b.id = t.booking_id
               JOIN shifts s ON s.id = b.shift_id
               JOIN facilities f ON f.id = t.facility_id
               WHERE ($1::uuid IS NULL OR t.id = $1)
                 AND ($2::uuid IS NULL OR t.facility_id = $2)
                 AND ($3::uuid IS NULL OR t.nurse_id = $3)
                 AND ($4::text IS NULL OR t.status = $4)
                 AND ($5::timestamptz IS NULL OR (t.submitted_at, t.id) > ($5, $6))
               ORDER BY t.submitted_at, t.id
               LIMIT $7"#,
            id,
            facility_id,
            nurse_id,
            filter.status.map(TimesheetStatus::as_str),
            after_at,
            after_id,
            filter.limit
        )
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|r| {
                let status: TimesheetStatus = stored::parse(&r.status, "timesheet status")?;
                Ok(Timesheet {
                    auto_approves_at: (status == TimesheetStatus::Submitted)
                        .then(|| r.submitted_at + self.timesheet_auto_approve),
                    dispute_until: matches!(
                        status,
                        TimesheetStatus::Adjusted | TimesheetStatus::Rejected
                    )
                    .then_some(r.decided_at)
                    .flatten()
                    .map(|at| at + timesheet::DISPUTE_WINDOW),
                    id: r.id,
                    booking_id: r.booking_id,
                    shift_id: r.shift_id,
                    facility_id: r.facility_id,
                    facility_name: r.facility_name,
                    nurse_id: r.nurse_id,
                    nurse_name: None,
                    unit: r.unit,
                    role: r.role,
                    starts_at: r.starts_at,
                    ends_at: r.ends_at,
                    hourly_rate_cents: r.hourly_rate_cents,
                    clock_in: r.clock_in,
                    clock_out: r.clock_out,
                    break_minutes: r.break_minutes,
                    worked_minutes: r.worked_minutes,
                    status,
                    submitted_at: r.submitted_at,
                    decided_at: r.decided_at,
                    history: serde_json::from_value(r.history).map_err(|e| {
                        MatchingError::Invalid(format!("stored timesheet history: {e}"))
                    })?,
                })
            })
            .collect()
    }

    /// The facility accepts the hours as submitted.
    pub async fn approve_timesheet(
        &self,
        actor: Uuid,
        scope: &[Uuid],
        id: Uuid,
    ) -> Result<Timesheet, MatchingError> {
        let who = TimesheetActor::Scheduler { id: actor, scope };
        let step = Step {
            action: TimesheetAction::Approve,
            times: None,
            reason: None,
        };
        self.step(who, id, step).await
    }

    /// The facility records other times, with a reason; the nurse may dispute them.
    pub async fn adjust_timesheet(
        &self,
        actor: Uuid,
        scope: &[Uuid],
        id: Uuid,
        times: TimesheetTimes,
        reason: &str,
    ) -> Result<Timesheet, MatchingError> {
        let who = TimesheetActor::Scheduler { id: actor, scope };
        let step = Step {
            action: TimesheetAction::Adjust,
            times: Some(times),
            reason: Some(required_reason(reason)?),
        };
        self.step(who, id, step).await
    }

    /// The facility refuses the hours, with a reason; the nurse may dispute that.
    pub async fn reject_timesheet(
        &self,
        actor: Uuid,
        scope: &[Uuid],
        id: Uuid,
        reason: &str,
    ) -> Result<Timesheet, MatchingError> {
        let who = TimesheetActor::Scheduler { id: actor, scope };
        let step = Step {
            action: TimesheetAction::Reject,
            times: None,
            reason: Some(required_reason(reason)?),
        };
        self.step(who, id, step).await
    }

    /// The nurse contests an adjustment or a rejection, within 48 hours of it.
    pub async fn dispute_timesheet(
        &self,
        nurse_id: Uuid,
        id: Uuid,
        reason: &str,
    ) -> Result<Timesheet, MatchingError> {
        let step = Step {
            action: TimesheetAction::Dispute,
            times: None,
            reason: Some(required_reason(reason)?),
        };
        self.step(TimesheetActor::Nurse(nurse_id), id, step).await
    }

    /// An admin settles a dispute: the times recorded stand, and the timesheet is
    /// approved with them.
    pub async fn resolve_timesheet(
        &self,
        admin_id: Uuid,
        id: Uuid,
        times: TimesheetTimes,
        reason: &str,
    ) -> Result<Timesheet, MatchingError> {
        let step = Step {
            action: TimesheetAction::Resolve,
            times: Some(times),
            reason: Some(required_reason(reason)?),
        };
        self.step(TimesheetActor::Admin(admin_id), id, step).await
    }

    /// Takes one step on a timesheet in its own transaction.
    async fn step(
        &self,
        who: TimesheetActor<'_>,
        id: Uuid,
        step: Step<'_>,
    ) -> Result<Timesheet, MatchingError> {
        let mut tx = self.pool.begin().await?;
        self.step_in(&mut tx, who, id, step).await?;
        tx.commit().await?;
        self.timesheet(who, id).await
    }

    /// Locks the timesheet, asks core's machine, writes the new state, its history step and
    /// the audit row.
    async fn step_in(
        &self,
        conn: &mut PgConnection,
        who: TimesheetActor<'_>,
        id: Uuid,
        step: Step<'_>,
    ) -> Result<(), MatchingError> {
        let row = sqlx::query!(
            "SELECT facility_id, nurse_id, status, clock_in, clock_out, break_minutes,
                    worked_minutes, decided_at
             FROM timesheets WHERE id = $1 FOR UPDATE",
            id
        )
        .fetch_optional(&mut *conn)
        .await?
        .ok_or(MatchingError::NotFound)?;
        who.may_see(row.facility_id, row.nurse_id)?;
        let status: TimesheetStatus = stored::parse(&row.status, "timesheet status")?;
        let now = self.clock.now();
        let next = status.apply(step.action).map_err(|_| match step.action {
            TimesheetAction::Dispute => MatchingError::TimesheetNotDisputable(status),
            TimesheetAction::Resolve => MatchingError::TimesheetNotDisputed(status),
            _ => MatchingError::TimesheetDecided(status),
        })?;
        if step.action == TimesheetAction::Dispute
            && !row.decided_at.is_some_and(|at| dispute_open(at, now))
        {
            return Err(MatchingError::DisputeWindowClosed);
        }
        let before = TimesheetStep {
            at: now,
            actor_id: who.id(),
            actor_role: who.role().to_owned(),
            action: step.action.as_str().to_owned(),
            status,
            clock_in: row.clock_in,
            clock_out: row.clock_out,
            break_minutes: row.break_minutes,
            worked_minutes: row.worked_minutes,
            reason: step.reason.map(str::to_owned),
        };
        let after = match step.times {
            Some(times) => TimesheetStep {
                status: next,
                clock_in: times.clock_in,
                clock_out: times.clock_out,
                break_minutes: times.break_minutes,
                worked_minutes: times.worked_minutes(),
                ..before.clone()
            },
            None => TimesheetStep {
                status: next,
                ..before.clone()
            },
        };
        // A decision (not a dispute) starts the nurse's dispute window.
        let decided = step.action != TimesheetAction::Dispute;
        sqlx::query!(
            "UPDATE timesheets SET status = $2, clock_in = $3, clock_out = $4,
                 break_minutes = $5, worked_minutes = $6,
                 decided_at = CASE WHEN $7 THEN $8 ELSE decided_at END,
                 history = history || $9::jsonb
             WHERE id = $1",
            id,
            next.as_str(),
            after.clock_in,
            after.clock_out,
            after.break_minutes,
            after.worked_minutes,
            decided,
            now,
            serde_json::to_value(&after).map_err(|e| MatchingError::Invalid(e.to_string()))?
        )
        .execute(&mut *conn)
        .await?;
        audit::record(
            conn,
            AuditRecord {
                actor: who.id(),
                action: &format!("timesheet.{}", step.action.as_str()),
                subject_type: "timesheet",
                subject_id: id,
                reason: step.reason,
                details: serde_json::json!({
                    "actor_role": who.role(),
                    "before": snapshot(&before),
                    "after": snapshot(&after),
                }),
            },
        )
        .await?;
        Ok(())
    }

    /// Approves every timesheet submitted at least `TIMESHEET_AUTO_APPROVE_HOURS` ago
    /// that nobody acted on, as Shiftwire itself; returns how many. Safe on several nodes
    /// at once: each timesheet is taken by one of them (`SKIP LOCKED`), and the machine
    /// refuses a second approval anyway.
    pub async fn auto_approve_timesheets(&self) -> Result<usize, MatchingError> {
        let mut total = 0;
        loop {
            let mut tx = self.pool.begin().await?;
            let due_before = self.clock.now() - self.timesheet_auto_approve;
            let due = sqlx::query_scalar!(
                "SELECT id FROM timesheets
                 WHERE status = 'submitted' AND submitted_at <= $1
                 ORDER BY submitted_at
                 LIMIT $2
                 FOR UPDATE SKIP LOCKED",
                due_before,
                SWEEP_BATCH
            )
            .fetch_all(&mut *tx)
            .await?;
            for &id in &due {
                let step = Step {
                    action: TimesheetAction::AutoApprove,
                    times: None,
                    reason: Some("not acted on in time: approved automatically"),
                };
                self.step_in(&mut tx, TimesheetActor::System, id, step)
                    .await?;
            }
            tx.commit().await?;
            total += due.len();
            if due.len() < usize::try_from(SWEEP_BATCH).unwrap_or(usize::MAX) {
                return Ok(total);
            }
        }
    }

    /// Sweeps every minute until `shutdown`.
    pub async fn run_timesheet_auto_approval(self, shutdown: CancellationToken) {
        let mut tick = tokio::time::interval(SWEEP_INTERVAL);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                _ = tick.tick() => {}
            }
            match self.auto_approve_timesheets().await {
                Ok(0) => {}
                Ok(n) => tracing::info!(approved = n, "timesheets approved automatically"),
                Err(error) => tracing::warn!(%error, "timesheet auto-approval failed"),
            }
        }
    }

    /// Checks that a scheduler may export `facility_id`'s payroll (another facility is not
    /// found), before a response starts.
    pub fn may_export_payroll(
        &self,
        scope: &[Uuid],
        facility_id: Uuid,
    ) -> Result<(), MatchingError> {
        in_scope(scope, facility_id)
    }

    /// The facility's payroll for shifts starting in `from..to`, by start: payable timesheets (approved, or adjusted
    /// with the dispute window closed) and bookings cancelled late. Rows stream from the
    /// database as they are read; nothing is collected. Check the scope first
    /// ([`Self::may_export_payroll`]).
    pub fn payroll_rows(
        &self,
        facility_id: Uuid,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> impl Stream<Item = Result<PayrollRow, MatchingError>> + Send + '_ {
        let adjusted_final_before = self.clock.now() - timesheet::DISPUTE_WINDOW;
        sqlx::query_as!(
            PayrollRow,
            r#"SELECT t.id AS "timesheet_id?", t.booking_id AS "booking_id!",
                      t.nurse_id AS "nurse_id!", f.name AS "facility_name!", s.unit AS "unit!",
                      s.role AS "role!", s.starts_at AS "starts_at!",
                      t.clock_in AS "clock_in?", t.clock_out AS "clock_out?",
                      t.break_minutes AS "break_minutes?", t.worked_minutes AS "worked_minutes!",
                      s.hourly_rate_cents AS "hourly_rate_cents!",
                      b.late_cancel_pay_minutes AS "late_cancel_pay_minutes!",
                      t.status AS "status!"
               FROM timesheets t
               JOIN bookings b ON b.id = t.booking_id
               JOIN shifts s ON s.id = b.shift_id
               JOIN facilities f ON f.id = t.facility_id
               WHERE t.facility_id = $1 AND s.starts_at >= $2 AND s.starts_at < $3
                 AND (t.status = 'approved'
                      OR (t.status = 'adjusted' AND t.decided_at < $4))
               UNION ALL
               SELECT NULL, b.id, b.nurse_id, f.name, s.unit, s.role, s.starts_at,
                      NULL, NULL, NULL, 0, s.hourly_rate_cents, b.late_cancel_pay_minutes,
                      'late_cancelled'
               FROM bookings b
               JOIN shifts s ON s.id = b.shift_id
               JOIN facilities f ON f.id = s.facility_id
               WHERE s.facility_id = $1 AND s.starts_at >= $2 AND s.starts_at < $3
                 AND b.late_cancel_pay_minutes > 0
                 AND NOT EXISTS (SELECT 1 FROM timesheets x WHERE x.booking_id = b.id)
               ORDER BY 7, 2"#,
            facility_id,
            from,
            to,
            adjusted_final_before
        )
        .fetch(&self.pool)
        .map(|row| row.map_err(MatchingError::from))
    }
}
