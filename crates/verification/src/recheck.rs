//! Continuous re-check: approved licences are compared with the registry again every
//! `REGISTRY_RECHECK_DAYS` and on their expiry date. An unchanged record schedules the
//! next re-check; a renewal (the same clean record with a later expiry) extends the
//! licence; any other change (lapsed, disciplined, another holder, gone) flags the
//! credential to a verifier as `registry_changed` and never revokes it by itself. A
//! registry that fails or is slow changes nothing and is asked again later.
//!
//! Safe on every node at once: due rows are leased in batches with `FOR UPDATE SKIP
//! LOCKED` (the lease is the due time moved into the future), and registry calls run
//! outside any transaction with bounded concurrency.

use crate::{
    Verification, VerificationError,
    credentials::today,
    registry::{
        Decision, HolderName, LicenseQuery, RegistryError, RegistryRecord, Submitted, decide,
    },
};
use chrono::NaiveDate;
use futures::{StreamExt, stream};
use shiftwire_core::{CredentialKind, CredentialStatus, DomainEvent};
use shiftwire_outbox::audit::{self, AuditRecord};
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// How re-checks are paced.
#[derive(Debug, Clone)]
pub struct RecheckPolicy {
    /// Days between re-checks of an approved licence (`REGISTRY_RECHECK_DAYS`).
    pub every: Duration,
    /// Licences leased per round.
    pub batch: i64,
    /// Registry lookups in flight at once per node.
    pub concurrency: usize,
    /// Pause between rounds when nothing is due.
    pub idle: Duration,
    /// When a registry failure is asked again.
    pub retry: Duration,
    /// How long a leased licence stays with the node that leased it.
    pub lease: Duration,
}

impl Default for RecheckPolicy {
    fn default() -> Self {
        Self {
            every: Duration::from_secs(30 * 24 * 3600),
            batch: 500,
            concurrency: 16,
            idle: Duration::from_secs(60),
            retry: Duration::from_secs(3600),
            lease: Duration::from_secs(600),
        }
    }
}

impl RecheckPolicy {
    /// `every`, in whole days, for SQL intervals.
    pub fn every_days(&self) -> i32 {
        i32::try_from(self.every.as_secs() / 86_400)
            .unwrap_or(i32::MAX)
            .max(1)
    }
}

/// A licence leased for re-checking.
struct Due {
    id: Uuid,
    nurse_id: Uuid,
    kind: CredentialKind,
    number: String,
    state: String,
    expires_on: NaiveDate,
    legal_name: Option<String>,
}

/// What one re-check found.
enum Outcome {
    Unchanged,
    Renewed {
        expires_on: NaiveDate,
        evidence: serde_json::Value,
    },
    Changed {
        found: &'static str,
        reason: String,
    },
    Unavailable(String),
}

/// Tallies of one round, for logs and the benchmark.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RecheckRound {
    pub leased: usize,
    pub unchanged: usize,
    pub renewed: usize,
    pub flagged: usize,
    pub unavailable: usize,
}

