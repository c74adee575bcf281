//! Identity first: before a licence is matched against the registry, the nurse proves who
//! she is (legal name, date of birth, photo ID, selfie). A verifier decides (`manual`), or
//! an identity-verification service does and reports back through a signed webhook
//! (`external`). Approving an identity re-runs the registry check of the nurse's pending
//! licences against the verified legal name. Every view of an identity document is
//! audited.

use crate::{
    Document, Identity, IdentityDocument, IdentitySummary, NewIdentity, SubmittedIdentity,
    Verification, VerificationError,
    credentials::{required_reason, today},
    documents::{MAX_DOCUMENT_BYTES, sniff_document_type},
};
use async_trait::async_trait;
use bytes::Bytes;
use chrono::{DateTime, NaiveDate, Utc};
use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use shiftwire_core::{DomainEvent, IdentityStatus, new_id};
use shiftwire_outbox::audit::{self, AuditRecord};
use sqlx::PgConnection;
use std::time::Duration;
use uuid::Uuid;

/// Longest legal name.
const MAX_LEGAL_NAME: usize = 200;
/// How far a webhook's timestamp may be from our clock.
pub const WEBHOOK_TOLERANCE: Duration = Duration::from_secs(5 * 60);

/// What an identity provider needs to start a check.
pub struct IdentityRequest<'a> {
    pub reference: Uuid,
    pub legal_name: &'a str,
    pub date_of_birth: NaiveDate,
    pub id_document: (&'a Bytes, &'static str),
    pub selfie: (&'a Bytes, &'static str),
}

/// How a provider took a new submission.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdentityStarted {
    /// A verifier decides: the identity waits in the review queue.
    ForReview,
    /// The service has it; its result arrives at `POST /v1/webhooks/identity`. The app
    /// may send the nurse to `session_url` to finish there.
    Sent { session_url: Option<String> },
}

#[derive(Debug, thiserror::Error)]
#[error("identity provider unavailable: {0}")]
pub struct IdentityProviderError(pub String);

/// Who decides identities (`IDENTITY_PROVIDER`).
#[async_trait]
pub trait IdentityVerifier: Send + Sync {
    /// `manual` or `external`, as stored with each identity.
    fn provider(&self) -> &'static str;
    /// Hands a new submission to whoever decides it.
    async fn start(
        &self,
        request: &IdentityRequest<'_>,
    ) -> Result<IdentityStarted, IdentityProviderError>;
}

/// A verifier decides, with ID and selfie side by side.
pub struct ManualIdentity;

#[async_trait]
impl IdentityVerifier for ManualIdentity {
    fn provider(&self) -> &'static str {
        "manual"
    }

    async fn start(
        &self,
        _: &IdentityRequest<'_>,
    ) -> Result<IdentityStarted, IdentityProviderError> {
        Ok(IdentityStarted::ForReview)
    }
}

/// An identity-verification service: the submission is POSTed to it as
/// `multipart/form-data` (`reference`, `legal_name`, `date_of_birth`, `id_document`,
/// `selfie`); it answers 2xx, optionally `{ "session_url": ... }`, and later calls the
/// signed webhook with its decision.
pub struct ExternalIdentity {
    client: reqwest::Client,
    url: reqwest::Url,
}

impl ExternalIdentity {
    pub fn new(url: reqwest::Url, timeout: Duration) -> Result<Self, IdentityProviderError> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .build()
            .map_err(|e| IdentityProviderError(e.to_string()))?;
        Ok(Self { client, url })
    }
}

#[derive(Deserialize)]
struct SessionAnswer {
    session_url: Option<String>,
}

