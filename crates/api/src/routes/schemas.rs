//! Response bodies shared by several routes, with their OpenAPI schemas. Domain types
//! stay free of HTTP concerns; these are their wire form.

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use shiftwire_core::{Coordinates, CredentialKind, CredentialStatus, VerificationStatus};
use shiftwire_verification::{AuditEntry, Credential, NurseAccount, NurseProfile, QueueItem};
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

#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)]
pub enum CredentialStatusName {
    Pending,
    Approved,
    Rejected,
    Expired,
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
    credentials: Vec<CredentialBody>,
}

impl From<NurseProfile> for ProfileBody {
    fn from(p: NurseProfile) -> Self {
        Self {
            id: p.id,
            phone: p.phone,
            name: p.name,
            home: p.home.map(Into::into),
            max_distance_km: p.max_distance_km,
            available: p.available,
            verification_status: p.verification_status,
            credentials: p.credentials.into_iter().map(Into::into).collect(),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct NurseRef {
    id: Uuid,
    name: Option<String>,
}

/// A case in the verifiers' queue, with what the automatic check knew.
#[derive(Serialize, ToSchema)]
pub struct QueueItemBody {
    credential: CredentialBody,
    nurse: NurseRef,
    reason_code: Option<String>,
    reason: Option<String>,
    /// Where to download the document (audited), or `null` when none was uploaded.
    document_url: Option<String>,
    submitted_at: DateTime<Utc>,
}

impl From<QueueItem> for QueueItemBody {
    fn from(item: QueueItem) -> Self {
        let c = item.credential;
        Self {
            nurse: NurseRef {
                id: c.nurse_id,
                name: item.nurse_name,
            },
            reason_code: c.reason_code.clone(),
            reason: c.reason.clone(),
            document_url: c
                .has_document
                .then(|| format!("/v1/admin/credentials/{}/document", c.id)),
            submitted_at: c.submitted_at,
            credential: c.into(),
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

impl From<NurseAccount> for NurseAccountBody {
    fn from(a: NurseAccount) -> Self {
        Self {
            id: a.id,
            name: a.name,
            verification_status: a.verification_status,
            suspended_at: a.suspended_at,
            suspended_reason: a.suspended_reason,
        }
    }
}
