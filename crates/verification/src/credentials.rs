use crate::{
    Credential, CredentialRow, Document, NewCredential, QueueItem, Verification, VerificationError,
    audit::{self, AuditRecord},
    documents::{MAX_DOCUMENT_BYTES, sniff_document_type},
};
use bytes::Bytes;
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use shiftwire_core::{CredentialStatus, DomainEvent, new_id};
use uuid::Uuid;

/// Most credentials one nurse may hold on file (any status).
pub const MAX_CREDENTIALS_PER_NURSE: i64 = 50;
/// Longest rejection or suspension reason.
pub const MAX_REASON_LEN: usize = 1000;

fn invalid(why: &str) -> VerificationError {
    VerificationError::InvalidCredential(why.to_owned())
}

/// A reason a person gave: trimmed, required, bounded.
pub(crate) fn required_reason(reason: &str) -> Result<&str, VerificationError> {
    let reason = reason.trim();
    if reason.is_empty() || reason.chars().count() > MAX_REASON_LEN {
        return Err(VerificationError::ReasonRequired);
    }
    Ok(reason)
}

pub(crate) fn today() -> chrono::NaiveDate {
    Utc::now().date_naive()
}

impl Verification {
    /// Records a new credential as pending and wakes the automatic check.
    pub async fn submit(
        &self,
        nurse_id: Uuid,
        new: NewCredential,
    ) -> Result<Credential, VerificationError> {
        let number = new.number.trim().to_ascii_uppercase();
        if number.is_empty()
            || number.len() > 40
            || !number
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || " -.".contains(c))
        {
            return Err(invalid(
                "number must be 1 to 40 letters, digits, spaces, dots or dashes",
            ));
        }
        match (new.kind.is_licence(), &new.issuing_state) {
            (true, None) => return Err(invalid("a licence needs its issuing_state")),
            (false, Some(_)) => {
                return Err(invalid(
                    "certifications (BLS, ACLS, PALS) have no issuing_state; leave it out",
                ));
            }
            _ => {}
        }
        if new.multistate && !new.kind.may_be_multistate() {
            return Err(invalid("only RN and LPN licences can be multistate"));
        }
        if new.expires_on < today() {
            return Err(invalid("expires_on is in the past"));
        }