#[async_trait]
impl IdentityVerifier for ExternalIdentity {
    fn provider(&self) -> &'static str {
        "external"
    }

    async fn start(
        &self,
        request: &IdentityRequest<'_>,
    ) -> Result<IdentityStarted, IdentityProviderError> {
        use reqwest::multipart::{Form, Part};
        let part = |(bytes, mime): (&Bytes, &'static str), name: &'static str| {
            Part::bytes(bytes.to_vec())
                .file_name(name)
                .mime_str(mime)
                .map_err(|e| IdentityProviderError(e.to_string()))
        };
        let form = Form::new()
            .text("reference", request.reference.to_string())
            .text("legal_name", request.legal_name.to_owned())
            .text("date_of_birth", request.date_of_birth.to_string())
            .part("id_document", part(request.id_document, "id-document")?)
            .part("selfie", part(request.selfie, "selfie")?);
        let response = self
            .client
            .post(self.url.clone())
            .multipart(form)
            .send()
            .await
            .map_err(|e| IdentityProviderError(e.without_url().to_string()))?;
        if !response.status().is_success() {
            return Err(IdentityProviderError(format!(
                "the identity provider answered {}",
                response.status()
            )));
        }
        let answer: Option<SessionAnswer> = response.json().await.ok();
        Ok(IdentityStarted::Sent {
            session_url: answer
                .and_then(|a| a.session_url)
                .filter(|u| u.starts_with("https://") && u.len() <= 2000),
        })
    }
}

/// Why a webhook delivery was refused. All answer 401 and change nothing.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum WebhookSignatureError {
    #[error("the Shiftwire-Signature header is missing or malformed")]
    Malformed,
    #[error("the signature's timestamp is more than 5 minutes from now")]
    Stale,
    #[error("the signature does not match")]
    Mismatch,
}

/// Checks `Shiftwire-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "t.body">` in
/// constant time, within [`WEBHOOK_TOLERANCE`] of `now` either way. Several `v1` entries
/// (a secret being rotated) pass if any matches.
pub fn verify_webhook_signature(
    secret: &[u8],
    header: &str,
    body: &[u8],
    now: i64,
) -> Result<(), WebhookSignatureError> {
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for item in header.split(',') {
        match item.trim().split_once('=') {
            Some(("t", value)) => timestamp = value.parse::<i64>().ok(),
            Some(("v1", value)) => signatures.push(value),
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or(WebhookSignatureError::Malformed)?;
    if signatures.is_empty() {
        return Err(WebhookSignatureError::Malformed);
    }
    let tolerance = i64::try_from(WEBHOOK_TOLERANCE.as_secs()).unwrap_or(300);
    if now.abs_diff(timestamp) > tolerance.unsigned_abs() {
        return Err(WebhookSignatureError::Stale);
    }
    for signature in signatures {
        let Some(expected) = decode_hex(signature) else {
            continue;
        };
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else {
            return Err(WebhookSignatureError::Mismatch);
        };
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        // `verify_slice` compares in constant time.
        if mac.verify_slice(&expected).is_ok() {
            return Ok(());
        }
    }
    Err(WebhookSignatureError::Mismatch)
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if text.len() != 64 || !text.is_ascii() {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).ok())
        .collect()
}

/// The body of a webhook delivery from the identity provider.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderResult {
    /// The identity id Shiftwire sent as `reference`.
    pub reference: Uuid,
    pub status: ProviderDecision,
    pub legal_name: String,
    pub date_of_birth: NaiveDate,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProviderDecision {
    Verified,
    Rejected,
}

/// Whether applying a result changed anything (a replayed delivery does not).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    Changed(IdentityStatus),
    AlreadyDecided,
}

/// A legal name as submitted: trimmed, inner spaces collapsed, 1 to 200 characters of
/// letters, spaces and the marks names use (`.`, `'`, `’`, `-`, `,`).
fn legal_name(raw: &str) -> Result<String, VerificationError> {
    let name = raw.split_whitespace().collect::<Vec<_>>().join(" ");
    let allowed = |c: char| c.is_alphabetic() || c == ' ' || ".'’-,".contains(c);
    let marks_only = |c: char| unicode_normalization::char::is_combining_mark(c);
    if name.is_empty()
        || name.chars().count() > MAX_LEGAL_NAME
        || !name.chars().any(char::is_alphabetic)
        || !name.chars().all(|c| allowed(c) || marks_only(c))
    {
        return Err(VerificationError::InvalidIdentity(
            "legal_name must be 1 to 200 characters of letters, spaces and . ' - ,".into(),
        ));
    }
    Ok(name)
}

