use crate::{NurseAccount, Verification, VerificationError, credentials::required_reason};
use shiftwire_core::DomainEvent;
use shiftwire_outbox::audit::{self, AuditRecord};
use uuid::Uuid;

impl Verification {
    /// Suspends a nurse: every session ends (refresh families revoked in the same
    /// transaction) and every request answers `account_suspended` from now on.
    pub async fn suspend(
        &self,
        actor: Uuid,
        nurse_id: Uuid,
        reason: &str,
    ) -> Result<NurseAccount, VerificationError> {
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
            return Err(VerificationError::NotFound);
        }
        let revoked = shiftwire_auth::refresh::revoke_all_in(&mut tx, nurse_id, "suspension")
            .await
            .map_err(|e| VerificationError::Internal(e.to_string()))?;
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
        // Her future bookings are cancelled and offered again with the suspension; the
        // suspension's own event comes last, so she hears of the bookings before her
        // sockets close.
        let released = self.bookings.release_ineligible(&mut tx, nurse_id).await?;
        let event = DomainEvent::UserSuspended { user_id: nurse_id };
        self.commit_with(tx, vec![event], released).await?;
        self.account(nurse_id).await
    }

    /// Lifts a suspension. The nurse signs in again; their credentials stand as they were.
    pub async fn reinstate(
        &self,
        actor: Uuid,
        nurse_id: Uuid,
    ) -> Result<NurseAccount, VerificationError> {
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
        .ok_or(VerificationError::NotFound)?;
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
        self.commit(tx, vec![event]).await?;
        self.account(nurse_id).await
    }

    async fn account(&self, nurse_id: Uuid) -> Result<NurseAccount, VerificationError> {
        let row = sqlx::query!(
            "SELECT name, suspended_at, suspended_reason FROM users WHERE id = $1 AND role = 'nurse'",
            nurse_id
        )
        .fetch_optional(&self.pool)
        .await?
        .ok_or(VerificationError::NotFound)?;
        Ok(NurseAccount {
            id: nurse_id,
            name: row.name,
            verification_status: self.verification_status(nurse_id).await?,
            suspended_at: row.suspended_at,
            suspended_reason: row.suspended_reason,
        })
    }
}
