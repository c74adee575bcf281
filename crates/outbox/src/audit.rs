//! The append-only audit log: every decision and every view of a document, written in the
//! transaction of the act it records. The table refuses updates and deletes (a trigger).

use chrono::{DateTime, Utc};
use serde::Serialize;
use shiftwire_core::new_id;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

/// An audit row to write; `actor: None` is Shiftwire itself (the automatic check, a
/// sweeper).
pub struct AuditRecord<'a> {
    pub actor: Option<Uuid>,
    pub action: &'a str,
    pub subject_type: &'a str,
    pub subject_id: Uuid,
    pub reason: Option<&'a str>,
    pub details: serde_json::Value,
}

/// Writes one audit row inside the caller's transaction.
pub async fn record(conn: &mut PgConnection, entry: AuditRecord<'_>) -> Result<(), sqlx::Error> {
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
    .execute(conn)
    .await?;
    Ok(())
}

/// One row of the audit log.
#[derive(Debug, Clone, Serialize)]
pub struct AuditEntry {
    pub id: Uuid,
    pub at: DateTime<Utc>,
    pub actor_id: Option<Uuid>,
    pub action: String,
    pub subject_type: String,
    pub subject_id: Uuid,
    pub reason: Option<String>,
    pub details: serde_json::Value,
}

/// Which audit rows to list: by actor and/or subject, newest first, after `before`.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub actor: Option<Uuid>,
    pub subject: Option<Uuid>,
    /// Only rows of this action (`credential.approved`, `nurse.suspended`, ...).
    pub action: Option<String>,
    /// Only rows older than this id (ids are time-ordered UUID v7): the page cursor.
    pub before: Option<Uuid>,
    pub limit: i64,
}

/// The audit log, newest first.
pub async fn read(pool: &PgPool, filter: &AuditFilter) -> Result<Vec<AuditEntry>, sqlx::Error> {
    sqlx::query_as!(
        AuditEntry,
        "SELECT id, at, actor_id, action, subject_type, subject_id, reason, details
         FROM audit_log
         WHERE ($1::uuid IS NULL OR actor_id = $1)
           AND ($2::uuid IS NULL OR subject_id = $2)
           AND ($3::uuid IS NULL OR id < $3)
           AND ($5::text IS NULL OR action = $5)
         ORDER BY id DESC
         LIMIT $4",
        filter.actor,
        filter.subject,
        filter.before,
        filter.limit,
        filter.action
    )
    .fetch_all(pool)
    .await
}