fn check_age(date_of_birth: NaiveDate, today: NaiveDate) -> Result<(), VerificationError> {
    match today.years_since(date_of_birth) {
        Some(age) if (18..=100).contains(&age) => Ok(()),
        _ => Err(VerificationError::InvalidIdentity(
            "date_of_birth must make the nurse 18 to 100 years old".into(),
        )),
    }
}

fn check_document(bytes: &Bytes, images_only: bool) -> Result<&'static str, VerificationError> {
    let refuse = || {
        VerificationError::UnsupportedIdentityDocument(if images_only {
            "the selfie must be a JPEG or PNG image"
        } else {
            "the photo ID must be a PDF, JPEG or PNG file"
        })
    };
    if bytes.is_empty() || bytes.len() > MAX_DOCUMENT_BYTES {
        return Err(refuse());
    }
    match sniff_document_type(bytes) {
        Some("application/pdf") if images_only => Err(refuse()),
        Some(kind) => Ok(kind),
        None => Err(refuse()),
    }
}

async fn sha256(bytes: &Bytes) -> Result<Vec<u8>, VerificationError> {
    let hashed = bytes.clone();
    tokio::task::spawn_blocking(move || Sha256::digest(&hashed).to_vec())
        .await
        .map_err(|e| VerificationError::Internal(e.to_string()))
}

struct IdentityRow {
    id: Uuid,
    nurse_id: Uuid,
    legal_name: String,
    date_of_birth: NaiveDate,
    status: String,
    provider: String,
    reason_code: Option<String>,
    reason: Option<String>,
    provider_legal_name: Option<String>,
    provider_date_of_birth: Option<NaiveDate>,
    id_document_type: String,
    selfie_type: String,
    decided_at: Option<DateTime<Utc>>,
    decision_reason: Option<String>,
    submitted_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl TryFrom<IdentityRow> for Identity {
    type Error = VerificationError;

    fn try_from(row: IdentityRow) -> Result<Self, Self::Error> {
        Ok(Self {
            status: row
                .status
                .parse()
                .map_err(|_| VerificationError::Internal("stored identity status".into()))?,
            id: row.id,
            nurse_id: row.nurse_id,
            legal_name: row.legal_name,
            date_of_birth: row.date_of_birth,
            provider: row.provider,
            reason_code: row.reason_code,
            reason: row.reason,
            provider_legal_name: row.provider_legal_name,
            provider_date_of_birth: row.provider_date_of_birth,
            id_document_type: row.id_document_type,
            selfie_type: row.selfie_type,
            decided_at: row.decided_at,
            decision_reason: row.decision_reason,
            submitted_at: row.submitted_at,
            updated_at: row.updated_at,
        })
    }
}

/// The verified legal name of a nurse, if she has a verified identity.
pub(crate) async fn verified_legal_name(
    conn: &mut PgConnection,
    nurse_id: Uuid,
) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar!(
        r#"SELECT COALESCE(provider_legal_name, legal_name) AS "name!" FROM identities
           WHERE nurse_id = $1 AND status = 'verified'"#,
        nurse_id
    )
    .fetch_optional(conn)
    .await
}

