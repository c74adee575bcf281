use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use shiftwire_core::{Coordinates, CredentialKind, CredentialStatus, UsState, VerificationStatus};
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
    pub submitted_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
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
    pub submitted_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
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
            submitted_at: row.submitted_at,
            updated_at: row.updated_at,
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

/// A nurse's own profile.
#[derive(Debug, Clone, Serialize)]
pub struct NurseProfile {
    pub id: Uuid,
    pub phone: String,
    pub name: Option<String>,
    pub home: Option<Coordinates>,
    pub max_distance_km: f64,
    pub available: bool,
    pub verification_status: VerificationStatus,
    pub credentials: Vec<Credential>,
}

/// Changes to a profile; `None` leaves a field as it is, `home: Some(None)` clears it.
#[derive(Debug, Clone, Default)]
pub struct ProfilePatch {
    pub name: Option<String>,
    pub home: Option<Option<Coordinates>>,
    pub max_distance_km: Option<f64>,
    pub available: Option<bool>,
}

/// One case in the verifiers' queue.
#[derive(Debug, Clone)]
pub struct QueueItem {
    pub credential: Credential,
    pub nurse_name: Option<String>,
}

/// A document as downloaded by a verifier.
pub struct Document {
    pub content_type: String,
    pub bytes: bytes::Bytes,
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

/// An admin's view of a nurse after suspension or reinstatement.
#[derive(Debug, Clone, Serialize)]
pub struct NurseAccount {
    pub id: Uuid,
    pub name: Option<String>,
    pub verification_status: VerificationStatus,
    pub suspended_at: Option<DateTime<Utc>>,
    pub suspended_reason: Option<String>,
}
