use crate::{AuditEntry, Verification, VerificationError};
use shiftwire_core::new_id;
use sqlx::{Postgres, Transaction};
use uuid::Uuid;

/// An audit row to write; `actor: None` is Shiftwire itself (the automatic check, the sweeper).
pub(crate) struct AuditRecord<'a> {
    pub actor: Option<Uuid>,
    pub action: &'a str,
    pub subject_type: &'a str,
    pub subject_id: Uuid,
    pub reason: Option<&'a str>,
    pub details: serde_json::Value,
}

pub(crate) async fn record(
    tx: &mut Transaction<'_, Postgres>,
    entry: AuditRecord<'_>,
) -> Result<(), VerificationError> {
    sqlx::query!(
        "INSERT INTO audit_log (id, actor_id, action, subject_type, subject_id, reason, details)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        new_id(),
        entry.actor,
        entry.action,
        entry.subject_type,
        entry.subject_id,
        entry.reason,
        entry.details
    )
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Which audit rows to list: by actor and/or subject, newest first, after `before`.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub actor: Option<Uuid>,
    pub subject: Option<Uuid>,
    /// Only rows older than this id (ids are time-ordered UUID v7): the page cursor.
    pub before: Option<Uuid>,
    pub limit: i64,
}

impl Verification {
    /// The audit log, newest first.
    pub async fn audit_log(
        &self,
        filter: &AuditFilter,
    ) -> Result<Vec<AuditEntry>, VerificationError> {
        let rows = sqlx::query_as!(
            AuditEntry,
            "SELECT id, at, actor_id, action, subject_type, subject_id, reason, details
             FROM audit_log
             WHERE ($1::uuid IS NULL OR actor_id = $1)
               AND ($2::uuid IS NULL OR subject_id = $2)
               AND ($3::uuid IS NULL OR id < $3)
             ORDER BY id DESC
             LIMIT $4",
            filter.actor,
            filter.subject,
            filter.before,
            filter.limit
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows)
    }
}
