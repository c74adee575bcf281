//! Shifts nobody took reach a person: each open shift inside the alert window before
//! its start is escalated once to its owner, with what Shiftwire knows about it.

use crate::{Matching, MatchingError};
use shiftwire_core::DomainEvent;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

const SWEEP_INTERVAL: Duration = Duration::from_secs(60);

impl Matching {
    /// Escalates every open shift that entered the alert window; returns how many.
    pub async fn escalate_unfilled(&self) -> Result<usize, MatchingError> {
        let mut tx = self.pool.begin().await?;
        // SKIP LOCKED: several nodes may sweep at once, each shift is escalated once.
        let due = sqlx::query!(
            "UPDATE shifts SET escalated_at = now()
             WHERE id IN (SELECT id FROM shifts
                          WHERE status = 'open' AND escalated_at IS NULL
                            AND starts_at > now()
                            AND starts_at <= now() + make_interval(mins => $1)
                          ORDER BY starts_at
                          LIMIT 500
                          FOR UPDATE SKIP LOCKED)
             RETURNING id, facility_id, owner_id, release_count,
                       (SELECT count(DISTINCT o.nurse_id) FROM offer_log o
                        WHERE o.shift_id = shifts.id)::int AS \"offered_count!\"",
            self.alert_minutes()
        )
        .fetch_all(&mut *tx)
        .await?;
        let events: Vec<DomainEvent> = due
            .iter()
            .map(|s| DomainEvent::ShiftUnfilled {
                shift_id: s.id,
                facility_id: s.facility_id,
                owner_id: s.owner_id,
                offered_count: s.offered_count,
                release_count: s.release_count,
            })
            .collect();
        let count = events.len();
        self.commit(tx, events).await?;
        Ok(count)
    }

    /// Sweeps every minute until `shutdown`.
    pub async fn run_escalation(self, shutdown: CancellationToken) {
        let mut tick = tokio::time::interval(SWEEP_INTERVAL);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                _ = tick.tick() => {}
            }
            match self.escalate_unfilled().await {
                Ok(0) => {}
                Ok(n) => tracing::info!(escalated = n, "unfilled shifts escalated to their owners"),
                Err(error) => tracing::warn!(%error, "unfilled-shift escalation failed"),
            }
        }
    }
}
