use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use shiftwire_core::{CredentialKind, CredentialStatus, IdentityStatus, UsState};
use uuid::Uuid;

/// A licence or certification as its nurse and the verifiers see it.
#[derive(Debug, Clone, Serialize)]
pub struct Credential {
    pub id: Uuid,
    pub nurse_id: Uuid,
    pub kind: CredentialKind,
    pub number: String,
    pub issuing_state: Option<String>,
    pub expires_on: NaiveDate,
    pub multistate: bool,
    pub status: CredentialStatus,
    /// Why a person must look at it (set by the automatic check), while pending.
    pub reason_code: Option<String>,
    pub reason: Option<String>,
    /// Whether the automatic check has run.
    pub checked: bool,
    pub decided_at: Option<DateTime<Utc>>,
    /// The verifier's reason, for a rejection.
    pub decision_reason: Option<String>,
    pub has_document: bool,
    /// When a re-check found the registry's record changed (the credential stays
    /// approved until a verifier decides); `reason_code` is then `registry_changed`.
    pub flagged_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub revoke_reason: Option<String>,
    pub submitted_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// What the registry said when it approved the credential (the console shows it).
    #[serde(skip)]
    pub evidence: Option<serde_json::Value>,
    /// The uploaded document's type, when there is one (the console shows it inline).
    #[serde(skip)]
    pub document_type: Option<String>,
}

/// A credential row as stored; converted to [`Credential`] after its enums are checked.
pub(crate) struct CredentialRow {
    pub id: Uuid,
    pub nurse_id: Uuid,
    pub kind: String,
    pub number: String,
    pub issuing_state: Option<String>,
    pub expires_on: NaiveDate,
    pub multistate: bool,
    pub status: String,
    pub reason_code: Option<String>,
    pub reason: Option<String>,
    pub checked: bool,
    pub decided_at: Option<DateTime<Utc>>,
    pub decision_reason: Option<String>,
    pub has_document: bool,
    pub flagged_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub revoke_reason: Option<String>,
    pub submitted_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub evidence: Option<serde_json::Value>,
    pub document_type: Option<String>,
}

impl TryFrom<CredentialRow> for Credential {
    type Error = crate::VerificationError;

    fn try_from(row: CredentialRow) -> Result<Self, Self::Error> {
        let bad =
            |what: &str| crate::VerificationError::Internal(format!("stored {what} is unknown"));
        Ok(Self {
            kind: row.kind.parse().map_err(|_| bad("kind"))?,
            status: row.status.parse().map_err(|_| bad("status"))?,
            id: row.id,
            nurse_id: row.nurse_id,
            number: row.number,
            issuing_state: row.issuing_state,
            expires_on: row.expires_on,
            multistate: row.multistate,
            reason_code: row.reason_code,
            reason: row.reason,
            checked: row.checked,
            decided_at: row.decided_at,
            decision_reason: row.decision_reason,
            has_document: row.has_document,
            flagged_at: row.flagged_at,
            revoked_at: row.revoked_at,
            revoke_reason: row.revoke_reason,
            submitted_at: row.submitted_at,
            updated_at: row.updated_at,
            evidence: row.evidence,
            document_type: row.document_type,
        })
    }
}

/// What a nurse submits.
#[derive(Debug, Clone)]
pub struct NewCredential {
    pub kind: CredentialKind,
    pub number: String,
    pub issuing_state: Option<UsState>,
    pub expires_on: NaiveDate,
    pub multistate: bool,
}

/// Where a nurse's identity stands, as her profile shows it.
#[derive(Debug, Clone, Serialize)]
pub struct IdentitySummary {
    pub status: IdentityStatus,
    /// The legal name of the identity that counts (pending or verified; for a verified
    /// one, the identity provider's if it differed).
    pub legal_name: Option<String>,
}

/// A nurse's identity submission.
#[derive(Debug, Clone, Serialize)]
pub struct Identity {
    pub id: Uuid,
    pub nurse_id: Uuid,
    /// As submitted by the nurse.
    pub legal_name: String,
    pub date_of_birth: NaiveDate,
    pub status: IdentityStatus,
    /// `manual` or `external`.
    pub provider: String,
    /// Why it waits for a verifier: `identity_review` or `identity_provider_unavailable`.
    pub reason_code: Option<String>,
    pub reason: Option<String>,
    /// What the identity provider reported, where it differs from the submission (the
    /// provider's word wins).
    pub provider_legal_name: Option<String>,
    pub provider_date_of_birth: Option<NaiveDate>,
    pub id_document_type: String,
    pub selfie_type: String,
    pub decided_at: Option<DateTime<Utc>>,
    pub decision_reason: Option<String>,
    pub submitted_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Identity {
    /// The name the registry is matched against once verified.
    pub fn effective_legal_name(&self) -> &str {
        self.provider_legal_name
            .as_deref()
            .unwrap_or(&self.legal_name)
    }
}

/// What a nurse submits to prove who she is.
#[derive(Debug, Clone)]
pub struct NewIdentity {
    pub legal_name: String,
    pub date_of_birth: NaiveDate,
    pub id_document: bytes::Bytes,
    pub selfie: bytes::Bytes,
}

/// A submitted identity and, with an external provider, where the app sends the nurse
/// to finish the check.
#[derive(Debug, Clone)]
pub struct SubmittedIdentity {
    pub identity: Identity,
    pub verification_url: Option<String>,
}

/// What a case in the verifiers' queue is about.
#[derive(Debug, Clone)]
pub enum QueueCase {
    /// A pending credential the automatic check handed over, or an approved one a
    /// re-check flagged (`registry_changed`).
    Credential(Credential),
    /// A pending identity for a verifier to decide.
    Identity(Identity),
    /// A nurse approved before identity checks existed, with no identity on file.
    IdentityMissing,
}

/// One case in the verifiers' queue, with the reason a person must look at it.
#[derive(Debug, Clone)]
pub struct QueueItem {
    pub case: QueueCase,
    pub nurse_id: Uuid,
    /// Her display name: the accounts own it, so `api` fills it in.
    pub nurse_name: Option<String>,
    pub reason_code: String,
    pub reason: Option<String>,
    /// When the case entered the queue (submission, or the re-check that flagged it).
    pub queued_at: DateTime<Utc>,
    /// The tie-breaker of the queue's order and cursor.
    pub key: Uuid,
}

/// Which cases to list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueKind {
    Credential,
    Identity,
}

/// One of the two images of an identity submission.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdentityDocument {
    IdDocument,
    Selfie,
}

impl IdentityDocument {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::IdDocument => "id_document",
            Self::Selfie => "selfie",
        }
    }
}

/// A document as downloaded by a verifier.
pub struct Document {
    pub content_type: String,
    pub bytes: bytes::Bytes,
}