impl Verification {
    /// Records a nurse's identity submission (replacing a pending one) and hands it to
    /// the identity provider. With `external`, a provider that fails or does not answer
    /// leaves the identity pending and puts it in the verifiers' queue instead.
    pub async fn submit_identity(
        &self,
        nurse_id: Uuid,
        new: NewIdentity,
    ) -> Result<SubmittedIdentity, VerificationError> {
        let name = legal_name(&new.legal_name)?;
        check_age(new.date_of_birth, today())?;
        let id_type = check_document(&new.id_document, false)?;
        let selfie_type = check_document(&new.selfie, true)?;
        let (id_hash, selfie_hash) = (sha256(&new.id_document).await?, sha256(&new.selfie).await?);
        let (id_key, selfie_key) = (new_id(), new_id());
        self.documents.put(id_key, new.id_document.clone()).await?;
        if let Err(error) = self.documents.put(selfie_key, new.selfie.clone()).await {
            let _ = self.documents.delete(id_key).await;
            return Err(error.into());
        }
        let id = new_id();
        let provider = self.identity.provider();
        let stored = self
            .insert_identity(
                nurse_id,
                id,
                &name,
                new.date_of_birth,
                provider,
                [
                    (id_key, id_type, id_hash),
                    (selfie_key, selfie_type, selfie_hash),
                ],
            )
            .await;
        let superseded = match stored {
            Ok(superseded) => superseded,
            Err(error) => {
                let _ = self.documents.delete(id_key).await;
                let _ = self.documents.delete(selfie_key).await;
                return Err(error);
            }
        };
        // Nobody will look at a replaced submission's images again.
        for key in superseded {
            if let Err(error) = self.documents.delete(key).await {
                tracing::warn!(%error, "a superseded identity document was not deleted");
            }
        }
        let request = IdentityRequest {
            reference: id,
            legal_name: &name,
            date_of_birth: new.date_of_birth,
            id_document: (&new.id_document, id_type),
            selfie: (&new.selfie, selfie_type),
        };
        let started = self.identity.start(&request).await;
        let verification_url = match started {
            Ok(IdentityStarted::ForReview) => {
                self.queue_identity(id, "identity_review", "Compare the photo ID with the selfie and the legal name and date of birth given.")
                    .await?;
                None
            }
            Ok(IdentityStarted::Sent { session_url }) => session_url,
            Err(error) => {
                tracing::warn!(%error, identity_id = %id, "identity provider failed; queued for a verifier");
                self.queue_identity(
                    id,
                    "identity_provider_unavailable",
                    "The identity service could not take this submission; decide it here.",
                )
                .await?;
                None
            }
        };
        Ok(SubmittedIdentity {
            identity: self.identity_by_id(id).await?,
            verification_url,
        })
    }

