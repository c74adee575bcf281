//! Background work: the automatic registry check of new credentials, and the expiry
//! sweeper. Both are safe to run on every node at once (`FOR UPDATE SKIP LOCKED`, and
//! conditional updates).

use crate::{
    Verification, VerificationError,
    credentials::{is_licence_in_use, today},
    identity::verified_legal_name,
    registry::{Decision, HolderName, LicenseQuery, RegistryError, Submitted, decide},
};
use shiftwire_core::{CredentialKind, CredentialStatus, DomainEvent};
use shiftwire_outbox::audit::{self, AuditRecord};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

fn identity_unverified() -> Decision {
    Decision::NeedsReview {
        reason_code: "identity_unverified",
        reason: "Waiting for the nurse's verified identity: licences are matched against the registry by verified legal name only.".into(),
    }
}

fn licence_in_use_review() -> Decision {
    Decision::NeedsReview {
        reason_code: "licence_in_use",
        reason: "This licence is already approved on another account.".into(),
    }
}

/// Whether the licence of credential `id` is approved on another account.
async fn licence_in_use(
    conn: &mut sqlx::PgConnection,
    id: uuid::Uuid,
) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar!(
        r#"SELECT EXISTS (
               SELECT 1 FROM credentials mine JOIN credentials other
                 ON other.kind = mine.kind AND other.issuing_state = mine.issuing_state
                AND other.number_key = mine.number_key
               WHERE mine.id = $1 AND other.status = 'approved'
                 AND other.nurse_id <> mine.nurse_id) AS "in_use!""#,
        id
    )
    .fetch_one(conn)
    .await
}

/// How often the checker looks for unchecked credentials even without a wake-up (e.g.
/// after a crash between a submission's commit and its check).
const CATCH_UP_INTERVAL: Duration = Duration::from_secs(30);

impl Verification {
    /// Runs the automatic check on one unchecked credential. Returns false when none is left.
    pub async fn check_next(&self) -> Result<bool, VerificationError> {
        let mut tx = self.pool.begin().await?;
        let Some(row) = sqlx::query!(
            r#"SELECT c.id, c.nurse_id, c.kind, c.number, c.issuing_state, c.expires_on
               FROM credentials c
               WHERE c.status = 'pending' AND c.checked_at IS NULL
               ORDER BY c.submitted_at
               LIMIT 1
               FOR UPDATE SKIP LOCKED"#
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
                let legal_name = verified_legal_name(&mut tx, row.nurse_id).await?;
                let in_use = licence_in_use(&mut tx, row.id).await?;
                match (legal_name, in_use) {
                    (None, _) => identity_unverified(),
                    (Some(_), true) => licence_in_use_review(),
                    (Some(name), false) => {
                        let query = LicenseQuery {
                            kind,
                            number: row.number.clone(),
                            state: state.to_owned(),
                        };
                        let lookup = self.lookup(&query).await;
                        let submitted = Submitted {
                            kind,
                            number: &row.number,
                            state,
                            expires_on: row.expires_on,
                            holder: HolderName::Verified(&name),
                        };
                        decide(&submitted, lookup, &self.registry.source(), today())
                    }
                }
            }
            _ => Decision::NeedsReview {
                reason_code: "certification_review",
                reason: format!(
                    "{kind} certifications have no primary-source registry; check the uploaded card."
                ),
            },
        };
        let decision = match decision {
            Decision::Approved { evidence } => {
                match self.approve_checked(&mut tx, row.id, &evidence).await? {
                    true => Decision::Approved { evidence },
                    // Approved on another account meanwhile: the database said no.
                    false => licence_in_use_review(),
                }
            }
            review => review,
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
        if status == CredentialStatus::Pending {
            sqlx::query!(
                "UPDATE credentials
                 SET checked_at = clock_timestamp(), reason_code = $2, reason = $3,
                     registry_checked_at = CASE WHEN $2 IN ('identity_unverified', 'licence_in_use')
                                                THEN registry_checked_at
                                                ELSE clock_timestamp() END,
                     updated_at = clock_timestamp()
                 WHERE id = $1",
                row.id,
                reason_code,
                reason
            )
            .execute(&mut *tx)
            .await?;
        }
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

    /// The registry's records for `query`, or an error when it fails or is too slow.
    pub(crate) async fn lookup(
        &self,
        query: &LicenseQuery,
    ) -> Result<Vec<crate::registry::RegistryRecord>, RegistryError> {
        match tokio::time::timeout(self.config.registry_timeout, self.registry.lookup(query)).await
        {
            Ok(answer) => answer,
            Err(_) => Err(RegistryError("no answer within the timeout".into())),
        }
    }

    /// Approves a checked licence; false when the database refuses because the licence
    /// is approved on another account (a race the pre-check could not see).
    async fn approve_checked(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
        id: uuid::Uuid,
        evidence: &serde_json::Value,
    ) -> Result<bool, VerificationError> {
        let mut savepoint = sqlx::Connection::begin(&mut **tx).await?;
        let approved = sqlx::query!(
            "UPDATE credentials
             SET checked_at = clock_timestamp(), status = 'approved', reason_code = NULL,
                 reason = NULL, evidence = $2, decided_at = clock_timestamp(),
                 registry_checked_at = clock_timestamp(),
                 recheck_due_at = LEAST(now() + make_interval(days => $3),
                                        expires_on::timestamptz),
                 updated_at = clock_timestamp()
             WHERE id = $1",
            id,
            evidence,
            self.config.recheck.every_days()
        )
        .execute(&mut *savepoint)
        .await;
        match approved {
            Ok(_) => {
                savepoint.commit().await?;
                Ok(true)
            }
            Err(e) if is_licence_in_use(&e) => Ok(false),
            Err(e) => Err(e.into()),
        }
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
        // A nurse whose licence lapsed loses the bookings it no longer covers.
        let mut nurses: Vec<uuid::Uuid> = expired.iter().map(|r| r.nurse_id).collect();
        nurses.sort_unstable();
        nurses.dedup();
        let mut released = Vec::new();
        for nurse_id in nurses {
            released.extend(self.on_ineligible.follow(&mut tx, nurse_id).await?);
        }
        self.commit_with(tx, events, released).await?;
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
