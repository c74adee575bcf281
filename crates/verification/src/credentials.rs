use crate::identity::verified_legal_name;
use crate::{
    Credential, CredentialRow, Document, NewCredential, Verification, VerificationError,
    documents::{MAX_DOCUMENT_BYTES, sniff_document_type},
};
use bytes::Bytes;
use chrono::Utc;
use sha2::{Digest, Sha256};
use shiftwire_core::{CredentialKind, CredentialStatus, DomainEvent, PublishedEvent, new_id};
use shiftwire_outbox::audit::{self, AuditRecord};
use sqlx::{PgConnection, Postgres, Transaction};
use uuid::Uuid;

/// Most credentials one nurse may hold on file (any status).
pub const MAX_CREDENTIALS_PER_NURSE: i64 = 50;

fn invalid(why: &str) -> VerificationError {
    VerificationError::InvalidCredential(why.to_owned())
}

/// A reason a person gave (`shiftwire_core::text::reason`).
pub(crate) fn required_reason(reason: &str) -> Result<&str, VerificationError> {
    shiftwire_core::text::reason(reason).ok_or(VerificationError::ReasonRequired)
}

/// Whether `error` is the database refusing a second approval of one licence.
pub(crate) fn is_licence_in_use(error: &sqlx::Error) -> bool {
    error
        .as_database_error()
        .and_then(|d| d.constraint())
        .is_some_and(|c| c == "credentials_one_approved_licence")
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
        // Concurrent submissions of one nurse cannot pass the cap together.
        crate::profile::lock_nurse(&mut tx, nurse_id).await?;
        let held = sqlx::query_scalar!(
            r#"SELECT count(*) AS "n!" FROM credentials WHERE nurse_id = $1"#,
            nurse_id
        )
        .fetch_one(&mut *tx)
        .await?;
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
            flagged_at: None,
            revoked_at: None,
            revoke_reason: None,
            submitted_at,
            updated_at: submitted_at,
            evidence: None,
            document_type: None,
        })
    }

    /// Credentials by ids and/or nurse, newest first.
    async fn select_credentials(
        &self,
        ids: Option<&[Uuid]>,
        nurse_id: Option<Uuid>,
    ) -> Result<Vec<Credential>, VerificationError> {
        let rows = sqlx::query_as!(
            CredentialRow,
            r#"SELECT c.id, c.nurse_id, c.kind, c.number, c.issuing_state, c.expires_on,
                      c.multistate, c.status, c.reason_code, c.reason,
                      c.checked_at IS NOT NULL AS "checked!", c.decided_at, c.decision_reason,
                      d.credential_id IS NOT NULL AS "has_document!", c.flagged_at,
                      c.revoked_at, c.revoke_reason, c.submitted_at, c.updated_at,
                      c.evidence, d.content_type AS "document_type?"
               FROM credentials c
               LEFT JOIN credential_documents d ON d.credential_id = c.id
               WHERE ($1::uuid[] IS NULL OR c.id = ANY($1))
                 AND ($2::uuid IS NULL OR c.nurse_id = $2)
               ORDER BY c.id DESC"#,
            ids,
            nurse_id
        )
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(TryInto::try_into).collect()
    }

    /// Credentials by id, whoever owns them.
    pub(crate) async fn credentials_by_ids(
        &self,
        ids: &[Uuid],
    ) -> Result<Vec<Credential>, VerificationError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        self.select_credentials(Some(ids), None).await
    }

    /// One credential by id, whoever owns it.
    pub async fn credential(&self, id: Uuid) -> Result<Credential, VerificationError> {
        self.select_credentials(Some(&[id]), None)
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
        self.select_credentials(Some(&[id]), Some(nurse_id))
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
            // Checked again under the row's lock: a decision taken while the file was
            // being written wins, and the decided credential keeps its document.
            let status = sqlx::query_scalar!(
                "SELECT status FROM credentials WHERE id = $1 AND nurse_id = $2 FOR UPDATE",
                id,
                nurse_id
            )
            .fetch_optional(&mut *tx)
            .await?
            .ok_or(VerificationError::NotFound)?;
            if status != "pending" {
                return Err(VerificationError::AlreadyDecided);
            }
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

    /// A verifier approves a pending credential, or keeps an approved one a re-check
    /// flagged (the flag is cleared). A licence needs its nurse's verified identity, and
    /// is approved on one account at most.
    pub async fn approve(&self, actor: Uuid, id: Uuid) -> Result<Credential, VerificationError> {
        let mut tx = self.pool.begin().await?;
        let current = sqlx::query!(
            "SELECT nurse_id, kind, status, flagged_at, reason_code FROM credentials
             WHERE id = $1 FOR UPDATE",
            id
        )
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(VerificationError::NotFound)?;
        if current.status == "approved" && current.flagged_at.is_some() {
            return self.keep_flagged(tx, actor, id, current.reason_code).await;
        }
        if current.status != "pending" {
            return Err(VerificationError::AlreadyDecided);
        }
        let kind: CredentialKind = current
            .kind
            .parse()
            .map_err(|_| VerificationError::Internal("stored kind is unknown".into()))?;
        if kind.is_licence()
            && verified_legal_name(&mut tx, current.nurse_id)
                .await?
                .is_none()
        {
            return Err(VerificationError::IdentityUnverified);
        }
        // A savepoint: a licence approved on another account meanwhile is a refusal, not
        // a failed transaction.
        let mut savepoint = sqlx::Connection::begin(&mut *tx).await?;
        let approved = sqlx::query!(
            "UPDATE credentials
             SET status = 'approved', decided_by = $2, decided_at = now(),
                 decision_reason = NULL, updated_at = now(),
                 recheck_due_at = CASE WHEN kind IN ('RN', 'LPN', 'CNA', 'NP')
                                       THEN LEAST(now() + make_interval(days => $3),
                                                  expires_on::timestamptz) END
             WHERE id = $1 AND status = 'pending'
               AND expires_on >= (now() AT TIME ZONE 'UTC')::date
             RETURNING reason_code",
            id,
            actor,
            self.config.recheck.every_days()
        )
        .fetch_optional(&mut *savepoint)
        .await;
        let decided = match approved {
            Ok(Some(row)) => {
                savepoint.commit().await?;
                row
            }
            Ok(None) => return Err(VerificationError::CredentialExpired),
            Err(e) if is_licence_in_use(&e) => return Err(VerificationError::LicenceInUse),
            Err(e) => return Err(e.into()),
        };
        audit::record(
            &mut tx,
            AuditRecord {
                actor: Some(actor),
                action: "credential.approved",
                subject_type: "credential",
                subject_id: id,
                reason: None,
                details: serde_json::json!({ "flagged_as": decided.reason_code }),
            },
        )
        .await?;
        let event = DomainEvent::VerificationUpdated {
            nurse_id: current.nurse_id,
            credential_id: id,
            status: CredentialStatus::Approved,
        };
        self.commit(tx, vec![event]).await?;
        self.credential(id).await
    }

    /// Keeps an approved credential a re-check flagged: the verifier looked and it stands.
    async fn keep_flagged(
        &self,
        mut tx: sqlx::Transaction<'_, sqlx::Postgres>,
        actor: Uuid,
        id: Uuid,
        flagged_as: Option<String>,
    ) -> Result<Credential, VerificationError> {
        sqlx::query!(
            "UPDATE credentials
             SET flagged_at = NULL, reason_code = NULL, reason = NULL, updated_at = now(),
                 recheck_due_at = LEAST(now() + make_interval(days => $2),
                                        expires_on::timestamptz)
             WHERE id = $1",
            id,
            self.config.recheck.every_days()
        )
        .execute(&mut *tx)
        .await?;
        audit::record(
            &mut tx,
            AuditRecord {
                actor: Some(actor),
                action: "credential.recheck_cleared",
                subject_type: "credential",
                subject_id: id,
                reason: None,
                details: serde_json::json!({ "flagged_as": flagged_as }),
            },
        )
        .await?;
        tx.commit().await?;
        self.credential(id).await
    }

    /// A verifier rejects a pending credential, saying why.
    pub async fn reject(
        &self,
        actor: Uuid,
        id: Uuid,
        reason: &str,
    ) -> Result<Credential, VerificationError> {
        let reason = required_reason(reason)?;
        let mut tx = self.pool.begin().await?;
        // Conditional on `pending`: of two racing decisions exactly one finds the row.
        let decided = sqlx::query!(
            "UPDATE credentials
             SET status = 'rejected', decided_by = $2, decided_at = now(), decision_reason = $3,
                 updated_at = now()
             WHERE id = $1 AND status = 'pending'
             RETURNING nurse_id, reason_code",
            id,
            actor,
            reason
        )
        .fetch_optional(&mut *tx)
        .await?;
        let Some(decided) = decided else {
            return Err(missing_or(&mut tx, id, VerificationError::AlreadyDecided).await);
        };
        let decision = Decision {
            actor,
            id,
            nurse_id: decided.nurse_id,
            status: CredentialStatus::Rejected,
            reason,
            flagged_as: decided.reason_code,
        };
        self.announce(tx, decision, Vec::new()).await
    }

    /// A verifier withdraws an approved credential. The nurse is told, offers she no
    /// longer qualifies for are withdrawn, and future bookings she may no longer work are
    /// cancelled and their shifts offered again, all with this decision.
    pub async fn revoke(
        &self,
        actor: Uuid,
        id: Uuid,
        reason: &str,
    ) -> Result<Credential, VerificationError> {
        let reason = required_reason(reason)?;
        let mut tx = self.pool.begin().await?;
        let revoked = sqlx::query!(
            "UPDATE credentials
             SET status = 'revoked', revoked_by = $2, revoked_at = now(), revoke_reason = $3,
                 flagged_at = NULL, recheck_due_at = NULL, updated_at = now()
             WHERE id = $1 AND status = 'approved'
             RETURNING nurse_id, reason_code",
            id,
            actor,
            reason
        )
        .fetch_optional(&mut *tx)
        .await?;
        let Some(revoked) = revoked else {
            return Err(missing_or(&mut tx, id, VerificationError::NotRevocable).await);
        };
        let released = self.on_ineligible.follow(&mut tx, revoked.nurse_id).await?;
        let decision = Decision {
            actor,
            id,
            nurse_id: revoked.nurse_id,
            status: CredentialStatus::Revoked,
            reason,
            flagged_as: revoked.reason_code,
        };
        self.announce(tx, decision, released).await
    }

    /// Audits a verifier's decision, commits it with the events its consequences
    /// recorded, and tells the nurse.
    async fn announce(
        &self,
        mut tx: Transaction<'_, Postgres>,
        decision: Decision<'_>,
        recorded: Vec<PublishedEvent>,
    ) -> Result<Credential, VerificationError> {
        let action = match decision.status {
            CredentialStatus::Revoked => "credential.revoked",
            _ => "credential.rejected",
        };
        audit::record(
            &mut tx,
            AuditRecord {
                actor: Some(decision.actor),
                action,
                subject_type: "credential",
                subject_id: decision.id,
                reason: Some(decision.reason),
                details: serde_json::json!({ "flagged_as": decision.flagged_as }),
            },
        )
        .await?;
        let event = DomainEvent::VerificationUpdated {
            nurse_id: decision.nurse_id,
            credential_id: decision.id,
            status: decision.status,
        };
        self.commit_with(tx, vec![event], recorded).await?;
        self.credential(decision.id).await
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

/// A verifier's rejection or revocation of one credential.
struct Decision<'a> {
    actor: Uuid,
    id: Uuid,
    nurse_id: Uuid,
    status: CredentialStatus,
    reason: &'a str,
    /// Why the automation had handed it over, if it had.
    flagged_as: Option<String>,
}

/// Why a conditional decision found no row: no such credential, or `otherwise`.
async fn missing_or(
    conn: &mut PgConnection,
    id: Uuid,
    otherwise: VerificationError,
) -> VerificationError {
    match sqlx::query_scalar!("SELECT status FROM credentials WHERE id = $1", id)
        .fetch_optional(conn)
        .await
    {
        Ok(None) => VerificationError::NotFound,
        Ok(Some(_)) => otherwise,
        Err(error) => error.into(),
    }
}