    /// Inserts the identity, superseding a pending one; returns the superseded
    /// submission's document keys.
    async fn insert_identity(
        &self,
        nurse_id: Uuid,
        id: Uuid,
        name: &str,
        date_of_birth: NaiveDate,
        provider: &str,
        [
            (id_key, id_type, id_hash),
            (selfie_key, selfie_type, selfie_hash),
        ]: [(Uuid, &str, Vec<u8>); 2],
    ) -> Result<Vec<Uuid>, VerificationError> {
        let mut tx = self.pool.begin().await?;
        // Serialise one nurse's submissions.
        crate::profile::lock_nurse(&mut tx, nurse_id).await?;
        let verified = sqlx::query_scalar!(
            r#"SELECT EXISTS (SELECT 1 FROM identities WHERE nurse_id = $1 AND status = 'verified') AS "v!""#,
            nurse_id
        )
        .fetch_one(&mut *tx)
        .await?;
        if verified {
            return Err(VerificationError::IdentityAlreadyVerified);
        }
        let superseded = sqlx::query!(
            "UPDATE identities SET status = 'superseded', updated_at = now()
             WHERE nurse_id = $1 AND status = 'pending'
             RETURNING id, id_document_key, selfie_key",
            nurse_id
        )
        .fetch_all(&mut *tx)
        .await?;
        sqlx::query!(
            "INSERT INTO identities (id, nurse_id, legal_name, date_of_birth, provider,
                                     id_document_key, id_document_type, id_document_sha256,
                                     selfie_key, selfie_type, selfie_sha256)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
            id,
            nurse_id,
            name,
            date_of_birth,
            provider,
            id_key.to_string(),
            id_type,
            id_hash,
            selfie_key.to_string(),
            selfie_type,
            selfie_hash
        )
        .execute(&mut *tx)
        .await?;
        audit::record(
            &mut tx,
            AuditRecord {
                actor: Some(nurse_id),
                action: "identity.submitted",
                subject_type: "identity",
                subject_id: id,
                reason: None,
                details: serde_json::json!({
                    "provider": provider,
                    "replaces": superseded.iter().map(|s| s.id).collect::<Vec<_>>(),
                }),
            },
        )
        .await?;
        let event = DomainEvent::IdentityUpdated {
            nurse_id,
            identity_id: id,
            status: IdentityStatus::Pending,
        };
        self.commit(tx, vec![event]).await?;
        Ok(superseded
            .into_iter()
            .flat_map(|s| [s.id_document_key, s.selfie_key])
            .filter_map(|key| Uuid::parse_str(&key).ok())
            .collect())
    }

    /// Puts a pending identity in the verifiers' queue with `reason_code`.
    async fn queue_identity(
        &self,
        id: Uuid,
        reason_code: &str,
        reason: &str,
    ) -> Result<(), VerificationError> {
        sqlx::query!(
            "UPDATE identities SET reason_code = $2, reason = $3, updated_at = now()
             WHERE id = $1 AND status = 'pending'",
            id,
            reason_code,
            reason
        )
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn identities_where(
        &self,
        id: Option<Uuid>,
        nurse_id: Option<Uuid>,
    ) -> Result<Vec<Identity>, VerificationError> {
        let rows = sqlx::query_as!(
            IdentityRow,
            "SELECT id, nurse_id, legal_name, date_of_birth, status, provider, reason_code, reason,
                    provider_legal_name, provider_date_of_birth, id_document_type, selfie_type,
                    decided_at, decision_reason, submitted_at, updated_at
             FROM identities
             WHERE ($1::uuid IS NULL OR id = $1) AND ($2::uuid IS NULL OR nurse_id = $2)
               AND status <> 'superseded'
             ORDER BY submitted_at DESC, id DESC",
            id,
            nurse_id
        )
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(TryInto::try_into).collect()
    }

    /// One identity submission (superseded ones are gone).
    pub async fn identity_by_id(&self, id: Uuid) -> Result<Identity, VerificationError> {
        self.identities_where(Some(id), None)
            .await?
            .pop()
            .ok_or(VerificationError::NotFound)
    }

    /// Identities by id, for the queue.
    pub(crate) async fn identities_by_ids(
        &self,
        ids: &[Uuid],
    ) -> Result<Vec<Identity>, VerificationError> {
        let rows = sqlx::query_as!(
            IdentityRow,
            "SELECT id, nurse_id, legal_name, date_of_birth, status, provider, reason_code, reason,
                    provider_legal_name, provider_date_of_birth, id_document_type, selfie_type,
                    decided_at, decision_reason, submitted_at, updated_at
             FROM identities WHERE id = ANY($1)",
            ids
        )
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(TryInto::try_into).collect()
    }

    /// The identity that counts for a nurse: verified, else pending, else the latest
    /// rejected one; `None` before any submission.
    pub async fn current_identity(
        &self,
        nurse_id: Uuid,
    ) -> Result<Option<Identity>, VerificationError> {
        let identities = self.identities_where(None, Some(nurse_id)).await?;
        let rank = |i: &Identity| match i.status {
            IdentityStatus::Verified => 0,
            IdentityStatus::Pending => 1,
            IdentityStatus::Rejected | IdentityStatus::None => 2,
        };
        // Newest first already; the first of the best rank wins.
        Ok(identities.into_iter().min_by_key(rank))
    }

    /// The identity line of a nurse's profile.
    pub async fn identity_summary(
        &self,
        nurse_id: Uuid,
    ) -> Result<IdentitySummary, VerificationError> {
        Ok(match self.current_identity(nurse_id).await? {
            None => IdentitySummary {
                status: IdentityStatus::None,
                legal_name: None,
            },
            Some(identity) => IdentitySummary {
                status: identity.status,
                legal_name: match identity.status {
                    IdentityStatus::Verified => Some(identity.effective_legal_name().to_owned()),
                    IdentityStatus::Pending => Some(identity.legal_name.clone()),
                    IdentityStatus::Rejected | IdentityStatus::None => None,
                },
            },
        })
    }

    /// A verifier approves a pending identity.
    pub async fn approve_identity(
        &self,
        actor: Uuid,
        id: Uuid,
    ) -> Result<Identity, VerificationError> {
        self.decide_identity(Some(actor), id, IdentityStatus::Verified, None, None)
            .await
    }

    /// A verifier rejects a pending identity, saying why (the nurse sees the reason).
    pub async fn reject_identity(
        &self,
        actor: Uuid,
        id: Uuid,
        reason: &str,
    ) -> Result<Identity, VerificationError> {
        let reason = required_reason(reason)?;
        self.decide_identity(
            Some(actor),
            id,
            IdentityStatus::Rejected,
            Some(reason),
            None,
        )
        .await
    }

    /// Applies the identity provider's signed result. A delivery for an identity that is
    /// no longer pending (a replay, or a decision already taken) changes nothing.
    pub async fn apply_provider_result(
        &self,
        result: &ProviderResult,
    ) -> Result<Applied, VerificationError> {
        let identity = self.identity_by_id(result.reference).await?;
        if identity.provider != "external" {
            // Only identities handed to the service are its to decide.
            return Err(VerificationError::NotFound);
        }
        if identity.status != IdentityStatus::Pending {
            return Ok(Applied::AlreadyDecided);
        }
        let (status, reason) = match result.status {
            ProviderDecision::Verified => (IdentityStatus::Verified, None),
            ProviderDecision::Rejected => (
                IdentityStatus::Rejected,
                Some("The identity service could not confirm this identity."),
            ),
        };
        match self
            .decide_identity(None, identity.id, status, reason, Some(result))
            .await
        {
            Ok(_) => Ok(Applied::Changed(status)),
            Err(VerificationError::AlreadyDecided) => Ok(Applied::AlreadyDecided),
            Err(error) => Err(error),
        }
    }

    async fn decide_identity(
        &self,
        actor: Option<Uuid>,
        id: Uuid,
        status: IdentityStatus,
        reason: Option<&str>,
        provider: Option<&ProviderResult>,
    ) -> Result<Identity, VerificationError> {
        let mut tx = self.pool.begin().await?;
        let provider_name = provider.map(|p| {
            p.legal_name
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
        });
        // Conditional on `pending`: of two racing decisions (or a replayed webhook)
        // exactly one finds the row.
        let decided = sqlx::query!(
            "UPDATE identities SET status = $2, decided_by = $3, decided_at = now(),
                 decision_reason = $4,
                 provider_legal_name = CASE WHEN $5::text IS NOT NULL AND $5 <> legal_name
                                            THEN $5 END,
                 provider_date_of_birth = CASE WHEN $6::date IS NOT NULL AND $6 <> date_of_birth
                                               THEN $6 END,
                 updated_at = now()
             WHERE id = $1 AND status = 'pending'
             RETURNING nurse_id, legal_name, provider_legal_name",
            id,
            status.as_str(),
            actor,
            reason,
            provider_name.as_deref().filter(|n| !n.is_empty()),
            provider.map(|p| p.date_of_birth)
        )
        .fetch_optional(&mut *tx)
        .await?;
        let Some(decided) = decided else {
            let exists = sqlx::query_scalar!(
                r#"SELECT count(*) AS "n!" FROM identities WHERE id = $1 AND status <> 'superseded'"#,
                id
            )
            .fetch_one(&mut *tx)
            .await?;
            return Err(if exists == 0 {
                VerificationError::NotFound
            } else {
                VerificationError::AlreadyDecided
            });
        };
        let rechecked = if status == IdentityStatus::Verified {
            // The registry check of every pending licence runs again, now against the
            // verified legal name.
            sqlx::query!(
                "UPDATE credentials SET checked_at = NULL, reason_code = NULL, reason = NULL,
                                        updated_at = now()
                 WHERE nurse_id = $1 AND status = 'pending'
                   AND kind IN ('RN', 'LPN', 'CNA', 'NP')",
                decided.nurse_id
            )
            .execute(&mut *tx)
            .await?
            .rows_affected()
        } else {
            0
        };
        let action = match (status, actor) {
            (IdentityStatus::Verified, Some(_)) => "identity.approved",
            (IdentityStatus::Verified, None) => "identity.verified_by_provider",
            (_, Some(_)) => "identity.rejected",
            (_, None) => "identity.rejected_by_provider",
        };
        audit::record(
            &mut tx,
            AuditRecord {
                actor,
                action,
                subject_type: "identity",
                subject_id: id,
                reason,
                details: serde_json::json!({
                    "provider_legal_name_differs": decided.provider_legal_name.is_some(),
                    "licences_rechecked": rechecked,
                }),
            },
        )
        .await?;
        let event = DomainEvent::IdentityUpdated {
            nurse_id: decided.nurse_id,
            identity_id: id,
            status,
        };
        self.commit(tx, vec![event]).await?;
        if rechecked > 0 {
            self.wake_checker.notify_one();
        }
        self.identity_by_id(id).await
    }

    /// A verifier opens the photo ID or the selfie of an identity; the view is audited.
    pub async fn identity_document(
        &self,
        actor: Uuid,
        id: Uuid,
        which: IdentityDocument,
    ) -> Result<Document, VerificationError> {
        let row = sqlx::query!(
            "SELECT id_document_key, id_document_type, selfie_key, selfie_type FROM identities
             WHERE id = $1 AND status <> 'superseded'",
            id
        )
        .fetch_optional(&self.pool)
        .await?
        .ok_or(VerificationError::NotFound)?;
        let (key, content_type) = match which {
            IdentityDocument::IdDocument => (row.id_document_key, row.id_document_type),
            IdentityDocument::Selfie => (row.selfie_key, row.selfie_type),
        };
        let key = Uuid::parse_str(&key).map_err(|e| VerificationError::Internal(e.to_string()))?;
        let bytes = self.documents.get(key).await?;
        let mut tx = self.pool.begin().await?;
        audit::record(
            &mut tx,
            AuditRecord {
                actor: Some(actor),
                action: "identity.document_viewed",
                subject_type: "identity",
                subject_id: id,
                reason: None,
                details: serde_json::json!({ "document": which.as_str() }),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(Document {
            content_type,
            bytes,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sign(secret: &[u8], t: i64, body: &[u8]) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("key");
        mac.update(format!("{t}.").as_bytes());
        mac.update(body);
        let hex: String = mac
            .finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        format!("t={t},v1={hex}")
    }

    #[test]
    fn a_signature_is_checked_against_the_body_and_the_clock() {
        let secret = b"whsec-0123456789abcdef0123456789abcdef";
        let body = br#"{"reference":"x","status":"verified"}"#;
        let now = 1_800_000_000;
        let header = sign(secret, now - 60, body);
        assert_eq!(verify_webhook_signature(secret, &header, body, now), Ok(()));
        assert_eq!(
            verify_webhook_signature(secret, &header, b"{}", now),
            Err(WebhookSignatureError::Mismatch)
        );
        assert_eq!(
            verify_webhook_signature(b"another secret", &header, body, now),
            Err(WebhookSignatureError::Mismatch)
        );
        assert_eq!(
            verify_webhook_signature(secret, &sign(secret, now - 301, body), body, now),
            Err(WebhookSignatureError::Stale)
        );
        assert_eq!(
            verify_webhook_signature(secret, &sign(secret, now + 301, body), body, now),
            Err(WebhookSignatureError::Stale)
        );
        for malformed in ["", "t=1", "v1=ab", "t=x,v1=00", "garbage"] {
            assert_eq!(
                verify_webhook_signature(secret, malformed, body, now),
                Err(WebhookSignatureError::Malformed),
                "{malformed}"
            );
        }
        // A rotated secret: the second signature matches.
        let fresh = sign(secret, now, body);
        let hex = fresh.rsplit_once("v1=").map(|(_, h)| h).expect("hex");
        let rotated = format!("{},v1={hex}", sign(b"old", now, body));
        assert_eq!(
            verify_webhook_signature(secret, &rotated, body, now),
            Ok(())
        );
    }

    #[test]
    fn legal_names_and_ages_are_checked() {
        assert_eq!(
            legal_name("  Amara   Nneka Okafor ").ok().as_deref(),
            Some("Amara Nneka Okafor")
        );
        assert!(legal_name("Siobhán O’Brien-Ní Dhuinn").is_ok());
        for bad in ["", "   ", "R2-D2", "Amara\u{0}", "--", &"a".repeat(201)] {
            assert!(legal_name(bad).is_err(), "{bad:?}");
        }
        let today: NaiveDate = "2026-11-29".parse().expect("date");
        let date = |s: &str| s.parse::<NaiveDate>().expect("date");
        assert!(check_age(date("2008-11-29"), today).is_ok(), "18 today");
        assert!(check_age(date("2008-11-30"), today).is_err(), "18 tomorrow");
        assert!(check_age(date("1926-11-29"), today).is_ok(), "100");
        assert!(check_age(date("1925-11-28"), today).is_err(), "101");
    }
}