impl Verification {
    /// Leases up to one batch of due licences, re-checks them, and records the outcome.
    pub async fn recheck_due(&self) -> Result<RecheckRound, VerificationError> {
        let policy = &self.config.recheck;
        let leased = sqlx::query!(
            r#"UPDATE credentials c SET recheck_due_at = now() + make_interval(secs => $2)
               WHERE c.id IN (SELECT id FROM credentials
                              WHERE status = 'approved' AND recheck_due_at <= now()
                              ORDER BY recheck_due_at
                              LIMIT $1
                              FOR UPDATE SKIP LOCKED)
               RETURNING c.id, c.nurse_id, c.kind, c.number, c.issuing_state AS "state!",
                         c.expires_on,
                         (SELECT COALESCE(i.provider_legal_name, i.legal_name) FROM identities i
                          WHERE i.nurse_id = c.nurse_id AND i.status = 'verified') AS legal_name"#,
            policy.batch,
            policy.lease.as_secs_f64()
        )
        .fetch_all(&self.pool)
        .await?;
        let due: Vec<Due> = leased
            .into_iter()
            .filter_map(|r| {
                Some(Due {
                    kind: r.kind.parse().ok()?,
                    id: r.id,
                    nurse_id: r.nurse_id,
                    number: r.number,
                    state: r.state,
                    expires_on: r.expires_on,
                    legal_name: r.legal_name,
                })
            })
            .collect();
        let mut round = RecheckRound {
            leased: due.len(),
            ..RecheckRound::default()
        };
        let source = self.registry.source();
        let outcomes: Vec<(Due, Outcome)> = stream::iter(due)
            .map(|due| async {
                let query = LicenseQuery {
                    kind: due.kind,
                    number: due.number.clone(),
                    state: due.state.clone(),
                };
                let lookup = self.lookup(&query).await;
                let outcome = compare(&due, lookup, &source, today());
                (due, outcome)
            })
            .buffer_unordered(policy.concurrency.max(1))
            .collect()
            .await;

        let mut unchanged = Vec::new();
        let mut unavailable = Vec::new();
        for (due, outcome) in outcomes {
            match outcome {
                Outcome::Unchanged => unchanged.push(due.id),
                Outcome::Unavailable(error) => {
                    tracing::info!(credential_id = %due.id, %error, "re-check postponed");
                    unavailable.push(due.id);
                }
                Outcome::Renewed {
                    expires_on,
                    evidence,
                } => {
                    self.record_renewal(&due, expires_on, evidence).await?;
                    round.renewed += 1;
                }
                Outcome::Changed { found, reason } => {
                    self.record_flag(&due, found, &reason).await?;
                    round.flagged += 1;
                }
            }
        }
        round.unchanged = unchanged.len();
        round.unavailable = unavailable.len();
        if !unchanged.is_empty() {
            sqlx::query!(
                "UPDATE credentials
                 SET registry_checked_at = now(),
                     recheck_due_at = CASE WHEN expires_on::timestamptz > now()
                                           THEN LEAST(now() + make_interval(days => $2),
                                                      expires_on::timestamptz)
                                           ELSE now() + interval '1 day' END
                 WHERE id = ANY($1) AND status = 'approved'",
                &unchanged,
                policy.every_days()
            )
            .execute(&self.pool)
            .await?;
        }
        if !unavailable.is_empty() {
            sqlx::query!(
                "UPDATE credentials SET recheck_due_at = now() + make_interval(secs => $2)
                 WHERE id = ANY($1) AND status = 'approved'",
                &unavailable,
                policy.retry.as_secs_f64()
            )
            .execute(&self.pool)
            .await?;
        }
        Ok(round)
    }

    /// The registry shows the same licence renewed: the later expiry is taken, with the
    /// evidence, and the nurse's app hears of it.
    async fn record_renewal(
        &self,
        due: &Due,
        expires_on: NaiveDate,
        evidence: serde_json::Value,
    ) -> Result<(), VerificationError> {
        let mut tx = self.pool.begin().await?;
        let renewed = sqlx::query!(
            "UPDATE credentials
             SET expires_on = $2, evidence = $3, registry_checked_at = now(),
                 recheck_due_at = LEAST(now() + make_interval(days => $4), $2::date::timestamptz),
                 updated_at = now()
             WHERE id = $1 AND status = 'approved'",
            due.id,
            expires_on,
            evidence,
            self.config.recheck.every_days()
        )
        .execute(&mut *tx)
        .await?;
        if renewed.rows_affected() == 0 {
            return Ok(());
        }
        audit::record(
            &mut tx,
            AuditRecord {
                actor: None,
                action: "credential.renewed",
                subject_type: "credential",
                subject_id: due.id,
                reason: None,
                details: serde_json::json!({
                    "previous_expires_on": due.expires_on,
                    "expires_on": expires_on,
                    "evidence": evidence,
                }),
            },
        )
        .await?;
        let event = DomainEvent::VerificationUpdated {
            nurse_id: due.nurse_id,
            credential_id: due.id,
            status: CredentialStatus::Approved,
        };
        self.commit(tx, vec![event]).await
    }

    /// The registry's record changed: the credential stays approved and waits for a
    /// verifier, with what the re-check found. It is not re-checked again until decided.
    async fn record_flag(
        &self,
        due: &Due,
        found: &'static str,
        reason: &str,
    ) -> Result<(), VerificationError> {
        let mut tx = self.pool.begin().await?;
        let reason = format!("Re-check on {}: {reason}", today());
        let flagged = sqlx::query!(
            "UPDATE credentials
             SET flagged_at = now(), reason_code = 'registry_changed', reason = $2,
                 registry_checked_at = now(), recheck_due_at = NULL, updated_at = now()
             WHERE id = $1 AND status = 'approved'",
            due.id,
            reason
        )
        .execute(&mut *tx)
        .await?;
        if flagged.rows_affected() == 0 {
            return Ok(());
        }
        audit::record(
            &mut tx,
            AuditRecord {
                actor: None,
                action: "credential.flagged",
                subject_type: "credential",
                subject_id: due.id,
                reason: Some(&reason),
                details: serde_json::json!({ "reason_code": "registry_changed", "found": found }),
            },
        )
        .await?;
        tx.commit().await?;
        tracing::info!(credential_id = %due.id, found, "re-check flagged a changed registry record");
        Ok(())
    }