        let mut tx = self.pool.begin().await?;
        // Lock the nurse's row so concurrent submissions cannot pass the cap together.
        let held = sqlx::query_scalar!(
            r#"SELECT (SELECT count(*) FROM credentials WHERE nurse_id = u.id) AS "n!"
               FROM users u WHERE u.id = $1 FOR UPDATE"#,
            nurse_id
        )
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(VerificationError::NotFound)?;
        if held >= MAX_CREDENTIALS_PER_NURSE {
            return Err(invalid("at most 50 credentials can be on file"));
        }
        let id = new_id();
        let submitted_at = sqlx::query_scalar!(
            "INSERT INTO credentials (id, nurse_id, kind, number, issuing_state, expires_on, multistate)
             VALUES ($1, $2, $3, $4, $5, $6, $7)
             RETURNING submitted_at",
            id,
            nurse_id,
            new.kind.as_str(),
            number,
            new.issuing_state.as_ref().map(|s| s.as_str()),
            new.expires_on,
            new.multistate
        )
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| match e.as_database_error().and_then(|d| d.constraint()) {
            Some("credentials_one_live_per_number") => VerificationError::DuplicateCredential,
            _ => e.into(),
        })?;
        tx.commit().await?;
        self.wake_checker.notify_one();
        // As submitted: the automatic check may already be deciding it.
        Ok(Credential {
            id,
            nurse_id,
            kind: new.kind,
            number,
            issuing_state: new.issuing_state.map(|s| s.as_str().to_owned()),
            expires_on: new.expires_on,
            multistate: new.multistate,
            status: CredentialStatus::Pending,
            reason_code: None,
            reason: None,
            checked: false,
            decided_at: None,
            decision_reason: None,
            has_document: false,
            submitted_at,
            updated_at: submitted_at,
        })
    }

    /// Credentials by id and/or nurse, newest first.
    async fn select_credentials(
        &self,
        id: Option<Uuid>,
        nurse_id: Option<Uuid>,
    ) -> Result<Vec<Credential>, VerificationError> {
        let rows = sqlx::query_as!(
            CredentialRow,
            r#"SELECT c.id, c.nurse_id, c.kind, c.number, c.issuing_state, c.expires_on,
                      c.multistate, c.status, c.reason_code, c.reason,
                      c.checked_at IS NOT NULL AS "checked!", c.decided_at, c.decision_reason,
                      d.credential_id IS NOT NULL AS "has_document!", c.submitted_at, c.updated_at
               FROM credentials c
               LEFT JOIN credential_documents d ON d.credential_id = c.id
               WHERE ($1::uuid IS NULL OR c.id = $1)
                 AND ($2::uuid IS NULL OR c.nurse_id = $2)
               ORDER BY c.id DESC"#,
            id,
            nurse_id
        )
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(TryInto::try_into).collect()
    }

    /// One credential by id, whoever owns it.
    pub async fn credential(&self, id: Uuid) -> Result<Credential, VerificationError> {
        self.select_credentials(Some(id), None)
            .await?
            .pop()
            .ok_or(VerificationError::NotFound)
    }

    /// A nurse's own credential; another nurse's answers `NotFound`.
    pub async fn credential_of(
        &self,
        nurse_id: Uuid,
        id: Uuid,
    ) -> Result<Credential, VerificationError> {
        self.select_credentials(Some(id), Some(nurse_id))
            .await?
            .pop()
            .ok_or(VerificationError::NotFound)
    }

    /// Every credential of a nurse, newest first.
    pub async fn credentials_of(
        &self,
        nurse_id: Uuid,
    ) -> Result<Vec<Credential>, VerificationError> {
        self.select_credentials(None, Some(nurse_id)).await
    }

    /// Stores the document of a nurse's own pending credential, replacing any earlier one.
    pub async fn upload_document(
        &self,
        nurse_id: Uuid,
        id: Uuid,
        bytes: Bytes,
    ) -> Result<Credential, VerificationError> {
        let credential = self.credential_of(nurse_id, id).await?;
        if credential.status != CredentialStatus::Pending {
            return Err(VerificationError::AlreadyDecided);
        }
        if bytes.is_empty() || bytes.len() > MAX_DOCUMENT_BYTES {
            return Err(VerificationError::UnsupportedDocumentType);
        }
        let content_type =
            sniff_document_type(&bytes).ok_or(VerificationError::UnsupportedDocumentType)?;
        let hashed = bytes.clone();
        let sha256 = tokio::task::spawn_blocking(move || Sha256::digest(&hashed).to_vec())
            .await
            .map_err(|e| VerificationError::Internal(e.to_string()))?;
        let size = i64::try_from(bytes.len()).unwrap_or(i64::MAX);
        let key = new_id();
        self.documents.put(key, bytes).await?;

        let stored = async {
            let mut tx = self.pool.begin().await?;
            let replaced = sqlx::query_scalar!(
                "SELECT storage_key FROM credential_documents WHERE credential_id = $1 FOR UPDATE",
                id
            )
            .fetch_optional(&mut *tx)
            .await?;
            sqlx::query!(
                "INSERT INTO credential_documents (credential_id, storage_key, content_type, size_bytes, sha256)
                 VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (credential_id) DO UPDATE
                 SET storage_key = EXCLUDED.storage_key, content_type = EXCLUDED.content_type,
                     size_bytes = EXCLUDED.size_bytes, sha256 = EXCLUDED.sha256, uploaded_at = now()",
                id,
                key.to_string(),
                content_type,
                size,
                sha256
            )
            .execute(&mut *tx)
            .await?;
            audit::record(
                &mut tx,
                AuditRecord {
                    actor: Some(nurse_id),
                    action: "document.uploaded",
                    subject_type: "credential",
                    subject_id: id,
                    reason: None,
                    details: serde_json::json!({ "content_type": content_type, "size_bytes": size }),
                },
            )
            .await?;
            tx.commit().await?;
            Ok::<_, VerificationError>(replaced)
        }
        .await;
        match stored {
            Ok(replaced) => {
                if let Some(old) = replaced.and_then(|k| Uuid::parse_str(&k).ok())
                    && let Err(error) = self.documents.delete(old).await
                {
                    tracing::warn!(%error, credential_id = %id, "replaced document not deleted");
                }
                self.credential(id).await
            }
            Err(error) => {
                // Nothing refers to the new file: remove it so a failure stores nothing.
                let _ = self.documents.delete(key).await;
                Err(error)
            }
        }
    }

    /// The verifiers' queue: pending credentials the automatic check handed over, oldest
    /// first, after the `(submitted_at, id)` cursor.
    pub async fn review_queue(
        &self,
        after: Option<(DateTime<Utc>, Uuid)>,
        limit: i64,
    ) -> Result<Vec<QueueItem>, VerificationError> {
        let (after_at, after_id) = after.unzip();
        let rows = sqlx::query!(
            r#"SELECT c.id, c.nurse_id, c.kind, c.number, c.issuing_state, c.expires_on,
                      c.multistate, c.status, c.reason_code, c.reason,
                      c.checked_at IS NOT NULL AS "checked!", c.decided_at, c.decision_reason,
                      d.credential_id IS NOT NULL AS "has_document!", c.submitted_at, c.updated_at,
                      u.name AS nurse_name
               FROM credentials c
               JOIN users u ON u.id = c.nurse_id
               LEFT JOIN credential_documents d ON d.credential_id = c.id
               WHERE c.status = 'pending' AND c.checked_at IS NOT NULL
                 AND ($1::timestamptz IS NULL OR (c.submitted_at, c.id) > ($1, $2))
               ORDER BY c.submitted_at, c.id
               LIMIT $3"#,
            after_at,
            after_id,
            limit
        )
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|r| {
                let credential = CredentialRow {
                    id: r.id,
                    nurse_id: r.nurse_id,
                    kind: r.kind,
                    number: r.number,
                    issuing_state: r.issuing_state,
                    expires_on: r.expires_on,
                    multistate: r.multistate,
                    status: r.status,
                    reason_code: r.reason_code,
                    reason: r.reason,
                    checked: r.checked,
                    decided_at: r.decided_at,
                    decision_reason: r.decision_reason,
                    has_document: r.has_document,
                    submitted_at: r.submitted_at,
                    updated_at: r.updated_at,
                }
                .try_into()?;
                Ok(QueueItem {
                    credential,
                    nurse_name: r.nurse_name,
                })
            })
            .collect()
    }

    /// A verifier approves a pending credential.
    pub async fn approve(&self, actor: Uuid, id: Uuid) -> Result<Credential, VerificationError> {
        self.decide(actor, id, CredentialStatus::Approved, None)
            .await
    }

    /// A verifier rejects a pending credential, saying why.
    pub async fn reject(
        &self,
        actor: Uuid,
        id: Uuid,
        reason: &str,
    ) -> Result<Credential, VerificationError> {
        let reason = required_reason(reason)?;
        self.decide(actor, id, CredentialStatus::Rejected, Some(reason))
            .await
    }

    async fn decide(
        &self,
        actor: Uuid,
        id: Uuid,
        status: CredentialStatus,
        reason: Option<&str>,
    ) -> Result<Credential, VerificationError> {
        let mut tx = self.pool.begin().await?;
        // Conditional on `pending`: of two racing decisions exactly one finds the row.
        let decided = sqlx::query!(
            "UPDATE credentials
             SET status = $3, decided_by = $2, decided_at = now(), decision_reason = $4,
                 updated_at = now()
             WHERE id = $1 AND status = 'pending'
               AND ($3 <> 'approved' OR expires_on >= (now() AT TIME ZONE 'UTC')::date)
             RETURNING nurse_id, reason_code",
            id,
            actor,
            status.as_str(),
            reason
        )
        .fetch_optional(&mut *tx)
        .await?;
        let Some(decided) = decided else {
            let current = sqlx::query_scalar!("SELECT status FROM credentials WHERE id = $1", id)
                .fetch_optional(&mut *tx)
                .await?;
            return Err(match current.as_deref() {
                None => VerificationError::NotFound,
                Some("pending") => VerificationError::CredentialExpired,
                Some(_) => VerificationError::AlreadyDecided,
            });
        };
        audit::record(
            &mut tx,
            AuditRecord {
                actor: Some(actor),
                action: match status {
                    CredentialStatus::Approved => "credential.approved",
                    _ => "credential.rejected",
                },
                subject_type: "credential",
                subject_id: id,
                reason,
                details: serde_json::json!({ "flagged_as": decided.reason_code }),
            },
        )
        .await?;
        let event = DomainEvent::VerificationUpdated {
            nurse_id: decided.nurse_id,
            credential_id: id,
            status,
        };
        self.commit(tx, vec![event]).await?;
        self.credential(id).await
    }

    /// A verifier opens a credential's document; the access is audited.
    pub async fn download_document(
        &self,
        actor: Uuid,
        id: Uuid,
    ) -> Result<Document, VerificationError> {
        let stored = sqlx::query!(
            "SELECT storage_key, content_type FROM credential_documents WHERE credential_id = $1",
            id
        )
        .fetch_optional(&self.pool)
        .await?
        .ok_or(VerificationError::NotFound)?;
        let key = Uuid::parse_str(&stored.storage_key)
            .map_err(|e| VerificationError::Internal(e.to_string()))?;
        let bytes = self.documents.get(key).await?;
        let mut tx = self.pool.begin().await?;
        audit::record(
            &mut tx,
            AuditRecord {
                actor: Some(actor),
                action: "document.viewed",
                subject_type: "credential",
                subject_id: id,
                reason: None,
                details: serde_json::json!({ "content_type": stored.content_type }),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(Document {
            content_type: stored.content_type,
            bytes,
        })
    }
}
