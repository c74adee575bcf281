//! Background work: the automatic registry check of new credentials, and the expiry
//! sweeper. Both are safe to run on every node at once (`FOR UPDATE SKIP LOCKED`, and
//! conditional updates).

use crate::{
    Verification, VerificationError,
    audit::{self, AuditRecord},
    credentials::today,
    registry::{Decision, LicenseQuery, RegistryError, Submitted, decide},
};
use shiftwire_core::{CredentialKind, CredentialStatus, DomainEvent};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How often the checker looks for unchecked credentials even without a wake-up (e.g.
/// after a crash between a submission's commit and its check).
const CATCH_UP_INTERVAL: Duration = Duration::from_secs(30);

impl Verification {
    /// Runs the automatic check on one unchecked credential. Returns false when none is left.
    pub async fn check_next(&self) -> Result<bool, VerificationError> {
        let mut tx = self.pool.begin().await?;
        let Some(row) = sqlx::query!(
            r#"SELECT c.id, c.nurse_id, c.kind, c.number, c.issuing_state, c.expires_on, u.name
               FROM credentials c JOIN users u ON u.id = c.nurse_id
               WHERE c.status = 'pending' AND c.checked_at IS NULL
               ORDER BY c.submitted_at
               LIMIT 1
               FOR UPDATE OF c SKIP LOCKED"#
        )
        .fetch_optional(&mut *tx)
        .await?
        else {
            return Ok(false);
        };
        let kind: CredentialKind = row
            .kind
            .parse()
            .map_err(|_| VerificationError::Internal("stored kind is unknown".into()))?;
        let decision = match (kind.is_licence(), row.issuing_state.as_deref()) {
            (true, Some(state)) => {
                let query = LicenseQuery {
                    kind,
                    number: row.number.clone(),
                    state: state.to_owned(),
                };
                let lookup =
                    match tokio::time::timeout(self.registry_timeout, self.registry.lookup(&query))
                        .await
                    {
                        Ok(answer) => answer,
                        Err(_) => Err(RegistryError("no answer within the timeout".into())),
                    };
                let submitted = Submitted {
                    kind,
                    number: &row.number,
                    state,
                    expires_on: row.expires_on,
                    holder_name: row.name.as_deref(),
                };
                decide(&submitted, lookup, &self.registry.source(), today())
            }
            _ => Decision::NeedsReview {
                reason_code: "certification_review",
                reason: format!(
                    "{kind} certifications have no primary-source registry; check the uploaded card."
                ),
            },
        };

        let (status, action, reason_code, reason, evidence) = match &decision {
            Decision::Approved { evidence } => (
                CredentialStatus::Approved,
                "credential.auto_approved",
                None,
                None,
                Some(evidence.clone()),
            ),
            Decision::NeedsReview {
                reason_code,
                reason,
            } => (
                CredentialStatus::Pending,
                "credential.flagged",
                Some(*reason_code),
                Some(reason.as_str()),
                None,
            ),
        };
        sqlx::query!(
            "UPDATE credentials
             SET checked_at = clock_timestamp(), status = $2, reason_code = $3, reason = $4,
                 evidence = $5,
                 decided_at = CASE WHEN $2 = 'approved' THEN clock_timestamp() END,
                 updated_at = clock_timestamp()
             WHERE id = $1",
            row.id,
            status.as_str(),
            reason_code,
            reason,
            evidence
        )
        .execute(&mut *tx)
        .await?;
        audit::record(
            &mut tx,
            AuditRecord {
                actor: None,
                action,
                subject_type: "credential",
                subject_id: row.id,
                reason,
                details: serde_json::json!({ "reason_code": reason_code, "evidence": evidence }),
            },
        )
        .await?;
        let event = DomainEvent::VerificationUpdated {
            nurse_id: row.nurse_id,
            credential_id: row.id,
            status,
        };
        self.commit(tx, vec![event]).await?;
        tracing::info!(credential_id = %row.id, action, reason_code, "automatic check done");
        Ok(true)
    }

    /// Checks credentials as they are submitted until `shutdown`.
    pub async fn run_checker(self, shutdown: CancellationToken) {
        loop {
            loop {
                match self.check_next().await {
                    Ok(true) => continue,
                    Ok(false) => break,
                    Err(error) => {
                        tracing::warn!(%error, "automatic check failed; will retry");
                        break;
                    }
                }
            }
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = self.wake_checker.notified() => {}
                () = tokio::time::sleep(CATCH_UP_INTERVAL) => {}
            }
        }
    }

    /// Marks every approved or pending credential whose expiry date has passed as expired.
    /// Returns how many changed.
    pub async fn sweep_expired(&self) -> Result<usize, VerificationError> {
        let mut tx = self.pool.begin().await?;
        let expired = sqlx::query!(
            "UPDATE credentials SET status = 'expired', updated_at = now()
             WHERE status IN ('approved', 'pending')
               AND expires_on < (now() AT TIME ZONE 'UTC')::date
             RETURNING id, nurse_id, expires_on"
        )
        .fetch_all(&mut *tx)
        .await?;
        let mut events = Vec::with_capacity(expired.len());
        for row in &expired {
            audit::record(
                &mut tx,
                AuditRecord {
                    actor: None,
                    action: "credential.expired",
                    subject_type: "credential",
                    subject_id: row.id,
                    reason: None,
                    details: serde_json::json!({ "expires_on": row.expires_on }),
                },
            )
            .await?;
            let event = DomainEvent::VerificationUpdated {
                nurse_id: row.nurse_id,
                credential_id: row.id,
                status: CredentialStatus::Expired,
            };
            events.push(event);
        }
        self.commit(tx, events).await?;
        Ok(expired.len())
    }

    /// Sweeps at start and then every `interval` until `shutdown`.
    pub async fn run_sweeper(self, interval: Duration, shutdown: CancellationToken) {
        let mut tick = tokio::time::interval(interval);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                _ = tick.tick() => {}
            }
            match self.sweep_expired().await {
                Ok(0) => {}
                Ok(n) => tracing::info!(expired = n, "credentials expired"),
                Err(error) => tracing::warn!(%error, "expiry sweep failed"),
            }
        }
    }
}