    /// Re-checks due licences until `shutdown`: a full batch goes straight on to the
    /// next, otherwise it waits `idle`.
    pub async fn run_rechecker(self, shutdown: CancellationToken) {
        loop {
            let full = match self.recheck_due().await {
                Ok(round) => {
                    if round.leased > 0 {
                        tracing::debug!(?round, "re-check round");
                    }
                    round.leased as i64 >= self.config.recheck.batch
                }
                Err(error) => {
                    tracing::warn!(%error, "re-check round failed; will retry");
                    false
                }
            };
            if full && !shutdown.is_cancelled() {
                continue;
            }
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(self.config.recheck.idle) => {}
            }
        }
    }
}

/// Compares the registry's answer with an approved licence.
fn compare(
    due: &Due,
    lookup: Result<Vec<RegistryRecord>, RegistryError>,
    source: &str,
    today: NaiveDate,
) -> Outcome {
    if let Err(error) = &lookup {
        return Outcome::Unavailable(error.0.clone());
    }
    let holder = match &due.legal_name {
        Some(name) => HolderName::Verified(name),
        None => HolderName::NotOnFile,
    };
    let submitted = Submitted {
        kind: due.kind,
        number: &due.number,
        state: &due.state,
        expires_on: due.expires_on,
        holder,
    };
    let renewal = lookup
        .as_ref()
        .ok()
        .and_then(|records| match records.as_slice() {
            [one] if one.expires_on > due.expires_on => Some(one.expires_on),
            _ => None,
        });
    match decide(&submitted, lookup.clone(), source, today) {
        Decision::Approved { .. } => Outcome::Unchanged,
        Decision::NeedsReview {
            reason_code: "expiry_mismatch",
            ..
        } if renewal.is_some() => {
            // Everything else must still hold at the new expiry.
            let expires_on = renewal.unwrap_or(due.expires_on);
            let renewed = Submitted {
                expires_on,
                ..submitted
            };
            match decide(&renewed, lookup, source, today) {
                Decision::Approved { evidence } => Outcome::Renewed {
                    expires_on,
                    evidence,
                },
                Decision::NeedsReview {
                    reason_code,
                    reason,
                } => Outcome::Changed {
                    found: reason_code,
                    reason,
                },
            }
        }
        Decision::NeedsReview {
            reason_code,
            reason,
        } => Outcome::Changed {
            found: reason_code,
            reason,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(s: &str) -> NaiveDate {
        s.parse().expect("date")
    }

    fn due(legal_name: Option<&str>) -> Due {
        Due {
            id: Uuid::now_v7(),
            nurse_id: Uuid::now_v7(),
            kind: CredentialKind::RN,
            number: "RN-100234".into(),
            state: "CA".into(),
            expires_on: date("2027-03-31"),
            legal_name: legal_name.map(str::to_owned),
        }
    }

    fn record(expires_on: &str) -> RegistryRecord {
        RegistryRecord {
            number: "RN-100234".into(),
            state: "CA".into(),
            kind: "RN".into(),
            holder_name: "Amara Okafor".into(),
            status: "active".into(),
            expires_on: date(expires_on),
            discipline_flag: false,
        }
    }

    fn found(outcome: Outcome) -> String {
        match outcome {
            Outcome::Unchanged => "unchanged".into(),
            Outcome::Renewed { expires_on, .. } => format!("renewed to {expires_on}"),
            Outcome::Changed { found, .. } => found.into(),
            Outcome::Unavailable(_) => "unavailable".into(),
        }
    }

    #[test]
    fn a_re_check_keeps_renews_flags_or_postpones() {
        let today = date("2026-11-29");
        let amara = due(Some("Amara Okafor"));
        let check = |lookup| found(compare(&amara, lookup, "table", today));
        assert_eq!(check(Ok(vec![record("2027-03-31")])), "unchanged");
        assert_eq!(
            check(Ok(vec![record("2029-03-31")])),
            "renewed to 2029-03-31"
        );
        assert_eq!(
            check(Err(RegistryError("timeout".into()))),
            "unavailable",
            "a failing registry changes nothing"
        );
        assert_eq!(check(Ok(vec![])), "not_found");
        let mut lapsed = record("2027-03-31");
        lapsed.status = "lapsed".into();
        assert_eq!(check(Ok(vec![lapsed])), "license_inactive");
        let mut disciplined = record("2029-03-31");
        disciplined.discipline_flag = true;
        assert_eq!(
            check(Ok(vec![disciplined])),
            "discipline_flag",
            "no renewal of a disciplined licence"
        );
        let mut other = record("2027-03-31");
        other.holder_name = "Someone Else".into();
        assert_eq!(check(Ok(vec![other.clone()])), "name_mismatch");
        // Approved before identity checks: the name is not compared, the rest is.
        let legacy = due(None);
        assert_eq!(
            found(compare(&legacy, Ok(vec![other]), "table", today)),
            "unchanged"
        );
        assert_eq!(check(Ok(vec![record("2026-06-30")])), "license_expired");
    }
}
