//! The verifiers' queue: every case the automation handed to a person, oldest first, each
//! with the reason it could not decide. Credentials the automatic check could not
//! approve, approved credentials a re-check found changed, identities to compare with
//! their photo ID, and nurses approved before identity checks who have none on file.
//! Licences waiting for their nurse's identity are not here: nothing is decidable yet.

use crate::{QueueCase, QueueItem, QueueKind, Verification, VerificationError};
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use uuid::Uuid;

const IDENTITY_MISSING_REASON: &str = "Approved before identity checks existed, and no verified identity is on file: ask the nurse to submit her photo ID and selfie.";

impl Verification {
    /// A page of the queue after the `(queued_at, key)` cursor.
    pub async fn review_queue(
        &self,
        kind: Option<QueueKind>,
        after: Option<(DateTime<Utc>, Uuid)>,
        limit: i64,
    ) -> Result<Vec<QueueItem>, VerificationError> {
        let (after_at, after_key) = after.unzip();
        let kind = kind.map(|k| match k {
            QueueKind::Credential => "credential",
            QueueKind::Identity => "identity",
        });
        let rows = sqlx::query!(
            r#"SELECT q.kind AS "kind!", q.key AS "key!", q.nurse_id AS "nurse_id!",
                      q.queued_at AS "queued_at!", q.reason_code, q.reason
               FROM (
                   SELECT 'credential' AS kind, c.id AS key, c.nurse_id,
                          COALESCE(c.flagged_at, c.submitted_at) AS queued_at,
                          c.reason_code, c.reason
                   FROM credentials c
                   WHERE (c.status = 'pending' AND c.checked_at IS NOT NULL
                          AND c.reason_code IS DISTINCT FROM 'identity_unverified')
                      OR (c.status = 'approved' AND c.flagged_at IS NOT NULL)
                   UNION ALL
                   SELECT 'identity', i.id, i.nurse_id, i.submitted_at, i.reason_code, i.reason
                   FROM identities i
                   WHERE i.status = 'pending' AND i.reason_code IS NOT NULL
                   UNION ALL
                   SELECT 'identity_missing', c.nurse_id, c.nurse_id,
                          COALESCE(min(c.decided_at), min(c.submitted_at)),
                          'identity_review', NULL
                   FROM credentials c
                   WHERE c.status = 'approved' AND c.kind IN ('RN', 'LPN', 'CNA', 'NP')
                     AND NOT EXISTS (SELECT 1 FROM identities i
                                     WHERE i.nurse_id = c.nurse_id
                                       AND i.status IN ('pending', 'verified'))
                   GROUP BY c.nurse_id
               ) q
               WHERE ($1::text IS NULL OR q.kind = $1
                      OR ($1 = 'identity' AND q.kind = 'identity_missing'))
                 AND ($2::timestamptz IS NULL OR (q.queued_at, q.key) > ($2, $3))
               ORDER BY q.queued_at, q.key
               LIMIT $4"#,
            kind,
            after_at,
            after_key,
            limit
        )
        .fetch_all(&self.pool)
        .await?;
        let ids_of = |wanted: &str| -> Vec<Uuid> {
            rows.iter()
                .filter(|r| r.kind == wanted)
                .map(|r| r.key)
                .collect()
        };
        let mut credentials: HashMap<Uuid, _> = self
            .credentials_by_ids(&ids_of("credential"))
            .await?
            .into_iter()
            .map(|c| (c.id, c))
            .collect();
        let mut identities: HashMap<Uuid, _> = self
            .identities_by_ids(&ids_of("identity"))
            .await?
            .into_iter()
            .map(|i| (i.id, i))
            .collect();
        let mut items = Vec::with_capacity(rows.len());
        for row in rows {
            let case = match row.kind.as_str() {
                "credential" => credentials.remove(&row.key).map(QueueCase::Credential),
                "identity" => identities.remove(&row.key).map(QueueCase::Identity),
                _ => Some(QueueCase::IdentityMissing),
            };
            // Decided between the two reads: no longer a case.
            let Some(case) = case else { continue };
            let reason = match case {
                QueueCase::IdentityMissing => Some(IDENTITY_MISSING_REASON.to_owned()),
                _ => row.reason,
            };
            items.push(QueueItem {
                case,
                nurse_id: row.nurse_id,
                nurse_name: None,
                reason_code: row.reason_code.unwrap_or_else(|| "needs_review".to_owned()),
                reason,
                queued_at: row.queued_at,
                key: row.key,
            });
        }
        Ok(items)
    }
}
