//! Response bodies shared by several routes, with their OpenAPI schemas. Domain types
//! stay free of HTTP concerns; these are their wire form.

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use shiftwire_core::{
    Coordinates, CredentialKind, CredentialStatus, IdentityStatus, VerificationStatus,
};
use shiftwire_outbox::audit::AuditEntry;
use shiftwire_verification::{Credential, Identity, IdentitySummary, QueueCase, QueueItem};
use utoipa::ToSchema;
use uuid::Uuid;

/// Licences: `RN`, `LPN`, `CNA`, `NP`. Certifications: `BLS`, `ACLS`, `PALS`.
#[derive(ToSchema)]
#[allow(dead_code, clippy::upper_case_acronyms)]
pub enum CredentialKindName {
    RN,
    LPN,
    CNA,
    NP,
    BLS,
    ACLS,
    PALS,
}

/// Licences only: what a shift's role or a nurse's role filter takes.
#[derive(ToSchema)]
#[allow(dead_code, clippy::upper_case_acronyms)]
pub enum LicenceKindName {
    RN,
    LPN,
    CNA,
    NP,
}

#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)]
pub enum CredentialStatusName {
    Pending,
    Approved,
    Rejected,
    Expired,
    Revoked,
}

/// `none` before any submission; `pending` until decided; `verified` or `rejected`.
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)]
pub enum IdentityStatusName {
    None,
    Pending,
    Verified,
    Rejected,
}

/// `unverified`: no licence awaiting review or approved; `pending`: a licence awaits
/// review; `verified`: an approved, unexpired licence; `suspended` overrides all.
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)]
pub enum VerificationStatusName {
    Unverified,
    Pending,
    Verified,
    Suspended,
}

/// The body of a POST that takes none: leave it out, or send `{}`.
#[derive(ToSchema)]
#[schema(max_properties = 0)]
pub struct EmptyBody {}

/// WGS 84 coordinates.
#[derive(Serialize, ToSchema)]
pub struct CoordinatesBody {
    #[schema(example = 38.5703, minimum = -90, maximum = 90)]
    lat: f64,
    #[schema(example = -121.4466, minimum = -180, maximum = 180)]
    lon: f64,
}

