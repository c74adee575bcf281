//! Accounts as other rooms and admins see them: display names, whether a nurse may act
//! (suspension), and the suspension and reinstatement of nurses. Suspension ends every
//! session and starts a new token generation in one transaction with its consequences
//! (the marketplace releasing her future bookings) and its announcement.

use crate::AuthError;
use chrono::{DateTime, Utc};
use shiftwire_core::{DomainEvent, EventBus, text};
use shiftwire_outbox::{
    Consequence,
    audit::{self, AuditRecord},
};
use sqlx::{PgConnection, PgPool};
use std::{collections::HashMap, sync::Arc};
use uuid::Uuid;

/// Longest display name.
const MAX_NAME_LEN: usize = 100;

/// A nurse's account: how she signs in, her display name and her standing.
#[derive(Debug, Clone)]
pub struct NurseAccount {
    pub id: Uuid,
    /// E.164.
    pub phone: String,
    /// Display name, chosen by the nurse (never used to verify anything).
    pub name: Option<String>,
    pub suspended_at: Option<DateTime<Utc>>,
    pub suspended_reason: Option<String>,
}

/// Nurse accounts and their suspension. Cheap to clone.
#[derive(Clone)]
pub struct Accounts {
    pool: PgPool,
    events: Arc<dyn EventBus>,
    /// What suspension means elsewhere (the marketplace releases her bookings).
    on_suspension: Arc<dyn Consequence>,
}

/// A display name: inner runs of spaces collapsed, 1 to 100 characters, some visible,
/// no control characters.
pub fn display_name(raw: &str) -> Result<String, AuthError> {
    let name = raw.split_whitespace().collect::<Vec<_>>().join(" ");
    if text::is_blank(&name) || name.chars().count() > MAX_NAME_LEN {
        return Err(AuthError::InvalidProfile(
            "name must be 1 to 100 characters",
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(AuthError::InvalidProfile(
            "name must not contain control characters",
        ));
    }
    Ok(name)
}

fn required_reason(reason: &str) -> Result<&str, AuthError> {
    text::reason(reason).ok_or(AuthError::ReasonRequired)
}

/// Of each of `ids` that is a nurse: whether she is suspended, read on the caller's
/// connection (inside its transaction, so a suspension in progress counts).
pub async fn nurse_standing_in(
    conn: &mut PgConnection,
    ids: &[Uuid],
) -> Result<HashMap<Uuid, bool>, sqlx::Error> {
    let rows = sqlx::query!(
        r#"SELECT id, suspended_at IS NOT NULL AS "suspended!" FROM users
           WHERE id = ANY($1) AND role = 'nurse'"#,
        ids
    )
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(|r| (r.id, r.suspended)).collect())
}

impl Accounts {
    pub fn new(
        pool: PgPool,
        events: Arc<dyn EventBus>,
        on_suspension: Arc<dyn Consequence>,
    ) -> Self {
        Self {
            pool,
            events,
            on_suspension,
        }
    }

    /// Display names of users, by id (staff have none).
    pub async fn names(&self, ids: &[Uuid]) -> Result<HashMap<Uuid, Option<String>>, AuthError> {
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        let rows = sqlx::query!("SELECT id, name FROM users WHERE id = ANY($1)", ids)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.into_iter().map(|r| (r.id, r.name)).collect())
    }

    /// A nurse's account; `NotFound` for anyone else.
    pub async fn nurse(&self, id: Uuid) -> Result<NurseAccount, AuthError> {
        let row = sqlx::query!(
            r#"SELECT id, phone AS "phone!", name, suspended_at, suspended_reason FROM users
               WHERE id = $1 AND role = 'nurse'"#,
            id
        )
        .fetch_optional(&self.pool)
        .await?
        .ok_or(AuthError::NotFound)?;
        Ok(NurseAccount {
            id: row.id,
            phone: row.phone,
            name: row.name,
            suspended_at: row.suspended_at,
            suspended_reason: row.suspended_reason,
        })
    }

    /// Sets a nurse's display name (already checked by [`display_name`]).
    pub async fn set_name(&self, id: Uuid, name: &str) -> Result<(), AuthError> {
        let changed = sqlx::query!(
            "UPDATE users SET name = $2 WHERE id = $1 AND role = 'nurse'",
            id,
            name
        )
        .execute(&self.pool)
        .await?;
        if changed.rows_affected() != 1 {
            return Err(AuthError::NotFound);
        }
        Ok(())
    }

    /// Suspends a nurse: every session ends, every access token she holds dies (a new
    /// token generation), her future bookings are released, and every request of hers
    /// answers `account_suspended` from now on. The suspension's own event comes after
    /// the bookings' ones, so she hears of them before her sockets close.
    pub async fn suspend(
        &self,
        actor: Uuid,
        nurse_id: Uuid,
        reason: &str,
    ) -> Result<NurseAccount, AuthError> {
        let reason = required_reason(reason)?;
        let mut tx = self.pool.begin().await?;
        let changed = sqlx::query!(
            "UPDATE users SET suspended_at = COALESCE(suspended_at, now()), suspended_reason = $2,
                              token_epoch = token_epoch + 1
             WHERE id = $1 AND role = 'nurse'",
            nurse_id,
            reason
        )
        .execute(&mut *tx)
        .await?;
        if changed.rows_affected() != 1 {
            return Err(AuthError::NotFound);
        }
        let revoked = crate::refresh::revoke_all_in(&mut tx, nurse_id, "suspension").await?;
        audit::record(
            &mut tx,
            AuditRecord {
                actor: Some(actor),
                action: "nurse.suspended",
                subject_type: "nurse",
                subject_id: nurse_id,
                reason: Some(reason),
                details: serde_json::json!({ "sessions_revoked": revoked }),
            },
        )
        .await?;
        let mut published = self.on_suspension.follow(&mut tx, nurse_id).await?;
        let event = DomainEvent::UserSuspended { user_id: nurse_id };
        published.extend(shiftwire_outbox::record(&mut tx, vec![event]).await?);
        shiftwire_outbox::commit(tx, published, self.events.as_ref()).await?;
        self.nurse(nurse_id).await
    }

    /// Lifts a suspension. She signs in again: old sessions and tokens stay dead, and
    /// released bookings stay released.
    pub async fn reinstate(&self, actor: Uuid, nurse_id: Uuid) -> Result<NurseAccount, AuthError> {
        let mut tx = self.pool.begin().await?;
        let previous = sqlx::query_scalar!(
            "UPDATE users u SET suspended_at = NULL, suspended_reason = NULL
             FROM users old
             WHERE u.id = $1 AND u.role = 'nurse' AND old.id = u.id
             RETURNING old.suspended_reason",
            nurse_id
        )
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(AuthError::NotFound)?;
        audit::record(
            &mut tx,
            AuditRecord {
                actor: Some(actor),
                action: "nurse.reinstated",
                subject_type: "nurse",
                subject_id: nurse_id,
                reason: None,
                details: serde_json::json!({ "suspended_reason": previous }),
            },
        )
        .await?;
        let event = DomainEvent::UserReinstated { user_id: nurse_id };
        shiftwire_outbox::record_and_commit(tx, vec![event], self.events.as_ref()).await?;
        self.nurse(nurse_id).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_are_visible_and_bounded() {
        assert_eq!(
            display_name("  Amara   Okafor ").ok().as_deref(),
            Some("Amara Okafor")
        );
        for bad in ["", "  ", "\u{200B}", &"a".repeat(101)] {
            assert!(display_name(bad).is_err(), "{bad:?}");
        }
    }
}