impl From<Coordinates> for CoordinatesBody {
    fn from(c: Coordinates) -> Self {
        Self {
            lat: c.lat(),
            lon: c.lon(),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct CredentialBody {
    id: Uuid,
    #[schema(value_type = CredentialKindName)]
    kind: CredentialKind,
    number: String,
    /// Licences only.
    issuing_state: Option<String>,
    expires_on: NaiveDate,
    multistate: bool,
    #[schema(value_type = CredentialStatusName)]
    status: CredentialStatus,
    /// Why a person reviews it (set by the automatic check while pending), e.g.
    /// `name_mismatch`, `not_found`, `registry_unavailable`.
    reason_code: Option<String>,
    reason: Option<String>,
    /// Whether the automatic registry check has run.
    automatic_check_done: bool,
    decided_at: Option<DateTime<Utc>>,
    /// The verifier's reason, for a rejection.
    decision_reason: Option<String>,
    has_document: bool,
    /// Set while a re-check's finding (`reason_code: registry_changed`) waits for a
    /// verifier; the credential stays approved meanwhile.
    flagged_at: Option<DateTime<Utc>>,
    revoked_at: Option<DateTime<Utc>>,
    /// The verifier's reason, for a revocation.
    revoke_reason: Option<String>,
    submitted_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<Credential> for CredentialBody {
    fn from(c: Credential) -> Self {
        Self {
            id: c.id,
            kind: c.kind,
            number: c.number,
            issuing_state: c.issuing_state,
            expires_on: c.expires_on,
            multistate: c.multistate,
            status: c.status,
            reason_code: c.reason_code,
            reason: c.reason,
            automatic_check_done: c.checked,
            decided_at: c.decided_at,
            decision_reason: c.decision_reason,
            has_document: c.has_document,
            flagged_at: c.flagged_at,
            revoked_at: c.revoked_at,
            revoke_reason: c.revoke_reason,
            submitted_at: c.submitted_at,
            updated_at: c.updated_at,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct ProfileBody {
    /// The user id (the token's `sub`).
    id: Uuid,
    /// E.164.
    phone: String,
    name: Option<String>,
    home: Option<CoordinatesBody>,
    max_distance_km: f64,
    available: bool,
    #[schema(value_type = VerificationStatusName)]
    verification_status: VerificationStatus,
    identity: IdentitySummaryBody,
    credentials: Vec<CredentialBody>,
}

/// Where the nurse's identity check stands.
#[derive(Serialize, ToSchema)]
pub struct IdentitySummaryBody {
    #[schema(value_type = IdentityStatusName)]
    status: IdentityStatus,
    /// The legal name of a pending or verified identity (for a verified one, as the
    /// identity provider confirmed it).
    #[serde(skip_serializing_if = "Option::is_none")]
    legal_name: Option<String>,
}

impl From<IdentitySummary> for IdentitySummaryBody {
    fn from(i: IdentitySummary) -> Self {
        Self {
            status: i.status,
            legal_name: i.legal_name,
        }
    }
}

/// An identity submission as its nurse sees it right after submitting.
#[derive(Serialize, ToSchema)]
pub struct SubmittedIdentityBody {
    id: Uuid,
    #[schema(value_type = IdentityStatusName)]
    status: IdentityStatus,
    legal_name: String,
    submitted_at: DateTime<Utc>,
    /// With an external identity service: where the app sends the nurse to finish the
    /// check; `null` when a verifier decides.
    verification_url: Option<String>,
}

impl SubmittedIdentityBody {
    pub fn new(identity: Identity, verification_url: Option<String>) -> Self {
        Self {
            id: identity.id,
            status: identity.status,
            legal_name: identity.legal_name,
            submitted_at: identity.submitted_at,
            verification_url,
        }
    }
}

/// An identity submission as verifiers see it.
#[derive(Serialize, ToSchema)]
pub struct IdentityBody {
    id: Uuid,
    nurse_id: Uuid,
    #[schema(value_type = IdentityStatusName)]
    status: IdentityStatus,
    legal_name: String,
    date_of_birth: NaiveDate,
    /// `manual` or `external`.
    provider: String,
    /// Why it waits for a verifier: `identity_review`, `identity_provider_unavailable`.
    reason_code: Option<String>,
    reason: Option<String>,
    /// What the identity provider reported, where it differs from the submission (its
    /// word wins).
    provider_legal_name: Option<String>,
    provider_date_of_birth: Option<NaiveDate>,
    decided_at: Option<DateTime<Utc>>,
    decision_reason: Option<String>,
    /// Where to download the photo ID and the selfie (each view audited).
    id_document_url: String,
    selfie_url: String,
    submitted_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<Identity> for IdentityBody {
    fn from(i: Identity) -> Self {
        Self {
            id_document_url: format!("/v1/admin/identities/{}/id-document", i.id),
            selfie_url: format!("/v1/admin/identities/{}/selfie", i.id),
            id: i.id,
            nurse_id: i.nurse_id,
            status: i.status,
            legal_name: i.legal_name,
            date_of_birth: i.date_of_birth,
            provider: i.provider,
            reason_code: i.reason_code,
            reason: i.reason,
            provider_legal_name: i.provider_legal_name,
            provider_date_of_birth: i.provider_date_of_birth,
            decided_at: i.decided_at,
            decision_reason: i.decision_reason,
            submitted_at: i.submitted_at,
            updated_at: i.updated_at,
        }
    }
}

impl ProfileBody {
    /// A nurse's profile, from the rooms that hold its parts: her account (phone, name,
    /// suspension), where she is matched from (the marketplace), and her verification.
    pub async fn of(state: &crate::AppState, nurse_id: Uuid) -> Result<Self, crate::ApiError> {
        let account = state.accounts.nurse(nurse_id).await?;
        let matching = state.matching.profile(nurse_id).await?;
        let licences = state.verification.licence_statuses(nurse_id).await?;
        Ok(Self {
            id: account.id,
            phone: account.phone,
            name: account.name,
            home: matching.home.map(Into::into),
            max_distance_km: matching.max_distance_km,
            available: matching.available,
            verification_status: VerificationStatus::derive(
                account.suspended_at.is_some(),
                licences,
            ),
            identity: state.verification.identity_summary(nurse_id).await?.into(),
            credentials: state
                .verification
                .credentials_of(nurse_id)
                .await?
                .into_iter()
                .map(Into::into)
                .collect(),
        })
    }
}

#[derive(Serialize, ToSchema)]
pub struct NurseRef {
    id: Uuid,
    name: Option<String>,
}

/// What a queue item is about.
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)]
pub enum QueueItemKindName {
    Credential,
    Identity,
}

/// A case in the verifiers' queue, with what the automation knew.
#[derive(Serialize, ToSchema)]
pub struct QueueItemBody {
    /// `credential`: decide `credential`; `identity`: decide `identity`, or, when it is
    /// `null`, a nurse approved before identity checks who has none on file yet.
    #[schema(value_type = QueueItemKindName)]
    kind: &'static str,
    credential: Option<CredentialBody>,
    identity: Option<IdentityBody>,
    nurse: NurseRef,
    /// e.g. `name_mismatch`, `licence_in_use`, `registry_changed`, `identity_review`.
    reason_code: String,
    reason: Option<String>,
    /// Where to download the credential's document (audited), or `null` when none.
    document_url: Option<String>,
    submitted_at: DateTime<Utc>,
    /// When the case entered the queue (its order): the submission, or the re-check
    /// that flagged an approved credential.
    queued_at: DateTime<Utc>,
}

impl From<QueueItem> for QueueItemBody {
    fn from(item: QueueItem) -> Self {
        let nurse = NurseRef {
            id: item.nurse_id,
            name: item.nurse_name,
        };
        let (kind, credential, identity, document_url, submitted_at) = match item.case {
            QueueCase::Credential(c) => (
                "credential",
                Some(c.clone()),
                None,
                c.has_document
                    .then(|| format!("/v1/admin/credentials/{}/document", c.id)),
                c.submitted_at,
            ),
            QueueCase::Identity(i) => {
                let at = i.submitted_at;
                ("identity", None, Some(i), None, at)
            }
            QueueCase::IdentityMissing => ("identity", None, None, None, item.queued_at),
        };
        Self {
            kind,
            credential: credential.map(Into::into),
            identity: identity.map(Into::into),
            nurse,
            reason_code: item.reason_code,
            reason: item.reason,
            document_url,
            submitted_at,
            queued_at: item.queued_at,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct AuditEntryBody {
    id: Uuid,
    at: DateTime<Utc>,
    /// `null` for Shiftwire itself (the automatic check, the expiry sweeper).
    actor_id: Option<Uuid>,
    /// e.g. `credential.approved`, `document.viewed`, `nurse.suspended`.
    action: String,
    subject_type: String,
    subject_id: Uuid,
    reason: Option<String>,
    #[schema(value_type = Object)]
    details: serde_json::Value,
}

impl From<AuditEntry> for AuditEntryBody {
    fn from(e: AuditEntry) -> Self {
        Self {
            id: e.id,
            at: e.at,
            actor_id: e.actor_id,
            action: e.action,
            subject_type: e.subject_type,
            subject_id: e.subject_id,
            reason: e.reason,
            details: e.details,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct NurseAccountBody {
    id: Uuid,
    name: Option<String>,
    #[schema(value_type = VerificationStatusName)]
    verification_status: VerificationStatus,
    suspended_at: Option<DateTime<Utc>>,
    suspended_reason: Option<String>,
}

impl NurseAccountBody {
    /// A nurse's account with the verification status it results in.
    pub async fn of(
        state: &crate::AppState,
        account: shiftwire_auth::NurseAccount,
    ) -> Result<Self, crate::ApiError> {
        let licences = state.verification.licence_statuses(account.id).await?;
        Ok(Self {
            id: account.id,
            name: account.name,
            verification_status: VerificationStatus::derive(
                account.suspended_at.is_some(),
                licences,
            ),
            suspended_at: account.suspended_at,
            suspended_reason: account.suspended_reason,
        })
    }
}
